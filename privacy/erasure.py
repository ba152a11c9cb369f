"""Erasure of a member: every row, cache key and archived line about them, provably.

Choice for archives (see README, "Privacy"): archive files are *rewritten without the
member* under the archive lock, not crypto-shredded. Archives are small (activity logs past
retention, deleted again after ARCHIVE_RETENTION_DAYS), so a rewrite costs little and keeps
one key scheme for everything; per-member keys would have to live somewhere the erasure can
destroy, i.e. in the database we already erase from.
"""

from __future__ import annotations

import logging

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction

from profiles.models import TelegramUser
from relove.core.archive import archives_keep

from .cache import member_cache_purge
from .introspection import member_relations
from .models import ErasureRecord

logger = logging.getLogger(__name__)


def _admin_log_delete(*, user_pk: int, owned: dict[type, list]) -> int:
    """Admin history names objects ("@username"): delete the entries about the member's rows."""
    deleted = 0
    for model, pks in [(TelegramUser, [user_pk]), *owned.items()]:
        if not pks:
            continue
        ct = ContentType.objects.get_for_model(model, for_concrete_model=False)
        deleted += LogEntry.objects.filter(content_type=ct, object_id__in=[str(pk) for pk in pks]).delete()[0]
    return deleted


def archives_remove_member(*, user_pk: int) -> int:
    """Rewrite every archive file without the member's lines; returns how many lines went."""
    return archives_keep(lambda row: row.get("user_id") != user_pk)


def _sqlite_checkpoint() -> None:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def member_erase(*, user: TelegramUser, staff=None) -> ErasureRecord:
    """Erase the member everywhere the product writes, and record that (without personal data).

    Guarantees: every row of every model that references the member (directly or through
    another of their rows, found by introspection) is deleted — including rows whose foreign
    key would only be nulled — then the admin history about those rows, the member row, the
    member's cache keys and their lines in archive files. Celery tasks already queued carry
    only the row id and do nothing once the row is gone. SQLite runs with ``secure_delete``,
    so deleted rows are overwritten in the file.
    """
    user_pk, telegram_id = user.pk, user.telegram_id
    counts: dict[str, int] = {}
    with transaction.atomic():
        # Lock the member row: a turn being written for them waits, then finds no member.
        TelegramUser.objects.select_for_update().filter(pk=user_pk).first()
        owned: dict[type, list] = {}
        # Deepest first, each by primary key: rows a cascade would only null (SET_NULL) go too.
        for relation in member_relations():
            pks = list(relation.rows(user_pk).values_list("pk", flat=True))
            owned[relation.model] = pks
            if pks:
                relation.model._base_manager.filter(pk__in=pks).delete()
                counts[relation.label] = len(pks)
        counts["admin.LogEntry"] = _admin_log_delete(user_pk=user_pk, owned=owned)
        counts[TelegramUser._meta.label] = TelegramUser.objects.filter(pk=user_pk).delete()[0] and 1
        record = ErasureRecord.objects.create(
            initiator=ErasureRecord.Initiator.STAFF if staff else ErasureRecord.Initiator.MEMBER,
            staff=staff, rows_deleted={k: v for k, v in counts.items() if v})
    # After commit: a concurrent reader can no longer re-fill the cache from the database.
    record.cache_keys_deleted = member_cache_purge(user_pk=user_pk, telegram_id=telegram_id)
    record.archive_rows_deleted = archives_remove_member(user_pk=user_pk)
    record.save(update_fields=["cache_keys_deleted", "archive_rows_deleted"])
    if connection.vendor == "sqlite" and not connection.is_in_memory_db():
        # Move the overwritten pages out of the WAL too — once the erasure is committed: inside
        # a caller's transaction SQLite refuses to checkpoint ("database table is locked").
        transaction.on_commit(_sqlite_checkpoint)
    logger.info("member erased (record %s): %d rows, %d archived lines, %d cache keys", record.pk,
                sum(counts.values()), record.archive_rows_deleted, record.cache_keys_deleted)
    return record
