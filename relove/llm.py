"""The LLM client: OpenAI-compatible chat completions with bounded retries.

Callers get either validated data or ``None`` — never an exception for an LLM failure — so
every caller has a template fallback and the member always gets an answer. Retries use
exponential backoff with full jitter inside a total time budget (``LLM_TOTAL_BUDGET``).
Nothing here logs prompt or completion text: they carry personal data.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import openai
from django.conf import settings

from relove.core import liveness
from relove.core.staff_errors import describe

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


_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[LLMSettings, openai.AsyncOpenAI]] = (
    weakref.WeakKeyDictionary())


def _async_client(cfg: LLMSettings) -> openai.AsyncOpenAI:
    """One async client per event loop: its connection pool belongs to the loop that made it."""
    per_loop = _async_clients.setdefault(asyncio.get_running_loop(), {})
    client = per_loop.get(cfg)
    if client is None:
        client = openai.AsyncOpenAI(api_key=cfg.api_key, base_url=cfg.base_url, timeout=cfg.timeout, max_retries=0)
        per_loop[cfg] = client
    return client


_RETRYABLE = (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError,
              openai.InternalServerError)


def _is_retryable(exc: Exception) -> bool:
    if isinstance(exc, _RETRYABLE):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


@dataclass(frozen=True)
class LLMCall:
    """One completion a synchronous service needs; see ``run_steps`` and ``run_steps_async``."""

    messages: list[dict[str, str]]
    json_mode: bool = True
    temperature: float = 0.8
    max_tokens: int = 700
    purpose: str = "chat"
    validate: Callable[[dict], Any] | None = field(default=None, compare=False)

    def kwargs(self, cfg: LLMSettings) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": cfg.model, "messages": self.messages, "temperature": self.temperature,
                                  "max_tokens": self.max_tokens}
        if self.json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        return kwargs

    def result(self, content: str | None) -> Any:
        """The completion as the caller wants it: text, or validated JSON when ``validate`` is set."""
        return content if self.validate is None else _validated(content, self.validate, self.purpose)


def _content(response) -> str | None:
    liveness.note(liveness.LLM, detail="отвечает")  # the staff dashboard's "LLM reachable"
    return response.choices[0].message.content if response.choices else None


def _failed(call: LLMCall, attempt: int, exc: Exception) -> bool:
    """Log an attempt's failure; True when it is worth another attempt."""
    liveness.note(liveness.LLM, ok=False, detail=describe(exc))
    if not _is_retryable(exc):
        logger.warning("llm %s: permanent error %s", call.purpose, type(exc).__name__)
        return False
    logger.warning("llm %s: attempt %d failed with %s", call.purpose, attempt, type(exc).__name__)
    return True


def _pause(attempt: int, deadline: float) -> float | None:
    """Full jitter: U(0, base * 2^attempt), or None when it would run past the deadline."""
    pause = random.uniform(0, min(4.0, 0.25 * 2**attempt))
    return None if time.monotonic() + pause >= deadline else pause


def call_sync(call: LLMCall) -> str | None:
    """One chat completion with retries; the content, or None when the LLM is unavailable."""
    if not llm_enabled():
        return None
    cfg = LLMSettings.current()
    deadline = time.monotonic() + cfg.budget
    for attempt in range(1, cfg.max_attempts + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            break
        try:
            response = _client(cfg).with_options(timeout=min(cfg.timeout, remaining)).chat.completions.create(
                **call.kwargs(cfg))
            if content := _content(response):
                return content
            logger.warning("llm %s: empty completion (attempt %d)", call.purpose, attempt)
        except Exception as exc:  # noqa: BLE001 — any client failure is handled the same way
            if not _failed(call, attempt, exc):
                return None
        pause = _pause(attempt, deadline)
        if pause is None:
            break
        time.sleep(pause)
    logger.warning("llm %s: giving up within the %.0fs budget", call.purpose, cfg.budget)
    return None


async def call_async(call: LLMCall) -> str | None:
    """``call_sync`` on the event loop: waiting for the LLM holds no thread and no database connection."""
    if not llm_enabled():
        return None
    cfg = LLMSettings.current()
    deadline = time.monotonic() + cfg.budget
    for attempt in range(1, cfg.max_attempts + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            break
        try:
            response = await _async_client(cfg).with_options(
                timeout=min(cfg.timeout, remaining)).chat.completions.create(**call.kwargs(cfg))
            if content := _content(response):
                return content
            logger.warning("llm %s: empty completion (attempt %d)", call.purpose, attempt)
        except Exception as exc:  # noqa: BLE001 — any client failure is handled the same way
            if not _failed(call, attempt, exc):
                return None
        pause = _pause(attempt, deadline)
        if pause is None:
            break
        await asyncio.sleep(pause)
    logger.warning("llm %s: giving up within the %.0fs budget", call.purpose, cfg.budget)
    return None


def complete(messages: list[dict[str, str]], *, json_mode: bool = True, temperature: float = 0.8,
             max_tokens: int = 700, purpose: str = "chat") -> str | None:
    """One chat completion with retries; returns the content, or None when the LLM is unavailable."""
    return call_sync(LLMCall(messages, json_mode=json_mode, temperature=temperature, max_tokens=max_tokens,
                             purpose=purpose))


# --- services that wait for the LLM without holding a thread --------------------------------
#
# A service that needs a completion in the middle of its work is written as a generator: it
# does its database work, ``yield``s an ``LLMCall`` and receives ``call.result(content)``
# back. ``run_steps`` drives it synchronously (terminal chat, Celery, tests);
# ``run_steps_async`` runs the database parts in a bounded thread pool and awaits the LLM on
# the event loop in between, so a slow LLM occupies neither a thread nor a connection.

T = TypeVar("T")
Steps = Generator[LLMCall, Any, T]


def run_steps(steps: Steps[T]) -> T:
    value = None
    while True:
        try:
            call = steps.send(value)
        except StopIteration as done:
            return done.value
        value = call.result(call_sync(call))


def _advance(steps: Steps[T], value: Any) -> tuple[bool, Any]:
    # StopIteration cannot cross a Future, so the outcome comes back as a flag.
    try:
        return False, steps.send(value)
    except StopIteration as done:
        return True, done.value


async def run_steps_async(steps: Steps[T], run_db: Callable[..., Any]) -> T:
    """Drive ``steps``: each database part through ``run_db(fn, *args)``, each LLM call awaited here.

    The parts of one generator never overlap, so they may run on different threads; no
    transaction may stay open across a ``yield``.
    """
    value = None
    while True:
        done, result = await run_db(_advance, steps, value)
        if done:
            return result
        value = result.result(await call_async(result))


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


def _validated(content: str | None, validate: Callable[[dict], Any], purpose: str) -> Any | None:
    data = parse_json_object(content)
    if data is None:
        return None
    try:
        return validate(data)
    except (ValueError, TypeError, KeyError) as exc:
        logger.warning("llm %s: output failed validation (%s)", purpose, exc)
        return None


def complete_json(messages: list[dict[str, str]], *, validate: Callable[[dict], Any], **kwargs) -> Any | None:
    """A completion parsed as a JSON object and passed through ``validate``.

    ``validate`` returns the cleaned value or raises ``ValueError``; invalid output is
    discarded (logged without its content) and the caller falls back.
    """
    return _validated(complete(messages, **kwargs), validate, kwargs.get("purpose", "chat"))
