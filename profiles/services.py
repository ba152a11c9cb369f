"""Every write on members: identity sync, consent, settings, activity records, blocking; log archives.

The chat (``bot``), the admin, the API and the delivery engines all write members through
these functions, so a rule about a member holds whichever door the change comes through.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from relove.core.archive import ARCHIVE_SUFFIX, archive_encode, archive_lock, archive_read, archive_write
from relove.core.blind_index import exact_digest
from relove.core.precompiled import Precompiled, Statement, execute_together, insert_statement

from .models import TelegramUser, UserActivityLog, UserInteraction, validate_timezone

logger = logging.getLogger(__name__)

_UNSET = object()


@transaction.atomic
def member_update_settings(*, user: TelegramUser, timezone=_UNSET, proactive_enabled=_UNSET,
                           is_paused=_UNSET) -> TelegramUser:
    """Change a member's time zone and proactive switches; validates the zone name."""
    fields = []
    if timezone is not _UNSET:
        validate_timezone(timezone)
        user.timezone = timezone
        fields.append("timezone")
    if proactive_enabled is not _UNSET:
        user.proactive_enabled = bool(proactive_enabled)
        fields.append("proactive_enabled")
    if is_paused is not _UNSET:
        user.is_paused = bool(is_paused)
        fields.append("is_paused")
    if fields:
        user.save(update_fields=[*fields, "updated_at"])
    return user


@dataclass(frozen=True)
class TelegramIdentity:
    """Who wrote, as Telegram describes them (input of ``member_sync``)."""

    telegram_id: int
    username: str = ""
    first_name: str = ""
    last_name: str = ""
    language_code: str = ""


# last_activity_at is "active recently" (analytics, trigger rules), not a clock: refreshed at
# most this often, so a message in a running conversation costs one query less.
ACTIVITY_TOUCH_INTERVAL = timedelta(seconds=60)


# The member of every update, found by the newest key's digest of their Telegram id: compiled once
# per process (relove.core.precompiled). A miss (a new member, or a digest still under an older
# key while keys rotate) takes the general path below.
BY_DIGEST = Precompiled(lambda digest: TelegramUser.objects.filter(telegram_id_hash=digest), digest=str)


def member_sync(*, identity: TelegramIdentity) -> TelegramUser:
    """The member for this Telegram account, created on first contact, names kept current.

    Safe when two first messages arrive at once (the unique Telegram id decides). A member
    who writes to us has evidently unblocked the bot.
    """
    defaults = {"username": identity.username[:64], "first_name": identity.first_name[:128],
                "last_name": identity.last_name[:128], "language_code": identity.language_code[:16]}
    user = BY_DIGEST.first(digest=exact_digest(identity.telegram_id))
    if user is None:
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
    if changed.keys() & {"username", "first_name", "last_name"}:  # keep staff search current
        changed["search_tokens"] = TelegramUser._meta.get_field("search_tokens").compute(user)
    TelegramUser.objects.filter(pk=user.pk).update(**changed, updated_at=now)
    return user


@transaction.atomic
def member_record_consent(*, user: TelegramUser) -> bool:
    """Record consent once (with its analytics event). Returns False if it was already given."""
    if user.consent_at:
        return False
    user.consent_at = timezone.now()
    user.save(update_fields=["consent_at", "updated_at"])
    UserInteraction.objects.create(user=user, kind=UserInteraction.Kind.CONSENT, stage=1)
    return True


def member_record_message(*, user: TelegramUser, at: datetime) -> None:
    """Count a message the member wrote; concurrent turns never lose a count (``+ 1`` in SQL)."""
    execute_together([record_message_statement(user=user, at=at)])


def record_message_statement(*, user: TelegramUser, at: datetime) -> Statement:
    """``member_record_message`` as a statement for ``execute_together`` (the model is updated now).

    Written by hand: on every turn, and the ORM's ``update(…F…)`` builds its SQL each time."""
    at_value = TelegramUser._meta.get_field("last_user_message_at").get_db_prep_save(at, connection)
    user.last_user_message_at = at
    return Statement(f"UPDATE {TelegramUser._meta.db_table} SET last_user_message_at = %s, "  # noqa: S608 — a model's own table
                     "messages_count = messages_count + 1 WHERE id = %s", [at_value, user.pk])


@dataclass(frozen=True)
class LogEntry:
    """One ``member_log`` record: an activity-log entry (when there is content) and an analytics
    event (when ``interaction`` is given), stamped ``at`` (default: when it is written)."""

    kind: str
    content: str = ""
    interaction: str | None = None
    metadata: dict | None = None
    at: datetime | None = None


def member_log(*, user: TelegramUser, kind: str, content: str = "", interaction: str | None = None,
               metadata: dict | None = None) -> None:
    """Record an activity-log entry (encrypted) and, when given, an analytics event (ids only).

    Nothing is recorded for members who have not consented: before consent we keep no profile.
    """
    member_log_many(user=user, entries=[LogEntry(kind, content, interaction, metadata)])


def member_log_many(*, user: TelegramUser, entries: list[LogEntry]) -> None:
    """``member_log`` for several entries at once, in order: one INSERT per table.

    A conversational turn records the member's message and Natasha's reply together.
    """
    execute_together(log_statements(user=user, entries=entries))


def log_statements(*, user: TelegramUser, entries: list[LogEntry]) -> list[Statement | None]:
    """``member_log_many`` as statements for ``execute_together`` (none before consent)."""
    if not user.consent_at:
        return []
    now = timezone.now()
    return [insert_statement(UserActivityLog, ("user", "kind", "content", "created_at"),
                             [(user.pk, e.kind, e.content, e.at or now) for e in entries if e.content]),
            insert_statement(UserInteraction, ("user", "kind", "stage", "metadata", "created_at"),
                             [(user.pk, e.interaction, user.journey_stage, e.metadata or {}, e.at or now)
                              for e in entries if e.interaction])]


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


def activity_logs_archive(*, older_than_days: int | None = None, batch_size: int = 1000, now=None) -> int:
    """Move activity-log entries older than the retention period into an encrypted archive file.

    Each batch is written to its own file (gzip of JSON lines, then Fernet-encrypted with the
    current key) before its rows are deleted, so a crash loses nothing: at worst a batch is in
    an archive file and still in the table, and the next run archives it again. Each batch is
    read, written and deleted under the archive lock, so an erasure never misses rows in flight.
    Returns the number of rows archived.
    """
    days = older_than_days if older_than_days is not None else settings.ACTIVITY_LOG_RETENTION_DAYS
    cutoff = (now or timezone.now()) - timedelta(days=days)
    total = 0
    while True:
        with archive_lock() as folder:
            batch = list(UserActivityLog.objects.filter(created_at__lt=cutoff).order_by("id")[:batch_size])
            if not batch:
                return total
            rows = [{"id": e.id, "user_id": e.user_id, "kind": e.kind, "content": e.content,
                     "created_at": e.created_at.isoformat()} for e in batch]
            path = folder / f"activity-{batch[0].id:012d}-{batch[-1].id:012d}{ARCHIVE_SUFFIX}"
            archive_write(path, archive_encode(rows))
            UserActivityLog.objects.filter(id__in=[e.id for e in batch]).delete()
        total += len(batch)
        logger.info("archived %d activity-log rows into %s", len(batch), path.name)


def read_archive(path: Path) -> list[dict]:
    """Decrypt one archive file back into its rows (for audits and data requests)."""
    return archive_read(path)
