"""Retention of archived activity logs: lines older than ARCHIVE_RETENTION_DAYS are deleted.

Conversation-text retention (CONVERSATION_RETENTION_DAYS) belongs on the conversation turn
rows and is not implemented here.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from relove.core.archive import archive_encode, archive_files, archive_lock, archive_read, archive_write

logger = logging.getLogger(__name__)


def archives_prune(*, older_than_days: int | None = None, now: datetime | None = None) -> int:
    """Delete archived lines created before the retention cutoff; a file left empty is removed.

    Judged by each line's own ``created_at`` (file times change when erasure or key rotation
    rewrites a file). Idempotent: a second run finds nothing. Returns the lines deleted.
    """
    days = older_than_days if older_than_days is not None else settings.ARCHIVE_RETENTION_DAYS
    cutoff = (now or timezone.now()) - timedelta(days=days)
    removed = 0
    with archive_lock():
        for path in archive_files():
            rows = archive_read(path)
            kept = [r for r in rows if datetime.fromisoformat(r["created_at"]) >= cutoff]
            if len(kept) == len(rows):
                continue
            removed += len(rows) - len(kept)
            if kept:
                archive_write(path, archive_encode(kept))
            else:
                path.unlink()
    if removed:
        logger.info("archive retention: %d lines older than %d days deleted", removed, days)
    return removed
