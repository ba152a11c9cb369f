"""A bot process under a burst of members (not part of the test suite).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/relove_bench_conv REDIS_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python bench/bench_conversations.py [--scenario burst|throughput|all]
    .venv/bin/python bench/bench_conversations.py --sqlite --scenario throughput

The bot is the real ``manage.py runbot`` process (long polling), talking to the fake Bot
API and the fake LLM on loopback, both in this process.

* **burst**: N members (60, then 200) write at the same moment; the LLM answers after 3 s;
  the fake Bot API enforces 30 messages/s (429 above). Reports the time from the burst to
  the last answer against the ideal (LLM latency + N/30 s), the 429 count, the most LLM
  requests in flight at once, and the bot process's peak memory (VmHWM).
* **throughput**: the LLM answers at once, the outbound limit is raised and the fake has
  none; 100 members × 6 messages. Reports turns/s for the bot; for the same process with the
  turn replaced by a fixed reply (what the runtime around a turn costs) and by one LLM call and
  a fixed reply (what the LLM client adds); and for a bare python-telegram-bot echo bot
  against the same fake, all in the same run. ``--only-bot`` measures the bot alone. The echo
  sends through 16 pooled connections, as the bot's replies do; it is also run with 128, the
  pool the rounds before 30 Nov 2026 gave it, where httpcore's walk over its pool on every
  request made it several times slower in some runs (a ceiling far too low; docs/benchmarks.md).

The database is created and migrated if needed and its members are deleted before each
scenario: point it at a throwaway database (default without DATABASE_URL: a SQLite file).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_ENV = {
    "SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
    "FIELD_ENCRYPTION_KEY": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
    "DJANGO_SETTINGS_MODULE": "relove.settings",
    "LOG_LEVEL": "WARNING",
    "JOURNEY_ANALYSIS_ENABLED": "false",  # a Celery task: no worker runs in the bench
    "LLM_TIMEOUT": "20",
    "LLM_TOTAL_BUDGET": "30",
    "FLOOD_MAX_PER_MINUTE": "1000",
}

ECHO_BOT = """
import sys
from telegram.ext import ApplicationBuilder, MessageHandler, filters
from telegram.request import HTTPXRequest

async def echo(update, context):
    await update.message.reply_text(update.message.text)

app = (ApplicationBuilder().token(sys.argv[1]).base_url(sys.argv[2])
       .request(HTTPXRequest(connection_pool_size=int(sys.argv[3]))).concurrent_updates(256).build())
app.add_handler(MessageHandler(filters.TEXT, echo))
app.run_polling(poll_interval=0, timeout=1)
"""


# The bot process with the turn itself replaced (bench only): what our runtime costs around a
# turn (update claim and done, per-member ordering, «печатает…», the reply through the limiter),
# and the same plus one call through the LLM client. Subtracting tells what the turn's own work
# (database, safety, prompt) costs.
SKELETON_BOT = """
import sys
import django
django.setup()
from django.core.management import call_command
from bot.services import orchestrator
from bot.ui import OutgoingMessage
from relove import llm

async def handle_async(incoming, *, run_db):
    if sys.argv[1] == "llm":
        await llm.call_async(llm.LLMCall(messages=[{"role": "user", "content": incoming.text}], json_mode=False))
    return [OutgoingMessage("Спасибо, я тебя слышу.")]

orchestrator.handle_async = handle_async
call_command("runbot")
"""


def ensure_database(url: str) -> None:
    if not url.startswith("postgres"):
        return
    from urllib.parse import urlsplit

    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(env: dict) -> None:
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _open_streams() -> None:
    """Three open streams, as in production: every turn scores them and may offer two."""
    from journeys.models import JourneyStage, Stream

    for i, (title, tags, stages) in enumerate([("Смелость", ["страх", "смелость"], [1, 2]),
                                               ("Отношения", ["отношения"], [3]), ("Для всех", [], [])]):
        stream, _ = Stream.objects.get_or_create(slug=f"bench-{i}", defaults={
            "title": title, "tags": tags, "description": "Три недели практики.", "url": "https://relove.ru/"})
        stream.suitable_stages.set(JourneyStage.objects.filter(order__in=stages))


def settle_database() -> None:
    """PostgreSQL: every run starts from the same tables. A run updates each member's row and
    session hundreds of times, and autovacuum does not keep up with a benchmark: after a few runs
    the next one read through 71,639 dead session row versions for 100 live ones (seen here)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def make_members(count: int, first_chat: int) -> list[int]:
    from django.utils import timezone

    from bot.models import ProcessedUpdate
    from profiles.models import TelegramUser

    TelegramUser.objects.all().delete()
    ProcessedUpdate.objects.all().delete()  # each fake numbers its updates from 1 again
    _open_streams()
    now = timezone.now()
    TelegramUser.objects.bulk_create([
        TelegramUser(telegram_id=first_chat + i, first_name="Бенч", language_code="ru", consent_at=now,
                     journey_stage=1, last_activity_at=now) for i in range(count)])
    settle_database()
    return [first_chat + i for i in range(count)]


