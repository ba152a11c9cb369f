"""Latency cost of the LLM risk judgement, and the offline detector's speed (not part of the tests).

    .venv/bin/python bench/bench_safety.py [--turns 40] [--reply-ms 900] [--judge-ms 350] [--jitter 0.35]

The fake OpenAI-compatible server on loopback answers each call after a delay drawn from a
log-normal distribution (median ``--reply-ms`` for Natasha's reply, ``--judge-ms`` for a short
classifier answer, spread ``--jitter``), so the real ``openai`` client and HTTP run. Three designs:

* **no judgement**: one reply call (the lower bound);
* **risk field**: the same single call with the ``risk`` contract in the prompt (chosen);
* **parallel classifier**: the reply call and a separate judgement call at once; the turn waits
  for both (threads).

Then the offline detector on the tuning set (per message) and on a 100 kB message.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relove.settings_test")

import django

django.setup()

from django.conf import settings  # noqa: E402

from bot.safety import evaluation  # noqa: E402
from bot.safety.detector import detect  # noqa: E402
from bot.safety.gate import RISK_CONTRACT, parse_risk  # noqa: E402
from relove import llm  # noqa: E402
from testkit.fake_llm import FakeLLM  # noqa: E402

PERSONA = "Ты — Наташа. Ответ верни JSON {\"reply\", \"quick_replies\"}."


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--reply-ms", type=float, default=900)
    parser.add_argument("--judge-ms", type=float, default=350)
    parser.add_argument("--jitter", type=float, default=0.35)
    args = parser.parse_args()
    # Every design sees the same sequence of reply delays (and the classifier its own), so the
    # difference between designs is the design, not the luck of the draw.
    rngs = {}

    def delay(kind, median_ms):
        return median_ms / 1000 * rngs[kind].lognormvariate(0, args.jitter)

    def responder(body):
        system = body["messages"][0]["content"]
        if system.startswith("JUDGE"):
            time.sleep(delay("judge", args.judge_ms))
            return {"risk": "none"}
        time.sleep(delay("reply", args.reply_ms))
        return {"risk": "none", "reply": "Что для тебя сейчас важно?", "quick_replies": ["Покой"]}

    member = [{"role": "user", "content": llm.delimit_member_text("мне сегодня тревожно, но я держусь")}]

    def reply(system):
        return llm.complete_json([{"role": "system", "content": system}, *member],
                                 validate=lambda d: (d["reply"], parse_risk(d)), purpose="bench")

    def judge():
        return llm.complete_json([{"role": "system", "content": "JUDGE " + RISK_CONTRACT}, *member],
                                 validate=parse_risk, purpose="bench", max_tokens=10)

    pool = ThreadPoolExecutor(2)

    def parallel():
        judged = pool.submit(judge)
        result = reply(PERSONA)
        return result, judged.result()

    designs = [("no judgement", lambda: reply(PERSONA)),
               ("risk field (chosen)", lambda: reply(PERSONA + "\n" + RISK_CONTRACT)),
               ("parallel classifier", parallel)]
    with FakeLLM() as fake:
        settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = "bench", fake.base_url
        settings.LLM_TOTAL_BUDGET, settings.LLM_TIMEOUT = 30.0, 10.0
        fake.responder = responder
        rngs.update(reply=random.Random(1), judge=random.Random(2))
        reply(PERSONA)  # warm the client
        print(f"{args.turns} turns each; reply median {args.reply_ms:.0f} ms, judge median {args.judge_ms:.0f} ms, "
              f"jitter {args.jitter}")
        print(f"{'design':24} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'LLM calls/turn':>15}")
        for name, turn in designs:
            rngs.update(reply=random.Random(7), judge=random.Random(8))
            fake.requests.clear()
            times = []
            for _ in range(args.turns):
                started = time.perf_counter()
                turn()
                times.append((time.perf_counter() - started) * 1000)
            print(f"{name:24} {statistics.median(times):8.0f} {percentile(times, 0.95):8.0f} "
                  f"{statistics.mean(times):8.0f} {len(fake.requests) / args.turns:15.1f}")

    rows = evaluation.load("tuning")
    detect("прогрев")
    started = time.perf_counter()
    for row in rows:
        detect(row["text"])
    per = (time.perf_counter() - started) / len(rows) * 1000
    huge = ("обычный день, ничего особенного " * 3300)[:100_000]
    started = time.perf_counter()
    detect(huge)
    print(f"offline detector: {per:.2f} ms per message (tuning set, warm), "
          f"{(time.perf_counter() - started) * 1000:.0f} ms for a 100 kB message")


if __name__ == "__main__":
    main()
