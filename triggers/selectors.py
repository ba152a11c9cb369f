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


def trigger_progress(trigger: ProactiveTrigger, *, now: datetime | None = None) -> str:
    """What happens to this trigger next, or why it does not move, in words for its admin page."""
    from django.utils import timezone

    from relove.core import liveness
    from relove.core.admin_time import admin_datetime
    from relove.core.staff_errors import WORKER_DOWN

    from .models import ProactivityConfig

    now = now or timezone.now()
    if trigger.status == Status.SENT:
        return "Отправлено."
    if trigger.status in (Status.FAILED, Status.SKIPPED, Status.CANCELLED):
        reason = f": {trigger.last_error}" if trigger.last_error else "."
        return f"{trigger.get_status_display().capitalize()}{reason}"
    if trigger.status == Status.SENDING:
        return "Отправляется прямо сейчас."
    config = ProactivityConfig.load()
    if not config.enabled or config.max_per_day == 0:
        return "Не будет отправлен: проактивность выключена в настройках (или дневной лимит 0)."
    if not liveness.worker_alive():
        return f"Не отправляется: {WORKER_DOWN}."
    scan = liveness.snapshot()[liveness.TRIGGER_SCAN]
    if liveness.worker_required() and not scan.alive:
        return "Не отправляется: поиск триггеров не запускался давно — проверьте, что Celery beat запущен."
    if trigger.scheduled_for > now:
        return (f"Ждёт: будет отправлен не раньше {admin_datetime(trigger.scheduled_for)} "
                "(по правилам окна, лимита и интервала).")
    retry = f" Прошлая попытка: {trigger.last_error}." if trigger.last_error else ""
    return f"Пора отправлять: уйдёт при ближайшем поиске триггеров (раз в минуту).{retry}"
