"""Exactly-once handling of Telegram updates, that survives a database failure mid-update."""

import enum
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from bot.models import ProcessedUpdate

UPDATE_ID_RETENTION = timedelta(days=7)


class Claim(enum.Enum):
    TAKEN = "taken"  # handle it
    DONE = "done"  # a redelivered copy of an update already handled: skip
    BUSY = "busy"  # being handled elsewhere right now: try again later


def update_claim(*, update_id: int, retake: bool = False) -> Claim:
    """Take ``update_id`` for handling. TAKEN for the first caller only, on any number of workers.

    The row is the lock: the primary key makes a second insert fail, so a redelivered update,
    or one received by two web workers at once, is handled once. A row not ``done`` is an
    update given back after a database failure (``update_release`` could not run) or left by a
    process that died: it is taken again by the process that gave it back (``retake``) or by
    anyone once ``UPDATE_CLAIM_LEASE_SECONDS`` have passed — one conditional UPDATE, so only
    one taker wins.
    """
    now = timezone.now()
    try:
        with transaction.atomic():
            ProcessedUpdate.objects.create(update_id=update_id, done=False)
        return Claim.TAKEN
    except IntegrityError:
        pass
    abandoned = ProcessedUpdate.objects.filter(update_id=update_id, done=False)
    if not retake:
        abandoned = abandoned.filter(
            received_at__lt=now - timedelta(seconds=settings.UPDATE_CLAIM_LEASE_SECONDS))
    if abandoned.update(received_at=now):
        return Claim.TAKEN
    done = ProcessedUpdate.objects.filter(update_id=update_id, done=True).exists()
    return Claim.DONE if done else Claim.BUSY


def update_done(*, update_id: int) -> None:
    """Handling finished (answered, or failed for a reason other than the database): never again.

    Recreates the row if a late ``update_release`` removed it meanwhile.
    """
    if not ProcessedUpdate.objects.filter(update_id=update_id).update(done=True):
        ProcessedUpdate.objects.get_or_create(update_id=update_id, defaults={"done": True})


def update_release(*, update_id: int) -> bool:
    """Give an unfinished update back, so its redelivery is taken at once (not after the lease)."""
    deleted, _ = ProcessedUpdate.objects.filter(update_id=update_id, done=False).delete()
    return bool(deleted)


def processed_updates_prune(*, now=None) -> int:
    """Forget update ids older than a week; Telegram redelivers for at most a day."""
    cutoff = (now or timezone.now()) - UPDATE_ID_RETENTION
    deleted, _ = ProcessedUpdate.objects.filter(received_at__lt=cutoff).delete()
    return deleted
