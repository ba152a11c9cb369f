"""Reads over the trigger queue for the engine, the admin and the API."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from profiles.models import TelegramUser

from .models import ProactiveTrigger

Status = ProactiveTrigger.Status
OPEN_STATUSES = (Status.PENDING, Status.SENDING)


def eligible_members() -> QuerySet[TelegramUser]:
    """Members who may receive proactive messages.

    The filter is exactly the predicate of the partial index ``member_proactive_idx``, so
    PostgreSQL answers ranges over ``last_user_message_at`` from that index alone.
    """
    return TelegramUser.objects.filter(proactive_enabled=True, is_paused=False, is_blocked=False,
                                       crisis_flag=False, consent_at__isnull=False)


def triggers_list(*, user_id: int | None = None, status: str | None = None,
                  kind: str | None = None) -> QuerySet[ProactiveTrigger]:
    rows = ProactiveTrigger.objects.order_by("-scheduled_for", "-id")
    if user_id is not None:
        rows = rows.filter(user_id=user_id)
    if status:
        rows = rows.filter(status=status)
    if kind:
        rows = rows.filter(kind=kind)
    return rows


def triggers_due(*, now: datetime, limit: int, ids: list[int] | None = None) -> list[ProactiveTrigger]:
    """Pending triggers whose time has come, oldest first (the partial index ``trigger_due_idx``)."""
    rows = ProactiveTrigger.objects.filter(status=Status.PENDING, scheduled_for__lte=now)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    return list(rows.select_related("user").order_by("scheduled_for", "id")[:limit])
