"""The analytics page's report over a date range, and one member's timeline (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/relove_bench_members \\
        .venv/bin/python bench/bench_analytics_page.py [--members 20000] [--interactions 1000000] [--repeat 5]

Loads members and interactions like ``bench_analytics.py`` (a throwaway database), rolls them up,
then adds a stage history (every member started, ~60 % moved on, up to 12 stages), sent
proactive triggers and a long conversation for one member. Times ``analytics.reports.report``
for 7, 30 and 90 days (each table too) and ``privacy.timeline.member_timeline`` pages 1 and 5.
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

from bench_analytics import load  # noqa: E402
from bench_conversations import BENCH_ENV, ensure_database, setup_django  # noqa: E402


def add_journeys_and_triggers() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM journeys_journeyprogress")
        cursor.execute("DELETE FROM triggers_proactivetrigger")
        cursor.execute("SELECT id, \"order\" FROM journeys_journeystage")
        stage_ids = dict((order, pk) for pk, order in cursor.fetchall())
        # Every member starts on stage 1; then one row per stage reached, 1 + id % 12 stages deep.
        for order in range(1, 13):
            cursor.execute("""
                INSERT INTO journeys_journeyprogress (user_id, stage_id, previous_stage_id, confidence, evidence,
                    source, skipped_stages, changed_by_id, reason, created_at)
                SELECT id, %s, %s, 0.9, '', %s, '[]'::jsonb, NULL, '', now() - (random() * interval '90 days')
                FROM profiles_telegramuser WHERE 1 + id %% 12 >= %s""",
                           [stage_ids[order], stage_ids.get(order - 1), "initial" if order == 1 else "llm", order])
        cursor.execute("""
            INSERT INTO triggers_proactivetrigger (user_id, kind, status, dedupe_key, scheduled_for, attempts,
                payload, sent_at, answered_at, last_error, created_at)
            SELECT id, (ARRAY['inactivity','morning_checkin','stage_completed','stream_step'])[1 + id % 4], 'sent',
                   'bench:' || id, now() - interval '3 days', 1, '{}'::jsonb, now() - (random() * interval '60 days'),
                   CASE WHEN random() < 0.4 THEN now() END, '', now() - interval '3 days'
            FROM profiles_telegramuser""")
        cursor.execute("ANALYZE journeys_journeyprogress; ANALYZE triggers_proactivetrigger")


def timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-load", action="store_true", help="reuse the members, interactions and rollups")
    args = parser.parse_args()
    env = {**BENCH_ENV, "DATABASE_URL": os.environ["DATABASE_URL"]}
    ensure_database(env["DATABASE_URL"])
    setup_django(env)
    from analytics import reports
    from analytics.models import DailyActivity, WeeklyActivity
    from analytics.services import activity_rollup_due
    from bot.services.sessions import Turn, session_append, session_get_active
    from privacy.timeline import member_timeline
    from profiles.models import TelegramUser

    if not args.skip_load:
        DailyActivity.objects.all().delete()
        WeeklyActivity.objects.all().delete()
        load(args.members, args.interactions)
    started = time.perf_counter()
    activity_rollup_due()
    print(f"rollup: {time.perf_counter() - started:.0f} s ({DailyActivity.objects.count():,} member-day rows)")
    add_journeys_and_triggers()

    for days in (7, 30, 90):
        r = reports.range_parse({"days": str(days)})
        print(f"report, {days} days: median {timed(lambda r=r: reports.report(r), args.repeat):.0f} ms")
        for name in ("totals", "messages_by_day", "stage_funnel", "stage_transitions", "proactive_by_kind",
                     "broadcast_rates", "stream_conversion"):
            fn = getattr(reports, name)
            print(f"  {name}: {timed(lambda fn=fn, r=r: fn(r), 1):.0f} ms")

    member = TelegramUser.objects.order_by("id").first()
    session = session_get_active(user=member)
    for n in range(300):
        session = session_append(session=session, turns=[Turn("user", f"реплика {n}"), Turn("assistant", "ответ")])
    for page in (1, 5):
        ms = timed(lambda page=page: member_timeline(member=member, page=page), args.repeat)
        print(f"timeline page {page} (600 turns, every source): median {ms:.0f} ms")


if __name__ == "__main__":
    main()
