"""Cost of turning the LLM's words into Telegram HTML (``telegram_html.llm_markup``) per reply.

    .venv/bin/python bench/bench_llm_markup.py [--repeat 7]

Compares plain escaping (what replies cost before Natasha could bold a phrase) with the nh3
sanitiser plus entity normalisation, and with splitting into ≤ 4096-character messages, for
a typical reply (~1,200 characters with one bold phrase) and the longest one accepted
(``REPLY_MAX_CHARS``, 12,000). Median of ``--repeat`` runs, microseconds per reply.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relove.settings_test")
    import django

    django.setup()
    from bot.telegram_html import escape, llm_markup, split

    typical = ("Запомни: <b>страх — это компас</b>. " + "Обычный текст ответа с вопросом? " * 40)[:1200]
    longest = (typical * 10)[:12000]
    print(f"{'reply':>12} {'escape':>10} {'llm_markup':>11} {'markup+split':>13}  (µs per reply, median)")
    for name, text in (("1,200 chars", typical), ("12,000 chars", longest)):
        number = 500 if len(text) < 2000 else 50

        def median(fn, number=number):
            runs = timeit.repeat(fn, number=number, repeat=args.repeat)
            return statistics.median(runs) / number * 1e6

        print(f"{name:>12} {median(lambda: escape(text)):>10.0f} {median(lambda: llm_markup(text)):>11.0f} "
              f"{median(lambda: split(llm_markup(text))):>13.0f}")


if __name__ == "__main__":
    main()
