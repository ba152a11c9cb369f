"""Broadcast delivery benchmark against the fake Telegram Bot API (not part of the test suite).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/relove_bench REDIS_URL=redis://127.0.0.1:6379/7 \\
        .venv/bin/python bench/bench_broadcast.py [--quick]

Two scenarios, each with real worker processes (``manage.py send_broadcast ID``) sharing
the Redis rate limiter and the PostgreSQL database:

* **rate**: the fake enforces 30 messages in any sliding 1 s window and answers 429 above it;
  1 worker, then 4 workers. Reports the sustained rate (sends between the first and the
  last accepted message), its fraction of 30/s, and the 429 count (must be 0).
* **memory**: the fake's limit is raised so the run is short; the same worker delivers
  1,000 and then 100,000 recipients. Reports the worker's peak RSS for each and the
  achieved fraction of the configured limiter rate.

The database named in DATABASE_URL is created and migrated if needed, and its members and
broadcasts are deleted before each scenario: point it at a throwaway database.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# A fixed key for the throwaway bench database only (the workers must decrypt what setup wrote).
BENCH_ENV = {
    "SECRET_KEY": "bench-only-secret-key",
    "FIELD_ENCRYPTION_KEY": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
    "DJANGO_SETTINGS_MODULE": "relove.settings",
    "LOG_LEVEL": "WARNING",
}


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(env: dict) -> None:
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def reset_data() -> None:
    from broadcasts.models import Broadcast
    from profiles.models import TelegramUser

    Broadcast.objects.all().delete()
    TelegramUser.objects.all().delete()


def create_broadcast(recipients: int, first_chat: int) -> int:
    from django.utils import timezone

    from broadcasts.services import broadcast_create, broadcast_send_now
    from profiles.models import TelegramUser

    now = timezone.now()
    batch = []
    for i in range(recipients):
        batch.append(TelegramUser(telegram_id=first_chat + i, consent_at=now, last_activity_at=now, journey_stage=1))
        if len(batch) == 5000:
            TelegramUser.objects.bulk_create(batch)
            batch = []
    TelegramUser.objects.bulk_create(batch)
    broadcast = broadcast_create(title="bench", text="<b>Новый поток</b> стартует в понедельник. Присоединяйся!",
                                 buttons=[{"text": "Подробнее", "url": "https://relove.ru/"}])
    started = time.monotonic()
    total = broadcast_send_now(broadcast_id=broadcast.pk, enqueue=False)
    print(f"  {total} delivery rows created in {time.monotonic() - started:.1f}s", flush=True)
    return broadcast.pk


def run_workers(broadcast_id: int, workers: int, env: dict, *extra: str) -> tuple[float, list[int]]:
    """Run the workers to completion; returns (wall seconds, peak RSS in KiB per worker)."""
    command = [sys.executable, "manage.py", "send_broadcast", str(broadcast_id), "--no-progress", *extra]
    procs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(workers)]
    peaks = [0] * workers
    started = time.monotonic()
    while any(p.poll() is None for p in procs):
        for i, proc in enumerate(procs):
            peaks[i] = max(peaks[i], _peak_rss(proc.pid))
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    for proc in procs:
        output = proc.stdout.read()
        if proc.returncode != 0:
            raise SystemExit(f"worker failed ({proc.returncode}):\n{output}")
    return elapsed, peaks


def _peak_rss(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class ExternalFake:
    """The fake Bot API in its own process (as its docstring advises for benchmarks), so its
    threads share no GIL with the workers or with this script."""

    def __init__(self, *, global_rate: int | None, per_chat_rate: int | None = None, port: int = 0):
        self.port = port or _free_port()
        command = [sys.executable, "-m", "testkit.fake_telegram", "--port", str(self.port)]
        if global_rate:
            command += ["--global-rate", str(global_rate)]
        if per_chat_rate:
            command += ["--per-chat-rate", str(per_chat_rate)]
        self.proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # "fake Telegram Bot API at <url> (token <token>)"
        self.base_url = line.split(" at ")[1].split()[0]
        self.token = line.rsplit("token ", 1)[1].rstrip(")\n")

    def get(self, what: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_fake/{what}", timeout=60) as response:
            return json.load(response)

    def send_times(self) -> list[float]:
        return sorted(c["time"] for c in self.get("calls") if c["method"] == "sendMessage" and c["status"] == 200)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most accepted sends in any ``window`` seconds (the fake allows 30)."""
    best, left = 0, 0
    for right, t in enumerate(times):
        while t - times[left] >= window:
            left += 1
        best = max(best, right - left + 1)
    return best


