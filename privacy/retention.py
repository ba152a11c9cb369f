"""Retention of archived activity logs: lines older than ARCHIVE_RETENTION_DAYS are deleted.

Conversation-text retention (CONVERSATION_RETENTION_DAYS) works on the conversation turn rows:
``bot.services.sessions.conversations_apply_retention``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from relove.core.archive import archives_keep

logger = logging.getLogger(__name__)


def archives_prune(*, older_than_days: int | None = None, now: datetime | None = None) -> int:
    """Delete archived lines created before the retention cutoff; a file left empty is removed.

    Judged by each line's own ``created_at`` (file times change when erasure or key rotation
    rewrites a file). Idempotent: a second run finds nothing. Returns the lines deleted.
    """
    days = older_than_days if older_than_days is not None else settings.ARCHIVE_RETENTION_DAYS
    cutoff = (now or timezone.now()) - timedelta(days=days)
    removed = archives_keep(lambda row: datetime.fromisoformat(row["created_at"]) >= cutoff)
    if removed:
        logger.info("archive retention: %d lines older than %d days deleted", removed, days)
    return removed
