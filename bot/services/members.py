"""Member writes triggered from the chat: identity sync, consent, pause, settings, export, forget."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from journeys.services import journey_start
from privacy.erasure import member_erase
from privacy.export import member_export_json
from profiles.models import TelegramUser, UserActivityLog, UserInteraction

CONSENT_WORDS = {"да", "да!", "согласен", "согласна", "согласен(на)", "я согласен", "я согласна", "давай",
                 "конечно", "ок", "окей", "хорошо", "поехали", "начнём", "начнем", "yes"}


@dataclass(frozen=True)
class TelegramIdentity:
    telegram_id: int
    username: str = ""
    first_name: str = ""
    last_name: str = ""
    language_code: str = ""


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
    return member_export_json(user=user)


def member_forget(*, user: TelegramUser) -> None:
    """Erase the member everywhere (their /forget, after confirmation); see privacy.erasure."""
    member_erase(user=user)


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
