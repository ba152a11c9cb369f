"""The analytics summary over 100,000 members and 5,000,000 interactions (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/relove_perf_analytics \\
        .venv/bin/python bench/bench_analytics.py [--members 100000] [--interactions 5000000] [--repeat 5]

Members are bulk-created, then spread over the last 90 days (``created_at``, last message);
interactions are generated in the database (``INSERT … SELECT generate_series``): 80 %
member messages, the rest replies, button presses and commands, over 90 days. Then the
rollup catch-up (what beat does once after deploy) is timed, one "every minute" rollup of
today, and ``analytics.selectors.summary`` (what the dashboard and the API serve), median of
``--repeat`` runs. Existing members and interactions are deleted first: a throwaway database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_conversations import BENCH_ENV, ensure_database, setup_django  # noqa: E402


def load(members: int, interactions: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from profiles.models import TelegramUser

    TelegramUser.objects.all().delete()
    now = timezone.now()
    started = time.perf_counter()
    TelegramUser.objects.bulk_create(
        [TelegramUser(telegram_id=10_000_000 + i, consent_at=now, journey_stage=1 + i % 12) for i in range(members)],
        batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("""
            UPDATE profiles_telegramuser
            SET created_at = now() - (random() * interval '90 days'),
                last_user_message_at = now() - (random() * interval '40 days'),
                is_blocked = (random() < 0.03)""")
        cursor.execute("SELECT min(id), count(*) FROM profiles_telegramuser")
        first, count = cursor.fetchone()
        cursor.execute("""
            INSERT INTO profiles_userinteraction (user_id, kind, stage, metadata, created_at)
            SELECT %s + (g::bigint * 7919) %% %s,
                   CASE WHEN g %% 10 < 8 THEN 'message_in' WHEN g %% 10 = 8 THEN 'message_out'
                        WHEN g %% 20 = 9 THEN 'button' ELSE 'command' END,
                   1 + g %% 12, '{}'::jsonb, now() - (random() * interval '90 days')
            FROM generate_series(1, %s) AS g""", [first, count, interactions])
        cursor.execute("ANALYZE profiles_userinteraction; ANALYZE profiles_telegramuser")
    print(f"loaded {members:,} members and {interactions:,} interactions in {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-load", action="store_true", help="reuse the data of the previous run")
    args = parser.parse_args()
    env = {**BENCH_ENV, "DATABASE_URL": os.environ["DATABASE_URL"]}
    ensure_database(env["DATABASE_URL"])
    setup_django(env)
    from django.db import connection

    from analytics import selectors
    from analytics.models import CohortActivity, DailyActivity, DailyTotal, WeeklyActivity
    from analytics.services import activity_rollup_due

    for model in (DailyActivity, WeeklyActivity, DailyTotal, CohortActivity):
        model.objects.all().delete()
    if not args.skip_load:
        load(args.members, args.interactions)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE profiles_userinteraction")
    started = time.perf_counter()
    days = activity_rollup_due()
    print(f"rollup catch-up: {days} days in {time.perf_counter() - started:.1f} s "
          f"({DailyActivity.objects.count():,} member-day rows)")
    started = time.perf_counter()
    activity_rollup_due()
    print(f"rollup of today (every minute): {(time.perf_counter() - started) * 1000:.0f} ms")
    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        data = selectors.summary()
        timings.append(time.perf_counter() - started)
    print(f"summary: median {statistics.median(timings) * 1000:.0f} ms, min {min(timings) * 1000:.0f} ms "
          f"over {args.repeat} runs; {len(data['retention'])} cohorts, {len(data['messages_per_day'])} days")
    for name, fn in [("active_members", selectors.active_members), ("messages_per_day", selectors.messages_per_day),
                     ("stages", selectors.stage_distribution), ("retention", selectors.retention_by_cohort),
                     ("proactive", selectors.proactive_response_rate),
                     ("broadcasts", selectors.broadcast_delivery_stats), ("streams", selectors.stream_attribution)]:
        started = time.perf_counter()
        fn()
        print(f"  {name}: {(time.perf_counter() - started) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