def peak_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class BotProcess:
    def __init__(self, env: dict, fake_tg, fake_llm, extra: dict | None = None, command: list[str] | None = None):
        self.env = {**os.environ, **env, "TELEGRAM_BOT_TOKEN": fake_tg.token,
                    "TELEGRAM_API_BASE_URL": fake_tg.base_url, "OPENAI_API_KEY": "bench-key",
                    "OPENAI_BASE_URL": fake_llm.base_url, **(extra or {})}
        self.fake_tg = fake_tg
        self.command = command or ["manage.py", "runbot"]

    def __enter__(self):
        polls = len(self.fake_tg.calls_to("getUpdates"))
        self.process = subprocess.Popen([sys.executable, *self.command], cwd=ROOT, env=self.env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while len(self.fake_tg.calls_to("getUpdates")) <= polls:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(self.process.communicate()[0])
            time.sleep(0.1)
        return self

    def __exit__(self, *exc):
        self.process.send_signal(signal.SIGTERM)
        try:
            output = self.process.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            self.process.kill()
            output = self.process.communicate()[0]
        if exc[0] is not None:
            print(output[-4000:], file=sys.stderr)


def wait_answered(fake_tg, chats: list[int], per_chat: int, timeout: float) -> float:
    """Time (time.time()) of the last answer once every chat has ``per_chat`` answers."""
    deadline = time.monotonic() + timeout
    while True:
        sent = [c for c in fake_tg.calls_to("sendMessage") if c.ok]
        counts: dict = {}
        for call in sent:
            counts[call.chat_id] = counts.get(call.chat_id, 0) + 1
        if all(counts.get(chat, 0) >= per_chat for chat in chats):
            return max(c.time for c in sent)
        if time.monotonic() > deadline:
            missing = [chat for chat in chats if counts.get(chat, 0) < per_chat]
            calls = [(c.method, c.status, c.response) for c in fake_tg.calls if c.chat_id in missing[:3]]
            raise RuntimeError(f"{len(missing)} chats not answered within {timeout:.0f}s: {calls[:6]}")
        time.sleep(0.05)


def scenario_burst(env: dict, sizes: list[int], latency: float) -> None:
    from testkit.fake_llm import FakeLLM
    from testkit.fake_telegram import FakeTelegram

    print(f"\n## burst: LLM latency {latency:.0f} s, fake Bot API 30 msg/s")
    print("| members | last answered | ideal (latency + N/30) | ratio | 429s | LLM in flight (max) | bot peak RSS |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        chats = make_members(size, 500_000)
        with FakeTelegram(global_rate=30, per_chat_rate=None) as fake_tg, FakeLLM() as fake_llm:
            fake_llm.responder = lambda body: (time.sleep(latency), None)[1]
            with BotProcess(env, fake_tg, fake_llm) as bot:
                started = time.time()
                for chat in chats:
                    fake_tg.push_update(fake_tg.message_update(chat, "Мне трудно решиться на перемены"))
                last = wait_answered(fake_tg, chats, 1, timeout=latency + size / 10 + 60)
                rss = peak_rss_mib(bot.process.pid)
            elapsed = last - started
            ideal = latency + size / 30
            print(f"| {size} | {elapsed:.1f} s | {ideal:.1f} s | {elapsed / ideal:.2f}× | {fake_tg.count_429} | "
                  f"{fake_llm.max_in_flight} | {rss:.0f} MiB |", flush=True)


def _bot_rate(env: dict, chats: list[int], messages: int, command: list[str] | None = None) -> float:
    from bot.models import ProcessedUpdate
    from testkit.fake_llm import FakeLLM
    from testkit.fake_telegram import FakeTelegram

    ProcessedUpdate.objects.all().delete()  # each fake numbers its updates from 1 again
    settle_database()
    total = len(chats) * messages
    with FakeTelegram() as fake_tg, FakeLLM() as fake_llm:
        extra = {"TELEGRAM_GLOBAL_RATE": "100000", "TELEGRAM_PER_CHAT_INTERVAL": "0"}
        with BotProcess(env, fake_tg, fake_llm, extra, command):
            started = time.time()
            for round_ in range(messages):
                for chat in chats:
                    fake_tg.push_update(fake_tg.message_update(chat, f"Сообщение {round_}: что мне делать?"))
            last = wait_answered(fake_tg, chats, messages, timeout=total)
    return total / (last - started)


def _echo_rate(chats: list[int], messages: int, connections: int) -> float:
    from testkit.fake_telegram import FakeTelegram

    total = len(chats) * messages
    with FakeTelegram() as fake_tg:
        echo = subprocess.Popen([sys.executable, "-c", ECHO_BOT, fake_tg.token, fake_tg.base_url, str(connections)],
                                cwd=ROOT)
        try:
            deadline = time.monotonic() + 30
            while not fake_tg.calls_to("getUpdates") and time.monotonic() < deadline:
                time.sleep(0.1)
            started = time.time()
            for round_ in range(messages):
                for chat in chats:
                    fake_tg.push_update(fake_tg.message_update(chat, f"Сообщение {round_}"))
            last = wait_answered(fake_tg, chats, messages, timeout=total)
        finally:
            echo.send_signal(signal.SIGTERM)
            echo.wait(30)
    return total / (last - started)


def scenario_throughput(env: dict, members: int, messages: int, only_bot: bool = False) -> None:
    print(f"\n## throughput: LLM instant, no outbound limit, {members} members × {messages} messages")
    chats = make_members(members, 600_000)
    bot_rate = _bot_rate(env, chats, messages)
    if only_bot:
        print(f"| bot turns/s |\n|---:|\n| {bot_rate:.0f} |", flush=True)
        return
    skeleton = _bot_rate(env, chats, messages, ["-c", SKELETON_BOT, "plain"])
    skeleton_llm = _bot_rate(env, chats, messages, ["-c", SKELETON_BOT, "llm"])
    from bot.telegram.runtime import REPLY_CONNECTIONS

    echo_rate = _echo_rate(chats, messages, REPLY_CONNECTIONS)
    echo_big_pool = _echo_rate(chats, messages, 128)
    print("| bot turns/s | runtime alone/s | runtime + one LLM call/s | bare PTB echo/s | bot / echo "
          "| echo, 128 connections/s |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {bot_rate:.0f} | {skeleton:.0f} | {skeleton_llm:.0f} | {echo_rate:.0f} | {bot_rate / echo_rate:.0%} "
          f"| {echo_big_pool:.0f} |", flush=True)


def _webhook_rate(env: dict, chats: list[int], messages: int, workers: int) -> float:
    """The image's own command with ``workers`` uvicorn workers; updates POSTed as Telegram does
    (many connections at once, one member's updates never in parallel), answers through the fake."""
    import json
    from concurrent.futures import ThreadPoolExecutor

    from bot.models import ProcessedUpdate
    from testkit.fake_llm import FakeLLM
    from testkit.fake_telegram import FakeTelegram
    from testkit.image_server import ImageServer, image_command

    ProcessedUpdate.objects.all().delete()
    command = image_command()
    command[command.index("--workers") + 1] = str(workers)
    secret = "bench-webhook-secret"
    total = len(chats) * messages
    with FakeTelegram() as fake_tg, FakeLLM() as fake_llm:
        server_env = {**env, "TELEGRAM_BOT_TOKEN": fake_tg.token, "TELEGRAM_API_BASE_URL": fake_tg.base_url,
                      "TELEGRAM_WEBHOOK_SECRET": secret, "OPENAI_API_KEY": "bench-key",
                      "OPENAI_BASE_URL": fake_llm.base_url, "ALLOWED_HOSTS": "127.0.0.1",
                      "TELEGRAM_GLOBAL_RATE": "100000", "TELEGRAM_PER_CHAT_INTERVAL": "0"}
        with ImageServer(server_env, command=command) as server:
            server.wait_healthy()
            headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}

            def member_says(chat: int) -> None:  # Telegram sends a chat's next update after the last is taken
                for round_ in range(messages):
                    update = fake_tg.message_update(chat, f"Сообщение {round_}: что мне делать?")
                    server.request("/telegram/webhook/", data=json.dumps(update).encode(), headers=headers)

            started = time.time()
            with ThreadPoolExecutor(len(chats)) as pool:
                list(pool.map(member_says, chats))
            last = wait_answered(fake_tg, chats, messages, timeout=total)
    return total / (last - started)


def scenario_webhook(env: dict, members: int, messages: int, workers: list[int]) -> None:
    print(f"\n## webhook: the image's command, LLM instant, no outbound limit, {members} members × {messages}")
    chats = make_members(members, 700_000)
    print("| uvicorn workers | turns/s |\n|---:|---:|")
    for count in workers:
        print(f"| {count} | {_webhook_rate(env, chats, messages, count):.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", choices=["burst", "throughput", "webhook", "all"], default="all")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="webhook: uvicorn workers")
    parser.add_argument("--sizes", type=int, nargs="+", default=[60, 200])
    parser.add_argument("--latency", type=float, default=3.0)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--messages", type=int, default=6)
    parser.add_argument("--only-bot", action="store_true", help="throughput of the bot alone (quicker iterations)")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file under var/ (ignores DATABASE_URL)")
    args = parser.parse_args()
    env = dict(BENCH_ENV)
    if args.sqlite or not os.environ.get("DATABASE_URL"):
        path = ROOT / "var" / "bench_conversations.sqlite3"
        env["DATABASE_URL"] = f"sqlite:///{path}"
        env.pop("REDIS_URL", None)
        os.environ.pop("REDIS_URL", None)
    else:
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    ensure_database(env["DATABASE_URL"])
    setup_django(env)
    from django.db import connection

    print(f"database: {connection.vendor}; redis: {bool(os.environ.get('REDIS_URL'))}")
    if args.scenario in ("burst", "all"):
        scenario_burst(env, args.sizes, args.latency)
    if args.scenario in ("throughput", "all"):
        scenario_throughput(env, args.members, args.messages, only_bot=args.only_bot)
    if args.scenario in ("webhook", "all"):
        scenario_webhook(env, args.members, args.messages, args.workers)


if __name__ == "__main__":
    main()
