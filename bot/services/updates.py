"""Exactly-once handling of Telegram updates."""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from bot.models import ProcessedUpdate

UPDATE_ID_RETENTION = timedelta(days=7)


def update_claim(*, update_id: int) -> bool:
    """Record ``update_id`` as taken. True for the first caller only, on any number of workers.

    The row is the lock: the primary key makes a second insert fail, so a redelivered
    update, or one received by two web workers at once, is handled once.
    """
    try:
        with transaction.atomic():
            ProcessedUpdate.objects.create(update_id=update_id)
    except IntegrityError:
        return False
    return True


def processed_updates_prune(*, now=None) -> int:
    """Forget update ids older than a week; Telegram redelivers for at most a day."""
    cutoff = (now or timezone.now()) - UPDATE_ID_RETENTION
    deleted, _ = ProcessedUpdate.objects.filter(received_at__lt=cutoff).delete()
    return deleted