def gap_percentiles(times: list[float]) -> dict:
    gaps = sorted(times[i + 1] - times[i] for i in range(len(times) - 1))
    pick = {"min": 0, "p1": len(gaps) // 100, "p50": len(gaps) // 2, "p99": -max(1, len(gaps) // 100), "max": -1}
    return {name: round(gaps[i] * 1000, 1) for name, i in pick.items()} if gaps else {}


def scenario_rate(env: dict, recipients: int, workers_list: list[int], rate: float) -> list[dict]:
    rows = []
    for workers in workers_list:
        reset_data()
        _flush_limiter(env)
        with ExternalFake(global_rate=30, per_chat_rate=1) as fake:
            worker_env = {**env, "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_BASE_URL": fake.base_url,
                          "TELEGRAM_GLOBAL_RATE": str(rate)}
            broadcast_id = create_broadcast(recipients, 10_000_000)
            elapsed, peaks = run_workers(broadcast_id, workers, worker_env)
            times = fake.send_times()
            achieved = (len(times) - 1) / (times[-1] - times[0])
            row = {"workers": workers, "recipients": recipients, "sent": len(times), "rate": round(achieved, 2),
                   "fraction": round(achieved / 30, 4), "count_429": fake.get("stats")["count_429"],
                   "max_in_1s": max_in_window(times), "gaps_ms": gap_percentiles(times), "wall_s": round(elapsed, 1),
                   "peak_rss_mib": round(max(peaks) / 1024, 1)}
        rows.append(row)
        print(f"  rate: {row}", flush=True)
    return rows


def scenario_memory(env: dict, sizes: list[int], rate: float, concurrency: int) -> list[dict]:
    rows = []
    for recipients in sizes:
        reset_data()
        _flush_limiter(env)
        with ExternalFake(global_rate=None) as fake:
            worker_env = {**env, "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_BASE_URL": fake.base_url,
                          "TELEGRAM_GLOBAL_RATE": str(rate)}
            broadcast_id = create_broadcast(recipients, 20_000_000)
            elapsed, peaks = run_workers(broadcast_id, 1, worker_env, "--concurrency", str(concurrency))
            stats = fake.get("stats")
            times = fake.send_times()
            achieved = (len(times) - 1) / (times[-1] - times[0])  # sustained, without process start-up
            row = {"recipients": recipients, "sent": stats["sent"], "wall_s": round(elapsed, 1),
                   "rate": round(achieved, 1), "fraction_of_limiter": round(achieved / rate, 3),
                   "count_429": stats["count_429"], "peak_rss_mib": round(peaks[0] / 1024, 1)}
        rows.append(row)
        print(f"  memory: {row}", flush=True)
    return rows


def _flush_limiter(env: dict) -> None:
    import redis

    redis.Redis.from_url(env["REDIS_URL"]).flushdb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs (smoke test of the benchmark)")
    parser.add_argument("--rate", type=float, default=None, help="limiter rate for the 30/s scenario")
    parser.add_argument("--recipients", type=int, default=None, help="recipients in the 30/s scenario")
    parser.add_argument("--only", choices=["rate", "memory"], default=None)
    parser.add_argument("--memory-rate", type=float, default=200.0, help="limiter rate for the memory scenario")
    parser.add_argument("--memory-concurrency", type=int, default=16, help="requests in flight, memory scenario")
    args = parser.parse_args()
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if not (database_url and database_url.startswith("postgres") and redis_url):
        raise SystemExit("Set DATABASE_URL (PostgreSQL, a throwaway database) and REDIS_URL.")
    ensure_database(database_url)
    env = {**os.environ, **BENCH_ENV}
    setup_django(env)
    from django.conf import settings

    # The limiter's rate: --rate, else TELEGRAM_GLOBAL_RATE from the environment, else the
    # recommended 29.4/s (30 slots then span 1.020 s: room for timing jitter in a strict window).
    rate = args.rate or (settings.TELEGRAM_GLOBAL_RATE if os.environ.get("TELEGRAM_GLOBAL_RATE") else 29.4)
    if args.only in (None, "rate"):
        recipients = args.recipients or (150 if args.quick else 900)
        print(f"rate scenario: fake limit 30/s sliding 1s window, limiter {rate}/s, {recipients} recipients")
        scenario_rate(env, recipients, [1, 4], rate)
    if args.only in (None, "memory"):
        sizes = [1_000, 10_000] if args.quick else [1_000, 100_000]
        print(f"memory scenario: fake unlimited, limiter {args.memory_rate}/s")
        scenario_memory(env, sizes, args.memory_rate, args.memory_concurrency)


if __name__ == "__main__":
    main()
