"""Member writes triggered from the chat: identity sync, consent, pause, settings, export, forget."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from journeys.services import journey_start
from profiles.models import TelegramUser, UserActivityLog, UserInteraction

from .sessions import session_history

CONSENT_WORDS = {"да", "да!", "согласен", "согласна", "согласен(на)", "я согласен", "я согласна", "давай",
                 "конечно", "ок", "окей", "хорошо", "поехали", "начнём", "начнем", "yes"}


@dataclass(frozen=True)
class TelegramIdentity:
    telegram_id: int
    username: str = ""
    first_name: str = ""
    last_name: str = ""
    language_code: str = ""


# last_activity_at is "active recently" (analytics, trigger rules), not a clock: refreshed at
# most this often, so a message in a running conversation costs one query less.
ACTIVITY_TOUCH_INTERVAL = timedelta(seconds=60)


def member_sync(*, identity: TelegramIdentity) -> TelegramUser:
    """The member for this Telegram account, created on first contact, names kept current.

    A member who writes to us has evidently unblocked the bot.
    """
    defaults = {"username": identity.username[:64], "first_name": identity.first_name[:128],
                "last_name": identity.last_name[:128], "language_code": identity.language_code[:16]}
    try:
        user, _created = TelegramUser.objects.get_or_create(telegram_id=identity.telegram_id, defaults=defaults)
    except IntegrityError:  # two first messages at once
        user = TelegramUser.objects.get(telegram_id=identity.telegram_id)
    now = timezone.now()
    changed = {k: v for k, v in defaults.items() if v and getattr(user, k) != v}
    if user.is_blocked:
        changed.update(is_blocked=False, blocked_at=None)
    if not changed and user.last_activity_at and now - user.last_activity_at < ACTIVITY_TOUCH_INTERVAL:
        return user  # a conversation in full flow: last_activity_at is fresh enough, save the UPDATE
    changed["last_activity_at"] = now
    for key, value in changed.items():
        setattr(user, key, value)
    TelegramUser.objects.filter(pk=user.pk).update(**changed, updated_at=now)
    return user


def is_consent(text: str) -> bool:
    return " ".join(text.lower().replace("ё", "е").split()).strip(" .!") in CONSENT_WORDS


@transaction.atomic
def member_give_consent(*, user: TelegramUser) -> bool:
    """Record consent once and put the member on stage 1. Returns False if already given."""
    if user.consent_at:
        return False
    user.consent_at = timezone.now()
    user.save(update_fields=["consent_at", "updated_at"])
    UserInteraction.objects.create(user=user, kind=UserInteraction.Kind.CONSENT, stage=1)
    journey_start(user=user)
    return True


def member_set_paused(*, user: TelegramUser, paused: bool) -> None:
    TelegramUser.objects.filter(pk=user.pk).update(is_paused=paused, updated_at=timezone.now())
    user.is_paused = paused


def member_set_proactive(*, user: TelegramUser, enabled: bool) -> None:
    TelegramUser.objects.filter(pk=user.pk).update(proactive_enabled=enabled, updated_at=timezone.now())
    user.proactive_enabled = enabled


def member_set_timezone(*, user: TelegramUser, zone: str) -> None:
    TelegramUser.objects.filter(pk=user.pk).update(timezone=zone, updated_at=timezone.now())
    user.timezone = zone


def member_log(*, user: TelegramUser, kind: str, content: str = "", interaction: str | None = None,
               metadata: dict | None = None) -> None:
    """Record an activity-log entry (encrypted) and, when given, an analytics event (ids only).

    Nothing is recorded for members who have not consented: before consent we keep no profile.
    """
    if not user.consent_at:
        return
    if content:
        UserActivityLog.objects.create(user=user, kind=kind, content=content)
    if interaction:
        UserInteraction.objects.create(user=user, kind=interaction, stage=user.journey_stage,
                                       metadata=metadata or {})


def member_export(*, user: TelegramUser) -> bytes:
    """Everything we keep about the member, as a JSON document (their /export)."""
    data = {
        "exported_at": timezone.now(),
        "member": {"telegram_id": user.telegram_id, "username": user.username, "first_name": user.first_name,
                   "timezone": user.timezone, "consent_at": user.consent_at, "journey_stage": user.journey_stage,
                   "proactive_enabled": user.proactive_enabled, "last_summary": user.last_summary},
        "sessions": [{"started_at": s.started_at, "ended_at": s.ended_at, "history": session_history(s)}
                     for s in user.sessions.order_by("started_at")],
        "journey": [{"at": p.created_at, "stage": p.stage.name, "source": p.source}
                    for p in user.journey_progress.select_related("stage").order_by("created_at")],
        "insights": [{"at": i.created_at, "kind": i.kind, "text": i.text}
                     for i in user.insights.order_by("created_at")],
        "profiles": [{"version": p.version, "summary": p.summary, "data": p.data,
                      "light_shadow_balance": p.light_shadow_balance} for p in user.profiles.order_by("version")],
        "streams": [{"stream": e.stream.title, "enrolled_at": e.enrolled_at}
                    for e in user.enrollments.select_related("stream")],
        "activity": [{"at": a.created_at, "kind": a.kind, "content": a.content}
                     for a in user.activity_logs.order_by("created_at")],
    }
    return json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2).encode("utf-8")


@transaction.atomic
def member_forget(*, user: TelegramUser) -> None:
    """Erase the member and everything personal about them (cascades to every related row)."""
    TelegramUser.objects.filter(pk=user.pk).delete()


def members_mark_blocked(*, user_ids=None, telegram_ids=None, now=None) -> int:
    """Telegram said 403 or the member left: no more proactive messages or broadcasts.

    Takes member ids or Telegram ids (a broadcast batch marks many at once); returns how many
    were newly marked.
    """
    now = now or timezone.now()
    members = TelegramUser.objects.filter(is_blocked=False)
    if user_ids is not None:
        members = members.filter(pk__in=user_ids)
    if telegram_ids is not None:
        members = members.filter(telegram_id__in=telegram_ids)
    return members.update(is_blocked=True, blocked_at=now, updated_at=now)


def member_mark_blocked(*, telegram_id: int) -> bool:
    return bool(members_mark_blocked(telegram_ids=[telegram_id]))


def member_mark_unblocked(*, telegram_id: int) -> bool:
    return bool(TelegramUser.objects.filter(telegram_id=telegram_id, is_blocked=True).update(
        is_blocked=False, blocked_at=None))
