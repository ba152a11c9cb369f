"""Erasure on PostgreSQL, proven on disk: the member's Telegram id, names and words are nowhere
in clear in the cluster's files — not in the database's relation files (tables, indexes, TOAST,
catalogs such as pg_statistic), not in the WAL segments written during the test.

PostgreSQL keeps a deleted row's bytes (a dead tuple) in the table file until the space is
reused, and in the WAL until the segment is recycled; there is no ``secure_delete``. So the
claim is "never stored in clear": identity and text are encrypted before they reach the
database, and a deleted row leaves only ciphertext and keyed digests (docs/privacy.md).
"""

import random
import struct
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from bot.models import ProcessedUpdate
from privacy.erasure import member_erase
from profiles.models import MemberTag, TelegramUser
from testkit import factories as f

from .test_erasure import _fill_every_store

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _one(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _checkpoint():
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


def _cluster_files(since: float) -> list[Path]:
    """The test database's relation files and every WAL segment written since ``since``.

    Segments are chosen by modification time, not by name: a checkpoint may recycle a segment
    under a new name, which keeps its bytes (and its mtime).
    """
    data_dir = Path(_one("SHOW data_directory"))
    db_dir = data_dir / "base" / str(_one("SELECT oid FROM pg_database WHERE datname = current_database()"))
    relations = [p for p in db_dir.iterdir() if p.is_file()]
    member_file = data_dir / _one("SELECT pg_relation_filepath('profiles_telegramuser')")
    assert member_file in relations  # the scan covers the member table itself
    wal = [p for p in (data_dir / "pg_wal").iterdir()
           if p.is_file() and len(p.name) == 24 and p.stat().st_mtime >= since - 1]
    assert wal, "no WAL segment written during the test"
    return relations + wal


def _found(paths: list[Path], needles: dict[str, bytes]) -> dict[str, list[str]]:
    hits: dict[str, list[str]] = {}
    for path in paths:
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # a segment removed or a relation dropped meanwhile
            continue
        for label, needle in needles.items():
            if needle in data:
                hits.setdefault(label, []).append(path.name)
    return hits


def test_no_member_identity_or_text_in_the_postgres_files(settings, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    started = time.time()
    telegram_id = random.randint(7_000_000_000, 7_900_000_000)
    tag = uuid.uuid4().hex[:10]
    username, first, last = f"pgfile_{tag}", f"Снежана{tag}", f"Пролескова{tag}"
    marker = f"ПРИЗНАНИЕ-{uuid.uuid4().hex}"
    member = f.TelegramUserFactory(telegram_id=telegram_id, username=username, first_name=first, last_name=last)
    _fill_every_store(member, settings, tmp_path, secret=marker)
    needles = {
        "telegram id (decimal)": str(telegram_id).encode(),
        "telegram id (int8 little-endian)": struct.pack("<q", telegram_id),
        "username": username.encode(), "first name": first.encode(), "last name": last.encode(),
        "text marker": marker.encode(),
    }
    # Controls (this test can fail): clear text and a clear int8 written the same way are found,
    # and so are the bytes of the member's row.
    control_int = random.randint(8_000_000_000, 8_900_000_000)
    control_text = f"контроль-{uuid.uuid4().hex}"
    ProcessedUpdate.objects.create(update_id=control_int)
    MemberTag.objects.create(name=control_text)
    ciphertext = _one("SELECT telegram_id FROM profiles_telegramuser WHERE id = %s", [member.pk])
    _checkpoint()
    before = _found(_cluster_files(started), {
        **needles, "control int8": struct.pack("<q", control_int), "control text": control_text.encode(),
        "member row ciphertext": ciphertext.encode()})
    assert {"control int8", "control text", "member row ciphertext"} <= set(before), before
    assert not set(needles) & set(before), before  # encrypted at rest, even while the member lives

    member_erase(user=member)
    _checkpoint()

    assert not TelegramUser.objects.filter(telegram_id=telegram_id).exists()
    after = _found(_cluster_files(started), needles)
    assert after == {}, after
