"""Claiming delivery rows before sending and repairing the ones a dead worker left behind.

Every table of things to send (proactive triggers, broadcast deliveries, staff alerts) has a
``status`` that goes ``pending → sending → …`` and a ``claimed_at``. The conditional UPDATE in
``claim`` is the lock: of any number of concurrent workers exactly one sees its row change,
and only that one may send. ``sweep_stuck`` is the one periodic repair of rows left
``sending``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet

logger = logging.getLogger(__name__)

PENDING, SENDING = "pending", "sending"


def claim(rows: QuerySet, *, now: datetime, **fields) -> int:
    """Move the still-pending ``rows`` to ``sending``; returns how many this caller now owns."""
    return rows.filter(status=PENDING).update(status=SENDING, claimed_at=now, **fields)


def sweep_stuck(rows: QuerySet, *, now: datetime, older_than: timedelta, unknown: dict,
                maybe_sent: Q | None = None, requeue: dict | None = None) -> tuple[int, int]:
    """Repair rows claimed longer than ``older_than`` ago and never finished (the worker died).

    Rows that may have reached Telegram (``maybe_sent``; all of them when it is None) get the
    ``unknown`` fields and are never sent again: a second copy is worse than a missing one.
    The others certainly were not sent and get the ``requeue`` fields. Conditional UPDATEs,
    so several sweepers may run at once. Returns ``(requeued, unknown)``.
    """
    stuck = rows.filter(status=SENDING, claimed_at__lt=now - older_than)
    if maybe_sent is None or requeue is None:
        return 0, stuck.update(**unknown)
    marked_unknown = stuck.filter(maybe_sent).update(**unknown)
    requeued = stuck.update(**requeue)
    if requeued or marked_unknown:
        logger.warning("%s sweeper: %d requeued, %d marked unknown", rows.model._meta.label, requeued,
                       marked_unknown)
    return requeued, marked_unknown
