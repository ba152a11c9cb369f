"""Writes on members: settings they or staff change."""

import logging
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from relove.core.archive import ARCHIVE_SUFFIX, archive_encode, archive_lock, archive_read, archive_write

from .models import TelegramUser, UserActivityLog, validate_timezone

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
