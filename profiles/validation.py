"""Checks for structured LLM output before it is stored (Zulip-style ``check_*``).

Stage analyses and profiles are written by the LLM from member text and are later fed back
into prompts, so they are an injection channel unless every field is checked: the right
type, a bounded length, no control characters, and no text that reads like an instruction
to a model. A ``check_*`` function returns the cleaned value or raises ``ValueError`` with
a message that names the field and the rule, never the content (it is personal data).
"""

from __future__ import annotations

import math
import re
import unicodedata

# Control and invisible formatting characters (zero-width, bidi overrides, BOM).
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_WHITESPACE = re.compile(r"\s+")
# Our own prompt delimiters and chat-template tokens must never survive into stored text.
_MARKERS = re.compile(r"<<<|>>>|<\|[^|>]{0,40}\|>|```")

_INSTRUCTION_PATTERNS = [
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instruction|prompt|rule|message|above|previous|prior)",
    r"\bsystem\s*prompt\b",
    r"\byou\s+are\s+now\b",
    r"\bnew\s+instructions?\b",
    r"\bdeveloper\s+mode\b",
    r"\bjailbreak",
    r"\bact\s+as\b",
    r"(^|\s)(system|assistant|developer)\s*:",
    r"\[/?(inst|system)\]",
    r"\bигнорируй(те)?\b",
    r"\bзабудь(те)?\b.{0,40}(инструкц|правил|промпт|сказан|выше)",
    r"\b(предыдущ|прежн)\w*\s+(инструкц|указани)",
    r"\b(все|всё)\s+инструкц",
    r"\bсистемн\w*\s+(промпт|инструкц|сообщени|подсказ)",
    r"\bты\s+теперь\b",
    r"\bтеперь\s+ты\b",
    r"\bнов\w*\s+инструкц",
    r"\bне\s+следуй(те)?\b",
    r"\bпромпт",
    r"\b(переведи|перемести|поставь)\w*\b.{0,30}\bэтап",
]
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _INSTRUCTION_PATTERNS), re.IGNORECASE | re.DOTALL)


def clean_text(value: str) -> str:
    """One line of plain text: NFC, no control/invisible characters, no prompt markers, single spaces."""
    text = unicodedata.normalize("NFC", value)
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    text = _INVISIBLE.sub("", text)
    text = _MARKERS.sub(" ", text)
    return _WHITESPACE.sub(" ", text).strip()


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary when one is near, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,.;:—-") + "…"


def looks_like_instruction(text: str) -> bool:
    """True for text that addresses a model ("ignore previous instructions", "ты теперь…")."""
    return bool(_INSTRUCTION.search(text))


def check_text(value, *, field: str, max_len: int, required: bool = False) -> str:
    """A bounded, single-line, descriptive string ('' for None when not required)."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{field}: not a string")
    text = clean_text(value)
    if required and not text:
        raise ValueError(f"{field}: empty")
    if looks_like_instruction(text):
        raise ValueError(f"{field}: instruction-like content")
    return truncate(text, max_len)


def check_text_list(value, *, field: str, max_items: int, max_len: int) -> list[str]:
    """A list of bounded strings; empty items dropped, exact repeats removed, at most ``max_items``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{field}: not a list")
    out: list[str] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        text = check_text(item, field=f"{field}[{i}]", max_len=max_len)
        key = text.casefold()
        if text and key not in seen:
            seen.add(key)
            out.append(text)
    return out[:max_items]


def check_int(value, *, field: str, low: int, high: int) -> int:
    """An integer in [low, high]; booleans and numeric strings are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{field}: not an integer")
    if not low <= value <= high:
        raise ValueError(f"{field}: out of range")
    return value


def check_fraction(value, *, field: str) -> float:
    """A finite number in [0, 1]; booleans and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{field}: not a number")
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise ValueError(f"{field}: out of range")
    return round(number, 3)
