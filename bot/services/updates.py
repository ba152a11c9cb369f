"""Exactly-once handling of Telegram updates, that survives a database failure mid-update."""

import enum
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from bot.models import ProcessedUpdate

UPDATE_ID_RETENTION = timedelta(days=7)


class Claim(enum.Enum):
    TAKEN = "taken"  # handle it
    DONE = "done"  # a redelivered copy of an update already handled: skip
    BUSY = "busy"  # being handled elsewhere right now: try again later


_TABLE = ProcessedUpdate._meta.db_table


def _insert_new(update_id: int, now) -> bool:
    """The claim of a new update: one statement on every update (PostgreSQL and SQLite ≥ 3.24 alike),
    no transaction and no model machinery. False when the row exists."""
    received_at = ProcessedUpdate._meta.get_field("received_at").get_db_prep_save(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {_TABLE} (update_id, received_at, done) VALUES (%s, %s, %s) "  # noqa: S608 — the model's table
                       "ON CONFLICT (update_id) DO NOTHING", [update_id, received_at, False])
        return cursor.rowcount == 1


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
    if _insert_new(update_id, now):
        return Claim.TAKEN
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
    with connection.cursor() as cursor:  # one statement on every update: written by hand
        cursor.execute(f"UPDATE {_TABLE} SET done = %s WHERE update_id = %s", [True, update_id])  # noqa: S608
        marked = cursor.rowcount
    if not marked:
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
