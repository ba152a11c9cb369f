"""Trigger-scan benchmark on PostgreSQL (not part of the test suite).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/relove_bench_triggers REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python bench/bench_triggers.py [--sizes 10000 30000 100000] [--repeat 5] [--deliver 200]

For each size N the members table is refilled with COPY (seconds for 100k) and a realistic
mix relative to a fixed clock (23:00 in Moscow, the default zone):

* 1 % due (``--due``): silent for just over the 24 h inactivity period (crossed it in the last minute);
* 30 % active today; 40 % silent for 1–13 days and already nudged (an inactivity trigger
  less than 24 h old, plus an older one); 15 % silent for longer than ``active_days``;
* 14 % who may not be written to (paused, blocked, opted out, no consent);
* 0.1 % with a fresh stage change, 0.1 % with a fresh avoidance note; every member has an
  initial stage row and two older notes (so the journeys tables are as large as in life);
* 70 % without a zone of their own (Moscow), the rest spread over eight zones.

Each measurement runs ``--repeat`` times inside a transaction that is rolled back, so every
run sees the same data; the median is reported:

* **full detection**: no scan state (the first scan, after a config change, hourly);
* **incremental detection**: the previous tick was a minute ago (what beat runs every minute);
* **scan**: sweeper + incremental detection + the rules over every due trigger (deferrals
  written in bulk); sends are left for the delivery phase (``time_budget=0``).

``--deliver M`` then sends M due messages through the fake Bot API with the shared Redis
rate limiter at Telegram's 30 msg/s and reports the rate. The database named in
DATABASE_URL is created and migrated if needed and its members are deleted: point it at a
throwaway database (not the tests' or another benchmark's).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/relove_bench_triggers"
BENCH_ENV = {  # for the throwaway bench database only
    "SECRET_KEY": "bench-only-secret-key",
    "FIELD_ENCRYPTION_KEY": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
    "DJANGO_SETTINGS_MODULE": "relove.settings",
    "LOG_LEVEL": "WARNING",
}
NOW = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)  # 23:00 in Moscow
ZONES = ["Asia/Yekaterinburg", "Asia/Novosibirsk", "Asia/Vladivostok", "Europe/Kaliningrad", "Europe/Berlin",
         "America/New_York", "Asia/Almaty", "Pacific/Auckland"]


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ.update(BENCH_ENV)
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


# --- data -------------------------------------------------------------------------------------

def _ts(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def populate(size: int, *, due: float = 0.01, seed: int = 5) -> dict[str, int]:
    """Refill members, triggers and journey rows for ``size`` members; returns group sizes."""
    from django.db import connection

    from journeys.models import JourneyInsight, JourneyProgress, JourneyStage
    from profiles.models import TelegramUser
    from relove.core.blind_index import exact_digest, search_tokens
    from triggers.models import ProactivityConfig, ScanState

    rng = random.Random(seed)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE profiles_telegramuser, triggers_scanstate RESTART IDENTITY CASCADE")
    ScanState.objects.all().delete()
    ProactivityConfig.objects.all().delete()  # the default rules (a delivery run opens the window)
    ProactivityConfig.load()
    ProactivityConfig.objects.filter(pk=1).update(updated_at=NOW - timedelta(days=1))
    stages = dict(JourneyStage.objects.values_list("order", "pk"))
    groups = {"due": 0, "active": 0, "nudged": 0, "dormant": 0, "excluded": 0}
    members, triggers, progress, insights = [], [], [], []
    evidence = JourneyProgress._meta.get_field("evidence").get_db_prep_value("", connection)
    note = JourneyInsight._meta.get_field("text").get_db_prep_value("Уходит от разговора о деньгах", connection)
    # Identity is encrypted at rest and found through keyed digests (relove.core.blind_index).
    member_field = TelegramUser._meta.get_field
    empty_name = member_field("first_name").get_db_prep_value("", connection)
    for i in range(1, size + 1):
        roll = rng.random()
        flags = {"proactive_enabled": True, "is_paused": False, "is_blocked": False}
        consent = NOW - timedelta(days=60)
        if roll < due:
            group, last = "due", NOW - timedelta(hours=24, seconds=rng.uniform(1, 50))
        elif roll < 0.31:
            group, last = "active", NOW - timedelta(hours=rng.uniform(0, 23))
        elif roll < 0.71:
            group, last = "nudged", NOW - timedelta(hours=rng.uniform(25, 13 * 24))
        elif roll < 0.86:
            group, last = "dormant", NOW - timedelta(days=rng.uniform(15, 120))
        else:
            group, last = "excluded", NOW - timedelta(hours=rng.uniform(25, 24 * 10))
            which = rng.randrange(4)
            if which == 3:
                consent = None
            else:
                flags[("proactive_enabled", "is_paused", "is_blocked")[which]] = which != 0
        groups[group] += 1
        zone = "" if rng.random() < 0.7 else rng.choice(ZONES)
        stage = rng.randint(1, 12)
        telegram_id, username = 10_000_000 + i, f"m{i}"
        members.append((i, member_field("telegram_id").get_db_prep_value(telegram_id, connection),
                        exact_digest(telegram_id), member_field("username").get_db_prep_value(username, connection),
                        empty_name, empty_name, search_tokens(username), "ru", zone, "", _ts(consent),
                        flags["proactive_enabled"], flags["is_paused"], flags["is_blocked"], False, stage, 3, 1, 0,
                        _ts(last), _ts(last), _ts(NOW - timedelta(days=90)), _ts(NOW)))
        if group == "nudged":
            nudge = NOW - timedelta(hours=rng.uniform(1, 23.9))
            triggers.append((i, "inactivity", "sent", "inactivity", _ts(nudge), 1, _ts(nudge), _ts(nudge)))
            older = nudge - timedelta(days=1)
            triggers.append((i, "inactivity", "sent", "inactivity", _ts(older), 1, _ts(older), _ts(older)))
        progress.append((i, stages[1], None, 1.0, evidence, "initial", _ts(NOW - timedelta(days=60))))
        for _ in range(2):
            insights.append((i, stages[stage], "insight", note, 0.7, _ts(NOW - timedelta(days=rng.uniform(3, 50)))))
        if rng.random() < 0.001 and stage > 1:
            progress.append((i, stages[stage], stages[stage - 1], 0.8, evidence, "llm", _ts(NOW - timedelta(hours=2))))
        if rng.random() < 0.001:
            insights.append((i, stages[stage], "avoidance", note, 0.8, _ts(NOW - timedelta(hours=3))))
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy("COPY profiles_telegramuser (id, telegram_id, telegram_id_hash, username, first_name, "
                      "last_name, search_tokens, language_code, "
                      "timezone, gender, consent_at, proactive_enabled, is_paused, is_blocked, crisis_flag, "
                      "journey_stage, messages_count, sessions_count, unanswered_proactive, last_activity_at, "
                      "last_user_message_at, created_at, updated_at) FROM STDIN") as copy:
            for row in members:
                copy.write_row(row)
        with raw.copy("COPY triggers_proactivetrigger (user_id, kind, status, dedupe_key, scheduled_for, attempts, "
                      "sent_at, created_at, payload, last_error) FROM STDIN") as copy:
            for row in triggers:
                copy.write_row((*row, "{}", ""))
        with raw.copy("COPY journeys_journeyprogress (user_id, stage_id, previous_stage_id, confidence, evidence, "
                      "source, created_at, reason) FROM STDIN") as copy:
            for row in progress:
                copy.write_row((*row, ""))
        with raw.copy("COPY journeys_journeyinsight (user_id, stage_id, kind, text, confidence, created_at) "
                      "FROM STDIN") as copy:
            for row in insights:
                copy.write_row(row)
        cursor.execute("SELECT setval(pg_get_serial_sequence('profiles_telegramuser', 'id'), %s)", [size])
        cursor.execute("ANALYZE")
    return groups


# --- measurements -----------------------------------------------------------------------------------

def _median_ms(repeat: int, prepare, run) -> tuple[float, object]:
    from django.db import transaction

    times, result = [], None
    for _ in range(repeat):
        with transaction.atomic():
            prepare()
            started = time.perf_counter()
            result = run()
            times.append((time.perf_counter() - started) * 1000)
            transaction.set_rollback(True)
    return statistics.median(times), result


def _no_state():
    from triggers.models import ScanState

    ScanState.objects.all().delete()


def _previous_tick():
    from django.db.models import Max

    from journeys.models import JourneyInsight, JourneyProgress
    from triggers.models import ProactivityConfig, ScanState

    config = ProactivityConfig.load()
    marks = [[(NOW - timedelta(minutes=6)).isoformat(), JourneyProgress.objects.aggregate(m=Max("pk"))["m"] - 50,
              JourneyInsight.objects.aggregate(m=Max("pk"))["m"] - 50]]
    ScanState.objects.update_or_create(pk=1, defaults={
        "detected_at": NOW - timedelta(minutes=1), "config_version": config.updated_at,
        "reconciled_at": NOW - timedelta(minutes=10), "event_marks": marks})


def measure(repeat: int) -> dict:
    from triggers.models import ProactivityConfig
    from triggers.services import triggers_deliver_due, triggers_detect, triggers_sweep_stuck

    def detect():
        return triggers_detect(config=ProactivityConfig.load(), now=NOW)

    def scan():
        config = ProactivityConfig.load()
        counts = dict(triggers_sweep_stuck(now=NOW))
        counts.update(triggers_detect(config=config, now=NOW))
        counts.update(triggers_deliver_due(config=config, now=NOW, time_budget=0, batch_size=10_000))
        return counts

    full_ms, full = _median_ms(repeat, _no_state, detect)
    incremental_ms, incremental = _median_ms(repeat, _previous_tick, detect)
    scan_ms, counts = _median_ms(repeat, _previous_tick, scan)
    return {"full_ms": full_ms, "full": full, "incremental_ms": incremental_ms, "incremental": incremental,
            "scan_ms": scan_ms, "scan": counts}


def breakdown(repeat: int) -> dict[str, float]:
    """Median milliseconds of each detector in the incremental scan, and of inserting what they found."""
    from triggers.models import ProactiveTrigger, ProactivityConfig, ScanState
    from triggers.services.detection import DETECTORS
    from triggers.services.scan import _scope

    config = ProactivityConfig.load()
    found: list = []

    def scope():
        return _scope(ScanState.objects.get(), config, NOW)

    times = {}
    for kind, detector in DETECTORS.items():
        times[kind.value], rows = _median_ms(repeat, _previous_tick, lambda d=detector: d(config=config, scope=scope()))
        found += rows
    times["insert"], _ = _median_ms(repeat, lambda: None, lambda: ProactiveTrigger.objects.bulk_create(
        [ProactiveTrigger(user_id=r.user_id, kind=r.kind, dedupe_key=r.dedupe_key, scheduled_for=r.scheduled_for,
                          created_at=r.created_at, payload=r.payload) for r in found],
        ignore_conflicts=True, batch_size=1000))
    return times


def explain() -> str:
    """The plans of the inactivity queries in both modes (the largest detector)."""
    from triggers.models import ProactivityConfig
    from triggers.services.detection import Scope, inactivity_queries

    config = ProactivityConfig.load()
    out = []
    for title, scope in (("full", Scope(now=NOW)), ("incremental", Scope(now=NOW, since=NOW - timedelta(minutes=3)))):
        for query in inactivity_queries(config=config, scope=scope)[:2]:
            plan = query.explain(analyze=True, buffers=True)
            lines = [line for line in plan.splitlines()
                     if any(k in line for k in ("Index", "Scan", "Execution", "Join", "Anti"))]
            out.append(f"-- {title}\n" + "\n".join(lines[:8]))
    return "\n".join(out)


def deliver(count: int) -> dict:
    """Send ``count`` due messages through the fake Bot API under the shared 30 msg/s limiter."""
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from profiles.models import TelegramUser
    from testkit.fake_telegram import FakeTelegram
    from triggers.models import ProactiveTrigger, ProactivityConfig, ScanState
    from triggers.services import triggers_deliver_due

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE profiles_telegramuser, triggers_scanstate RESTART IDENTITY CASCADE")
    ScanState.objects.all().delete()
    ProactivityConfig.objects.filter(pk=1).update(window_start="00:00", window_end="23:59")
    now = timezone.now()
    users = TelegramUser.objects.bulk_create(
        [TelegramUser(telegram_id=20_000_000 + i, consent_at=now, journey_stage=1, last_user_message_at=now)
         for i in range(count)])
    ProactiveTrigger.objects.bulk_create(
        [ProactiveTrigger(user=u, kind="morning_checkin", dedupe_key="bench", scheduled_for=now, created_at=now)
         for u in users])
    with FakeTelegram() as fake:
        settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_API_BASE_URL = fake.token, fake.base_url
        started = time.perf_counter()
        counts = triggers_deliver_due(config=ProactivityConfig.load(), now=timezone.now(), live_clock=True)
        elapsed = time.perf_counter() - started
        accepted = len(fake.sent_messages())
    return {"sent": counts.get("sent", 0), "accepted": accepted, "seconds": elapsed, "rate": accepted / elapsed,
            "limit": settings.TELEGRAM_GLOBAL_RATE}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--due", type=float, default=0.01, help="fraction of members due (default 0.01)")
    parser.add_argument("--deliver", type=int, default=0, metavar="M")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not url.startswith("postgres"):
        sys.exit("The benchmark needs PostgreSQL: set DATABASE_URL to a throwaway database.")
    ensure_database(url)
    setup_django(url)
    rows = []
    for size in args.sizes:
        started = time.perf_counter()
        groups = populate(size, due=args.due)
        fill = time.perf_counter() - started
        result = measure(args.repeat)
        scan = result["scan"]
        rows.append((size, groups["due"], fill, result))
        print(f"N={size:>7}: filled in {fill:.1f}s; due {groups['due']}; "
              f"full detection {result['full_ms']:.0f} ms ({result['full']}); "
              f"incremental {result['incremental_ms']:.0f} ms ({result['incremental']}); "
              f"scan {result['scan_ms']:.0f} ms (deferred {scan.get('deferred', 0)}, "
              f"left to send {scan.get('postponed', 0)})", flush=True)
        if size == args.sizes[-1]:
            parts = breakdown(args.repeat)
            print("incremental detection by part (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in parts.items()))
            print(explain())
    print("\n| members | due | full detection | incremental detection | scan (detect + rules) |")
    print("|---:|---:|---:|---:|---:|")
    for size, due, _fill, result in rows:
        print(f"| {size:,} | {due:,} | {result['full_ms']:.0f} ms | {result['incremental_ms']:.0f} ms "
              f"| {result['scan_ms']:.0f} ms |")
    if args.deliver:
        sent = deliver(args.deliver)
        print(f"\ndelivery: {sent['accepted']} messages in {sent['seconds']:.1f}s = {sent['rate']:.1f} msg/s "
              f"(limiter {sent['limit']:.0f} msg/s)")


if __name__ == "__main__":
    main()
