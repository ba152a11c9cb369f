"""Recall and false-positive rate of the offline detector and of the combined gate.

The evaluation sets are JSON lines ``{"text", "label": "crisis"|"ordinary", "category"}``:
``eval/tuning.jsonl`` and ``eval/dev.jsonl`` (written by the rule authors; the rules were tuned
on them), ``eval/heldout.jsonl`` and ``eval/heldout2.jsonl`` (written by others, scored without
reading them). ``manage.py safety_eval`` prints every set present; tests guard them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from relove import llm

from . import gate

EVAL_DIR = Path(__file__).resolve().parent / "eval"
SETS = {"tuning": EVAL_DIR / "tuning.jsonl", "dev": EVAL_DIR / "dev.jsonl", "heldout": EVAL_DIR / "heldout.jsonl",
        "heldout2": EVAL_DIR / "heldout2.jsonl"}


def load(name: str) -> list[dict]:
    path = SETS[name]
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class Score:
    crisis: int = 0
    caught: int = 0
    ordinary: int = 0
    false_alarms: int = 0
    misses: list[dict] = field(default_factory=list)
    alarms: list[dict] = field(default_factory=list)

    def add(self, row: dict, risk: bool) -> None:
        if row["label"] == "crisis":
            self.crisis += 1
            self.caught += risk
            if not risk:
                self.misses.append(row)
        else:
            self.ordinary += 1
            self.false_alarms += risk
            if risk:
                self.alarms.append(row)

    @property
    def recall(self) -> float:
        return self.caught / self.crisis if self.crisis else 1.0

    @property
    def false_positive_rate(self) -> float:
        return self.false_alarms / self.ordinary if self.ordinary else 0.0

    def line(self) -> str:
        return (f"recall {self.recall:.1%} ({self.caught}/{self.crisis}), "
                f"false positives {self.false_positive_rate:.1%} ({self.false_alarms}/{self.ordinary})")


def score_offline(rows: list[dict]) -> Score:
    score = Score()
    for row in rows:
        verdict = gate.offline_verdict(row["text"])
        score.add(row, bool(verdict and verdict.risk))
    return score


def gate_decision(text: str) -> gate.Decision:
    """The combined gate for one message as a turn makes it: offline first, then the LLM's
    ``risk`` field (same prompt contract and validation as Natasha's reply)."""
    from bot.services.natasha import TURN_SCHEMA, _validate_turn, risk_instructions

    offline = gate.offline_verdict(text)
    if offline is not None and offline.risk:
        return gate.from_offline(offline)
    result = llm.complete_json(
        [{"role": "system", "content": risk_instructions()},
         {"role": "user", "content": llm.delimit_member_text(text[:4000])}],
        validate=_validate_turn, schema=TURN_SCHEMA, purpose="safety_eval") if llm.llm_enabled() else None
    return gate.decide(offline=offline, llm_risk=result[2] if result else None)


def score_gate(rows: list[dict]) -> Score:
    score = Score()
    for row in rows:
        decision = gate_decision(row["text"])
        score.add(row, decision.crisis or decision.unchecked)
    return score
