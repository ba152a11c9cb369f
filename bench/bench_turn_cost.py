"""Cost of one conversation turn as the session grows, and SQL queries per update.

    .venv/bin/python bench/bench_turn_cost.py [--turns 800] [--database-url URL] [--llm]

Drives ``orchestrator.handle`` (the same path as Telegram and ``manage.py chat``) for one
consented member: ``--turns`` member messages in one session, timing each turn, then
reports the median cost around turn 10 and around the last turn, and the SQL queries of a
plain turn, a quick-reply press and a command (``/progress``). With ``--llm`` the replies
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

    TelegramUser.objects.filter(telegram_id=777_001).delete()
    identity = TelegramIdentity(telegram_id=777_001, first_name="Бенч", language_code="ru")
    handle(Incoming(identity, Kind.COMMAND, text="/start", command="start"))
    out = handle(Incoming(identity, Kind.CALLBACK, callback_data="c:y"))
    costs = []
    for i in range(args.turns):
        started = time.perf_counter()
        out = handle(Incoming(identity, Kind.TEXT, text=f"Сообщение номер {i}: мне важно понять, чего я хочу."))
        costs.append(time.perf_counter() - started)

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

    def window(center: int) -> float:
        lo, hi = max(0, center - 5), min(len(costs), center + 5)
        return statistics.median(costs[lo:hi]) * 1000

    early, late = window(10), window(len(costs) - 6)
    print(f"database: {connection.vendor}; replies: {'fake LLM' if args.llm else 'templates'}")
    print(f"turn 10: {early:.1f} ms   turn {len(costs)}: {late:.1f} ms   ratio {late / early:.2f}")
    for lo in range(0, len(costs), max(1, len(costs) // 8)):
        chunk = costs[lo:lo + max(1, len(costs) // 8)]
        print(f"  turns {lo + 1:>4}-{lo + len(chunk):<4} median {statistics.median(chunk) * 1000:.1f} ms")
    print(f"queries: plain turn {turn_queries}, quick-reply press {press_queries}, command /progress "
          f"{command_queries}")


if __name__ == "__main__":
    main()
