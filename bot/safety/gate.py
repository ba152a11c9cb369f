"""The safety gate: one decision per member message from the offline verdict and the LLM's
risk judgement.

The LLM judges risk inside the same structured reply Natasha already returns (a ``risk``
field; see ``docs/safety.md`` for why not a second, parallel call). The judgement's criteria
are a staff-editable prompt; the contract that asks for the field, and this gate, are code:
nothing in the admin turns them off. Any failure — the detector raising, the LLM down, the
field missing or malformed — is "risk unknown" for that source, and the other source decides;
when both are unknown the persona reply is not sent (a gentle reply goes out instead).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .detector import Verdict, detect

logger = logging.getLogger(__name__)

NONE, CRISIS, ACUTE = "none", "crisis", "acute"
RISK_LEVELS = (NONE, CRISIS, ACUTE)

# Fixed, not editable: the output contract the gate depends on.
RISK_CONTRACT = (
    "Обязательно добавь в тот же JSON-объект поле \"risk\" со значением \"none\", \"crisis\" или \"acute\" — "
    "твою оценку последнего сообщения участника по критериям ниже. \"acute\" — опасность прямо сейчас "
    "(уже что-то принял, стоит на краю, идёт насилие). Оценивай смысл, а не отдельные слова; метафоры "
    "пути («смерть старого себя»), шутки и идиомы («умираю от смеха») — это \"none\". "
    "Поле risk обязательно в каждом ответе."
)


@dataclass(frozen=True)
class Decision:
    crisis: bool
    acute: bool = False
    detected_by: str = ""  # "keywords" (offline detector) | "llm"
    category: str = ""
    evidence: tuple[str, ...] = ()
    unchecked: bool = False  # neither source could judge: never send a persona reply


def warm_up() -> None:
    """Load the detector's dictionaries now (process start) rather than on the first messages."""
    detect("Доброе утро")


def offline_verdict(text: str) -> Verdict | None:
    """The offline detector's verdict, or None when it failed (logged without the text)."""
    try:
        return detect(text)
    except Exception as exc:  # noqa: BLE001 — a bug here must degrade to "unknown", never to "no risk"
        logger.error("safety: offline detector failed (%s); risk unknown", type(exc).__name__)
        return None


def parse_risk(data: dict) -> str | None:
    """The ``risk`` field of a structured reply, or None when missing or malformed."""
    value = data.get("risk")
    if isinstance(value, str) and value.strip().lower() in RISK_LEVELS:
        return value.strip().lower()
    return None


def from_offline(verdict: Verdict) -> Decision:
    return Decision(True, acute=verdict.acute, detected_by="keywords", category=verdict.category,
                    evidence=verdict.evidence)


def decide(*, offline: Verdict | None, llm_risk: str | None) -> Decision:
    """Risk if either source says so; "unchecked" only when both are unknown."""
    if offline is not None and offline.risk:
        return from_offline(offline)
    if llm_risk in (CRISIS, ACUTE):
        return Decision(True, acute=llm_risk == ACUTE, detected_by="llm", category="llm")
    if offline is None and llm_risk is None:
        return Decision(False, unchecked=True)
    return Decision(False)
