"""Encrypted identity benchmark on PostgreSQL (not part of the test suite).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/relove_bench_identity \\
        .venv/bin/python bench/bench_identity.py [--members 100000] [--repeat 200]

With ``--members`` members (encrypted Telegram id, username, names; ``bulk_create``):

* **lookup by Telegram id**: ``TelegramUser.objects.get(telegram_id=…)`` — the unique digest
  index plus decrypting the row — and ``member_sync`` for a returning member (what every
  incoming message costs);
* **staff search**: the admin's member search for one name word and for ``@username``
  (``search_tokens LIKE '%digest%'``: a scan of the members table) and for an id;
* **re-indexing**: ``reindex_model`` after a new key was put in front (rows/s).

The database named in DATABASE_URL is dropped and created afresh: point it at a throwaway one.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_privacy import drop_database  # noqa: E402
from bench_triggers import ensure_database, setup_django  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/relove_bench_identity"
NAMES = ["Ольга", "Анна", "Мария", "Елена", "Наталья", "Ирина", "Светлана", "Татьяна", "Юлия", "Семён"]


def _median_ms(repeat: int, run) -> float:
    times = []
    for i in range(repeat):
        started = time.perf_counter()
        run(i)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def populate(count: int) -> None:
    from profiles.models import TelegramUser

    rng = random.Random(7)
    batch = [TelegramUser(telegram_id=5_000_000_000 + i, username=f"user_{i}", first_name=rng.choice(NAMES),
                         last_name=f"Фамилия{i % 5000}") for i in range(count)]
    TelegramUser.objects.bulk_create(batch, batch_size=2000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    drop_database(url)
    ensure_database(url)
    setup_django(url)

    from cryptography.fernet import Fernet
    from django.conf import settings
    from django.contrib.admin.sites import site
    from django.db import connection
    from django.test import RequestFactory

    from profiles.models import TelegramUser
    from profiles.services import TelegramIdentity, member_sync
    from relove.core.rotation import reindex_model
    from testkit.factories import SuperuserFactory

    started = time.perf_counter()
    populate(args.members)
    print(f"{args.members} members created in {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE profiles_telegramuser")
    rng = random.Random(3)
    ids = [5_000_000_000 + rng.randrange(args.members) for _ in range(args.repeat)]
    lookup = _median_ms(args.repeat, lambda i: TelegramUser.objects.get(telegram_id=ids[i]))
    sync = _median_ms(args.repeat, lambda i: member_sync(identity=TelegramIdentity(
        telegram_id=ids[i], username=f"user_{ids[i] - 5_000_000_000}")))
    print(f"get(telegram_id=…): {lookup:.2f} ms median; member_sync (returning member): {sync:.2f} ms")

    admin = site._registry[TelegramUser]
    request = RequestFactory().get("/admin/")
    request.user = SuperuserFactory()
    for query in ("ольга", "@user_4242", str(ids[0])):
        def search(_i, query=query):
            queryset, _ = admin.get_search_results(request, TelegramUser.objects.all(), query)
            return list(queryset.values_list("pk", flat=True)[:100])
        found = len(search(0))
        print(f"admin search {query!r}: {_median_ms(max(5, args.repeat // 20), search):.1f} ms median "
              f"({found} shown of at most 100)")

    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.FIELD_ENCRYPTION_KEYS]
    started = time.perf_counter()
    changed = reindex_model(TelegramUser, batch_size=500)
    elapsed = time.perf_counter() - started
    print(f"reindex after a new key: {changed} rows in {elapsed:.1f} s, {changed / elapsed:,.0f} rows/s")


if __name__ == "__main__":
    main()
