"""The LLM client: OpenAI-compatible chat completions with bounded retries.

Callers get either validated data or ``None`` — never an exception for an LLM failure — so
every caller has a template fallback and the member always gets an answer. Retries use
exponential backoff with full jitter inside a total time budget (``LLM_TOTAL_BUDGET``).
Nothing here logs prompt or completion text: they carry personal data.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import openai
from django.conf import settings

logger = logging.getLogger(__name__)

MEMBER_OPEN = "<<<MEMBER>>>"
MEMBER_CLOSE = "<<<END>>>"
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
# Invisible characters could hide a marker from us and not from the model ("<<\u200b<END>>>").
_INVISIBLE = re.compile(r"[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
# Any run of three angle brackets (ASCII, full-width, small) and chat-template openers "<|".
_ANGLE_RUN = re.compile(r"[<\uff1c\ufe64]{3,}|[>\uff1e\ufe65]{3,}|<\|")
_ESCAPED = {"<": "‹", "\uff1c": "‹", "\ufe64": "‹", ">": "›", "\uff1e": "›", "\ufe65": "›", "|": "|"}


def llm_enabled() -> bool:
    return bool(settings.OPENAI_API_KEY)


def escape_markers(text: str) -> str:
    """Member-derived text with every delimiter-like sequence escaped, in one pass.

    Stripping markers once is not enough: ``<<<E<<<END>>>ND>>>`` becomes ``<<<END>>>`` after
    one strip. Instead every run of three or more angle brackets becomes guillemets (the
    text stays readable, its length is kept) after invisible characters are removed, so no
    run can survive or be re-formed: the output holds no ``<<<`` or ``>>>`` at all.
    """
    visible = _INVISIBLE.sub("", text)
    return _ANGLE_RUN.sub(lambda m: "".join(_ESCAPED[ch] for ch in m.group(0)), visible)


def delimit_member_text(text: str) -> str:
    """Wrap member-derived text as one data block whose markers it cannot forge or close."""
    return f"{MEMBER_OPEN}\n{escape_markers(text)}\n{MEMBER_CLOSE}"


@dataclass(frozen=True)
class LLMSettings:
    api_key: str
    base_url: str | None
    model: str
    timeout: float
    budget: float
    max_attempts: int

    @classmethod
    def current(cls) -> LLMSettings:
        return cls(settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL, settings.LLM_MODEL,
                   settings.LLM_TIMEOUT, settings.LLM_TOTAL_BUDGET, settings.LLM_MAX_ATTEMPTS)


_clients: dict[LLMSettings, openai.OpenAI] = {}


def _client(cfg: LLMSettings) -> openai.OpenAI:
    client = _clients.get(cfg)
    if client is None:
        # Our own retry loop owns backoff and the total budget, so the SDK's is off.
        client = openai.OpenAI(api_key=cfg.api_key, base_url=cfg.base_url, timeout=cfg.timeout, max_retries=0)
        _clients[cfg] = client
    return client


_RETRYABLE = (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError,
              openai.InternalServerError)


def _is_retryable(exc: Exception) -> bool:
    if isinstance(exc, _RETRYABLE):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


def complete(messages: list[dict[str, str]], *, json_mode: bool = True, temperature: float = 0.8,
             max_tokens: int = 700, purpose: str = "chat") -> str | None:
    """One chat completion with retries; returns the content, or None when the LLM is unavailable."""
    if not llm_enabled():
        return None
    cfg = LLMSettings.current()
    deadline = time.monotonic() + cfg.budget
    kwargs: dict[str, Any] = {"model": cfg.model, "messages": messages, "temperature": temperature,
                              "max_tokens": max_tokens}
    if json_mode:
        kwargs["response_format"] = {"type": "json_object"}
    for attempt in range(1, cfg.max_attempts + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            break
        try:
            response = _client(cfg).with_options(timeout=min(cfg.timeout, remaining)).chat.completions.create(
                **kwargs)
            content = response.choices[0].message.content if response.choices else None
            if content:
                return content
            logger.warning("llm %s: empty completion (attempt %d)", purpose, attempt)
        except Exception as exc:  # noqa: BLE001 — any client failure is handled the same way
            if not _is_retryable(exc):
                logger.warning("llm %s: permanent error %s", purpose, type(exc).__name__)
                return None
            logger.warning("llm %s: attempt %d failed with %s", purpose, attempt, type(exc).__name__)
        # Full jitter: sleep U(0, base * 2^attempt), never past the deadline.
        pause = random.uniform(0, min(4.0, 0.25 * 2**attempt))
        if time.monotonic() + pause >= deadline:
            break
        time.sleep(pause)
    logger.warning("llm %s: giving up within the %.0fs budget", purpose, cfg.budget)
    return None


def parse_json_object(content: str | None) -> dict | None:
    """The first JSON object in a completion (models sometimes wrap it in prose or fences)."""
    if not content:
        return None
    try:
        data = json.loads(content)
    except ValueError:
        match = _JSON_OBJECT.search(content)
        if not match:
            return None
        try:
            data = json.loads(match.group(0))
        except ValueError:
            return None
    return data if isinstance(data, dict) else None


def complete_json(messages: list[dict[str, str]], *, validate: Callable[[dict], Any], **kwargs) -> Any | None:
    """A completion parsed as a JSON object and passed through ``validate``.

    ``validate`` returns the cleaned value or raises ``ValueError``; invalid output is
    discarded (logged without its content) and the caller falls back.
    """
    data = parse_json_object(complete(messages, **kwargs))
    if data is None:
        return None
    try:
        return validate(data)
    except (ValueError, TypeError, KeyError) as exc:
        logger.warning("llm %s: output failed validation (%s)", kwargs.get("purpose", "chat"), exc)
        return None
