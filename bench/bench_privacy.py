"""Key rotation and erasure benchmark on PostgreSQL (not part of the test suite).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/relove_bench_privacy \\
        .venv/bin/python bench/bench_privacy.py [--rows 20000] [--archive-lines 20000]

* **rotate_keys**: ``--rows`` encrypted activity-log rows (spread over 200 members) are
  re-encrypted with a new key by the per-row compare-and-swap rotation; reported as rows/s,
  then a second run (everything already current) shows the cost of resuming.
* **erasure**: one member with 500 rows of every kind that references them is erased while the
  archive folder holds ``--archive-lines`` lines in files of 1,000 (erasure rewrites the files
  holding the member). Reported for an empty and a full archive folder.

The database named in DATABASE_URL is dropped and created afresh (rotation leaves it under a
random key): point it at a throwaway database. Archives go to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_triggers import ensure_database, setup_django  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/relove_bench_privacy"


def drop_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}"')


def _fill_logs(count: int, members: list) -> None:
    from profiles.models import UserActivityLog

    batch = [UserActivityLog(user=members[i % len(members)], kind="message_in", content=f"реплика номер {i} " * 4)
             for i in range(count)]
    UserActivityLog.objects.bulk_create(batch, batch_size=2000)


def bench_rotation(rows: int) -> None:
    from cryptography.fernet import Fernet
    from django.conf import settings
    from django.db import connection

    from profiles.models import TelegramUser
    from relove.core.rotation import reencrypt_all

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE profiles_telegramuser RESTART IDENTITY CASCADE")
    members = TelegramUser.objects.bulk_create(
        [TelegramUser(telegram_id=10_000 + i, last_summary="резюме") for i in range(200)])
    _fill_logs(rows, members)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.FIELD_ENCRYPTION_KEYS]
    started = time.perf_counter()
    done = reencrypt_all()
    first = time.perf_counter() - started
    started = time.perf_counter()
    again = reencrypt_all()
    second = time.perf_counter() - started
    total = sum(v for k, v in done.items() if k != "archive")
    print(f"rotate_keys: {total} values re-encrypted in {first:.1f}s ({total / first:.0f} rows/s); "
          f"rerun with nothing left: {second:.1f}s ({sum(again.values())} changed)", flush=True)


def bench_erasure(archive_lines: int) -> None:
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from privacy.erasure import member_erase
    from profiles.models import TelegramUser, UserActivityLog
    from profiles.services import activity_logs_archive

    for lines in (0, archive_lines):
        settings.ARCHIVE_DIR = tempfile.mkdtemp(prefix="relove-bench-archive-")
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE profiles_telegramuser RESTART IDENTITY CASCADE")
        others = TelegramUser.objects.bulk_create([TelegramUser(telegram_id=20_000 + i) for i in range(50)])
        member = TelegramUser.objects.create(telegram_id=1, username="bench", consent_at=timezone.now())
        if lines:
            _fill_logs(lines - 100, others)
            _fill_logs(100, [member])
            UserActivityLog.objects.update(created_at=timezone.now() - timezone.timedelta(days=200))
            activity_logs_archive(batch_size=1000)
        _fill_logs(500, [member])
        started = time.perf_counter()
        record = member_erase(user=member)
        took = time.perf_counter() - started
        files = len(list(Path(settings.ARCHIVE_DIR).iterdir()))
        print(f"erasure with {lines} archived lines in {files} files: {took * 1000:.0f} ms "
              f"({sum(record.rows_deleted.values())} rows, {record.archive_rows_deleted} archived lines)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--archive-lines", type=int, default=20_000)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not url.startswith("postgres"):
        sys.exit("The benchmark needs PostgreSQL: set DATABASE_URL to a throwaway database.")
    os.environ.pop("REDIS_URL", None)
    drop_database(url)
    ensure_database(url)
    setup_django(url)
    bench_rotation(args.rows)
    bench_erasure(args.archive_lines)


if __name__ == "__main__":
    main()
