"""Failures of background work reach staff: an admin list and a deduplicated staff Telegram alert.

A Celery task that raises (``task_failure``) and an update the bot could not handle both end
in ``failure_report``. Each (where, error class) is one row per hour with a counter, so a
failing beat job that runs every minute makes one alert an hour, not sixty; at most
``FAILURE_ALERTS_PER_HOUR`` alerts go out per hour in total. Only names and exception classes
are recorded — never arguments, messages or anything a member wrote.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from bot.models import OperationalFailure
from bot.ui import render

logger = logging.getLogger(__name__)


def failure_report(*, source: str, error: BaseException | str) -> OperationalFailure | None:
    """Record one failure and alert staff for the first of its kind in the hour; never raises."""
    error_class = error if isinstance(error, str) else type(error).__name__
    try:
        return _record(source=source[:120], error_class=error_class[:120])
    except Exception:  # reporting a failure must never become one (the database may be the cause)
        logger.exception("could not record a failure of %s (%s)", source, error_class)
        return None


def _record(*, source: str, error_class: str) -> OperationalFailure:
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    with transaction.atomic():
        updated = OperationalFailure.objects.filter(source=source, error_class=error_class, hour=hour).update(
            count=F("count") + 1, last_at=now)
        if updated:
            return OperationalFailure.objects.get(source=source, error_class=error_class, hour=hour)
        try:
            with transaction.atomic():
                row = OperationalFailure.objects.create(source=source, error_class=error_class, hour=hour,
                                                        first_at=now, last_at=now)
        except IntegrityError:  # a concurrent failure of the same kind created it first
            OperationalFailure.objects.filter(source=source, error_class=error_class, hour=hour).update(
                count=F("count") + 1, last_at=now)
            return OperationalFailure.objects.get(source=source, error_class=error_class, hour=hour)
        _alert(row, hour=hour)
    return row


def _alert(row: OperationalFailure, *, hour) -> None:
    if not settings.TELEGRAM_STAFF_CHAT_ID:
        return
    alerted_this_hour = OperationalFailure.objects.filter(hour=hour, alerted=True).count()
    if alerted_this_hour >= settings.FAILURE_ALERTS_PER_HOUR:
        return
    from .notify import outbound_enqueue

    OperationalFailure.objects.filter(pk=row.pk).update(alerted=True)
    outbound_enqueue(
        kind="failure", chat_id=settings.TELEGRAM_STAFF_CHAT_ID, dedupe_key=f"failure:{row.pk}",
        text=render("🛠 <b>Сбой</b>: {source} — {error}. Подробности: админка → «Сбои фоновых задач».",
                    source=row.source, error=row.error_class))


def on_task_failure(sender=None, exception=None, **kwargs) -> None:
    """Celery's ``task_failure`` signal: the task's name and the exception's class, nothing else."""
    failure_report(source=f"задача {getattr(sender, 'name', sender)}", error=exception or "Exception")
