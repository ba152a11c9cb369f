"""Cost of one conversation turn as the session grows, and SQL queries per update.

    .venv/bin/python bench/bench_turn_cost.py [--turns 800] [--database-url URL] [--llm]

Drives ``orchestrator.handle`` (the same path as Telegram and ``manage.py chat``) for two
consented members: one session is filled to ``--turns`` stored turns, the other has ~10;
then the two members take turns alternately (``--pairs``), so load on the machine hits
both alike, and the medians are compared. Also reports the SQL queries of a plain turn, a
quick-reply press and a command (``/progress``). With ``--llm`` the replies
come from the loopback fake LLM answering at once (the summary every 12 turns included);
without it from templates. The analysis task and the flood guard are switched off: they are
not part of the turn being measured.

Uses only ``handle`` and ``Incoming``, so the same script measures an older checkout too.
Default database: a throwaway SQLite file under var/.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path.cwd()
sys.path.insert(0, str(ROOT))


def setup(database_url: str) -> None:
    os.environ.update({"DATABASE_URL": database_url, "SECRET_KEY": "bench-only-secret-key",
                       "FIELD_ENCRYPTION_KEY": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
                       "DJANGO_SETTINGS_MODULE": "relove.settings", "LOG_LEVEL": "WARNING",
                       "JOURNEY_ANALYSIS_ENABLED": "false", "FLOOD_MAX_PER_MINUTE": "1000000",
                       "CELERY_TASK_ALWAYS_EAGER": "true"})
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=800)
    parser.add_argument("--database-url", default=f"sqlite:///{ROOT / 'var' / 'bench_turn_cost.sqlite3'}")
    parser.add_argument("--pairs", type=int, default=40, help="alternating short/long turns measured")
    parser.add_argument("--llm", action="store_true", help="answers from the fake LLM instead of templates")
    args = parser.parse_args()
    if args.database_url.startswith("sqlite:///"):
        Path(args.database_url[len("sqlite:///"):]).unlink(missing_ok=True)
    setup(args.database_url)

    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bot.services.members import TelegramIdentity
    from bot.services.orchestrator import Incoming, Kind, handle
    from profiles.models import TelegramUser

    fake = None
    if args.llm:
        from testkit.fake_llm import FakeLLM

        fake = FakeLLM().start()
        fake.responder = lambda body: ({"reply": "Что ты чувствуешь сейчас?", "quick_replies": ["Страх", "Покой"]}
                                       if body.get("response_format") else "Сводка: участник говорил о работе.")
        settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = "bench-key", fake.base_url

    def member(telegram_id: int) -> TelegramIdentity:
        TelegramUser.objects.filter(telegram_id=telegram_id).delete()
        identity = TelegramIdentity(telegram_id=telegram_id, first_name="Бенч", language_code="ru")
        handle(Incoming(identity, Kind.COMMAND, text="/start", command="start"))
        handle(Incoming(identity, Kind.CALLBACK, callback_data="c:y"))
        return identity

    def turn(identity: TelegramIdentity, i: int) -> float:
        started = time.perf_counter()
        handle(Incoming(identity, Kind.TEXT, text=f"Сообщение номер {i}: мне важно понять, чего я хочу."))
        return time.perf_counter() - started

    # Each member message is two stored turns (theirs and Natasha's).
    short, long_ = member(777_001), member(777_002)
    for i in range(5):
        turn(short, i)
    fill = [turn(long_, i) for i in range(args.turns // 2)]
    # Side by side, alternating, so the machine's load affects both equally.
    early, late = [], []
    for i in range(args.pairs):
        early.append(turn(short, 100 + i))
        late.append(turn(long_, 100 + i))
    identity = long_
    out = handle(Incoming(identity, Kind.TEXT, text="Что дальше?"))

    def counted(incoming) -> int:
        with CaptureQueriesContext(connection) as queries:
            handle(incoming)
        return len(queries)

    turn_queries = counted(Incoming(identity, Kind.TEXT, text="Ещё одно сообщение"))
    button = next((b[0].callback_data for m in reversed(out) for b in (m.buttons or []) if b[0].callback_data), None)
    press_queries = counted(Incoming(identity, Kind.CALLBACK, callback_data=button)) if button else None
    command_queries = counted(Incoming(identity, Kind.COMMAND, text="/progress", command="progress"))
    if fake:
        fake.stop()

    def ms(values) -> float:
        return statistics.median(values) * 1000

    print(f"database: {connection.vendor}; replies: {'fake LLM' if args.llm else 'templates'}")
    print(f"turn ~10: {ms(early):.1f} ms   turn ~{args.turns}: {ms(late):.1f} ms   ratio {ms(late) / ms(early):.2f} "
          f"(medians of {args.pairs} alternating turns)")
    step = max(1, len(fill) // 4)
    for lo in range(0, len(fill), step):
        chunk = fill[lo:lo + step]
        print(f"  while filling: turns {2 * lo + 1:>4}-{2 * (lo + len(chunk)):<4} median {ms(chunk):.1f} ms")
    print(f"queries: plain turn {turn_queries}, quick-reply press {press_queries}, command /progress "
          f"{command_queries}")


if __name__ == "__main__":
    main()
