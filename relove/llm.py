"""The LLM client: OpenAI-compatible chat completions or Anthropic Messages, with bounded retries.

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
import threading
import time
import weakref
from collections.abc import Callable, Generator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings

from relove.core import liveness
from relove.core.staff_errors import describe
from relove.llm_providers import PROVIDERS, Request, provider_message

logger = logging.getLogger(__name__)

MEMBER_OPEN = "<<<MEMBER>>>"
MEMBER_CLOSE = "<<<END>>>"
_FENCE = re.compile(r"```[A-Za-z]*\s*\n?(.*?)```", re.DOTALL)
_JSON_STARTS_TRIED = 20
# Invisible characters could hide a marker from us and not from the model ("<<\u200b<END>>>").
_INVISIBLE = re.compile(r"[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
# Any run of three angle brackets (ASCII, full-width, small) and chat-template openers "<|".
_ANGLE_RUN = re.compile(r"[<\uff1c\ufe64]{3,}|[>\uff1e\ufe65]{3,}|<\|")
_ESCAPED = {"<": "‹", "\uff1c": "‹", "\ufe64": "‹", ">": "›", "\uff1e": "›", "\ufe65": "›", "|": "|"}


def llm_enabled() -> bool:
    return bool(LLMSettings.current().api_key)


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


# JSON Schema pieces for ``LLMCall.schema``: every field required and nothing else allowed, which
# is what strict structured outputs (OpenAI, Anthropic) accept.
STRING = {"type": "string"}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
STRING_LIST = {"type": "array", "items": {"type": "string"}}


def object_schema(**properties: dict) -> dict:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


@dataclass(frozen=True)
class LLMSettings:
    provider: str
    api_key: str
    base_url: str | None
    model: str
    analysis_model: str
    structured: str
    timeout: float
    budget: float
    max_attempts: int

    @classmethod
    def current(cls) -> LLMSettings:
        provider = settings.LLM_PROVIDER
        if provider == "anthropic":
            key, url = settings.ANTHROPIC_API_KEY, settings.ANTHROPIC_BASE_URL
        else:
            key, url = settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL
        return cls(provider, key, url, settings.LLM_MODEL, settings.LLM_ANALYSIS_MODEL or settings.LLM_MODEL,
                   settings.LLM_STRUCTURED_OUTPUT, settings.LLM_TIMEOUT, settings.LLM_TOTAL_BUDGET,
                   settings.LLM_MAX_ATTEMPTS)

    @property
    def endpoint(self) -> tuple[str, str | None]:
        return self.provider, self.base_url


_clients: dict[LLMSettings, Any] = {}


def _client(cfg: LLMSettings):
    client = _clients.get(cfg)
    if client is None:
        client = PROVIDERS[cfg.provider].client(api_key=cfg.api_key, base_url=cfg.base_url, timeout=cfg.timeout,
                                                asynchronous=False)
        _clients[cfg] = client
    return client


_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[LLMSettings, Any]] = (
    weakref.WeakKeyDictionary())


def _async_client(cfg: LLMSettings):
    """One async client per event loop: its connection pool belongs to the loop that made it."""
    per_loop = _async_clients.setdefault(asyncio.get_running_loop(), {})
    client = per_loop.get(cfg)
    if client is None:
        client = PROVIDERS[cfg.provider].client(api_key=cfg.api_key, base_url=cfg.base_url, timeout=cfg.timeout,
                                                asynchronous=True)
        per_loop[cfg] = client
    return client


@dataclass(frozen=True)
class LLMCall:
    """One completion a synchronous service needs; see ``run_steps`` and ``run_steps_async``.

    ``schema`` (a JSON Schema) describes the JSON wanted when ``json_mode`` is on; ``analysis``
    picks ``LLM_ANALYSIS_MODEL`` (stage analysis, profiles) instead of ``LLM_MODEL``.
    """

    messages: list[dict[str, str]]
    json_mode: bool = True
    temperature: float = 0.8
    max_tokens: int = 700
    purpose: str = "chat"
    validate: Callable[[dict], Any] | None = field(default=None, compare=False)
    schema: dict | None = field(default=None, compare=False)
    analysis: bool = False

    def result(self, content: str | None) -> Any:
        """The completion as the caller wants it: text, or validated JSON when ``validate`` is set."""
        return content if self.validate is None else _validated(content, self.validate, self.purpose)


# --- one call's attempts ---------------------------------------------------------------------
#
# A server may refuse how we ask for JSON (a self-hosted OpenAI-compatible server without JSON
# mode, a Claude model without structured outputs): a 400, not worth retrying as it is. Then the
# same call is asked the next weaker way at once (json_schema → json_object → prompt), and once
# that works the whole process asks that way, so one refused parameter never turns the LLM off.
# Any other 400 fails only the call it belongs to (its member gets a template reply); the
# provider's message is logged once per process, not on every turn.

_asked_as: dict[tuple[str, str | None, str], str] = {}  # (provider, base_url, model) -> working mode
_reported: set[str] = set()
_REPORTED_MAX = 256


def _log_once(message: str, *args) -> None:
    text = message % args
    if text in _reported:
        return
    if len(_reported) >= _REPORTED_MAX:
        _reported.clear()
    _reported.add(text)
    logger.warning(text)


class _Attempts:
    """The state of one call across its attempts: the provider, the deadline and the JSON mode."""

    def __init__(self, call: LLMCall, cfg: LLMSettings):
        self.call, self.cfg = call, cfg
        self.provider = PROVIDERS[cfg.provider]
        self.model = cfg.analysis_model if call.analysis else cfg.model
        self.key = (cfg.provider, cfg.base_url, self.model)
        self.deadline = time.monotonic() + cfg.budget
        self.mode = self._usable(_asked_as.get(self.key, cfg.structured)) if call.json_mode else None
        self.first_mode = self.mode

    def _usable(self, mode: str) -> str:
        """``mode``, or the next weaker one this provider and call can use (json_schema needs a schema)."""
        modes = self.provider.modes
        index = modes.index(mode) if mode in modes else len(modes) - 1
        if modes[index] == "json_schema" and self.call.schema is None:
            index += 1
        return modes[min(index, len(modes) - 1)]

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def kwargs(self) -> dict[str, Any]:
        return self.provider.kwargs(Request(
            model=self.model, messages=self.call.messages, temperature=self.call.temperature,
            max_tokens=self.call.max_tokens, mode=self.mode, schema=self.call.schema,
            name=re.sub(r"[^A-Za-z0-9_-]", "_", self.call.purpose)[:64] or "reply"))

    def succeeded(self) -> None:
        liveness.note(liveness.LLM, detail="отвечает")  # the staff dashboard's "LLM reachable"
        if self.mode != self.first_mode and self.mode is not None:
            _asked_as[self.key] = self.mode
            logger.warning("llm: %s model %s now asked for JSON by %s", self.cfg.provider, self.model, self.mode)

    def failed(self, attempt: int, exc: Exception) -> str:
        """What to do after a failed attempt: "again" (at once), "pause" (then again) or "stop"."""
        liveness.note(liveness.LLM, ok=False, detail=describe(exc))
        purpose = self.call.purpose
        if self.provider.is_bad_request(exc):
            if self.mode is not None and self.mode != "prompt":
                weaker = self.provider.modes[self.provider.modes.index(self.mode) + 1]
                _log_once("llm: %s refused %s output (400: %s); trying %s", self.cfg.provider, self.mode,
                          provider_message(exc), weaker)
                self.mode = weaker
                return "again"
            _log_once("llm %s: %s refused the request (400: %s)", purpose, self.cfg.provider, provider_message(exc))
            return "stop"
        if not self.provider.is_retryable(exc):
            _log_once("llm %s: permanent error %s (%s)", purpose, type(exc).__name__, provider_message(exc))
            return "stop"
        logger.warning("llm %s: attempt %d failed with %s", purpose, attempt, type(exc).__name__)
        return "pause"


def _pause(attempt: int, deadline: float) -> float | None:
    """Full jitter: U(0, base * 2^attempt), or None when it would run past the deadline."""
    pause = random.uniform(0, min(4.0, 0.25 * 2**attempt))
    return None if time.monotonic() + pause >= deadline else pause


# Work nobody is waiting for: Natasha writing first (triggers) and profile rotation. Their
# completions share ``LLM_BACKGROUND_CONCURRENCY`` slots per process, so a big trigger tick
# or rotation run cannot crowd the members' own replies out of the LLM's capacity.
BACKGROUND_PURPOSES = frozenset({"proactive", "profile"})
_background_slots: tuple[int, threading.BoundedSemaphore] | None = None
_background_lock = threading.Lock()


def is_background(purpose: str) -> bool:
    return purpose.split(":", 1)[0] in BACKGROUND_PURPOSES


@contextmanager
def background_slot():
    """Hold one of the process's ``LLM_BACKGROUND_CONCURRENCY`` background request slots."""
    global _background_slots
    size = max(1, settings.LLM_BACKGROUND_CONCURRENCY)
    with _background_lock:
        if _background_slots is None or _background_slots[0] != size:
            _background_slots = (size, threading.BoundedSemaphore(size))
        slots = _background_slots[1]
    with slots:
        yield


def call_sync(call: LLMCall) -> str | None:
    """One completion with retries; the content, or None when the LLM is unavailable."""
    cfg = LLMSettings.current()
    if not cfg.api_key:
        return None
    attempts = _Attempts(call, cfg)
    for attempt in range(1, cfg.max_attempts + 1):
        remaining = attempts.remaining()
        if remaining <= 0.05:
            break
        try:
            # Only the request holds a background slot, not the pause between attempts; the
            # wait for a slot counts against the budget.
            with background_slot() if is_background(call.purpose) else nullcontext():
                remaining = attempts.remaining()
                if remaining <= 0.05:
                    break
                response = attempts.provider.create(_client(cfg), attempts.kwargs(), min(cfg.timeout, remaining))
            if content := attempts.provider.text(response):
                attempts.succeeded()
                return content
            logger.warning("llm %s: empty completion (attempt %d)", call.purpose, attempt)
            action = "pause"
        except Exception as exc:  # noqa: BLE001 — any client failure is handled the same way
            action = attempts.failed(attempt, exc)
        if action == "stop":
            return None
        if action == "again":
            continue
        pause = _pause(attempt, attempts.deadline)
        if pause is None:
            break
        time.sleep(pause)
    logger.warning("llm %s: giving up within the %.0fs budget", call.purpose, cfg.budget)
    return None


async def call_async(call: LLMCall) -> str | None:
    """``call_sync`` on the event loop: waiting for the LLM holds no thread and no database connection."""
    cfg = LLMSettings.current()
    if not cfg.api_key:
        return None
    attempts = _Attempts(call, cfg)
    for attempt in range(1, cfg.max_attempts + 1):
        remaining = attempts.remaining()
        if remaining <= 0.05:
            break
        try:
            response = await attempts.provider.create(_async_client(cfg), attempts.kwargs(),
                                                      min(cfg.timeout, remaining))
            if content := attempts.provider.text(response):
                attempts.succeeded()
                return content
            logger.warning("llm %s: empty completion (attempt %d)", call.purpose, attempt)
            action = "pause"
        except Exception as exc:  # noqa: BLE001 — any client failure is handled the same way
            action = attempts.failed(attempt, exc)
        if action == "stop":
            return None
        if action == "again":
            continue
        pause = _pause(attempt, attempts.deadline)
        if pause is None:
            break
        await asyncio.sleep(pause)
    logger.warning("llm %s: giving up within the %.0fs budget", call.purpose, cfg.budget)
    return None


def complete(messages: list[dict[str, str]], *, json_mode: bool = True, temperature: float = 0.8,
             max_tokens: int = 700, purpose: str = "chat", schema: dict | None = None,
             analysis: bool = False) -> str | None:
    """One completion with retries; returns the content, or None when the LLM is unavailable."""
    return call_sync(LLMCall(messages, json_mode=json_mode, temperature=temperature, max_tokens=max_tokens,
                             purpose=purpose, schema=schema, analysis=analysis))


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
    """The first JSON object in a completion: the whole text, else inside a code fence, else the
    first ``{`` that starts a valid object (models wrap JSON in prose or fences when asked in words)."""
    if not content:
        return None
    candidates = [content, *(m.group(1) for m in _FENCE.finditer(content))]
    for text in candidates:
        try:
            data = json.loads(text)
        except ValueError:
            continue
        if isinstance(data, dict):
            return data
    decoder = json.JSONDecoder()
    for count, match in enumerate(re.finditer(r"\{", content)):
        if count >= _JSON_STARTS_TRIED:  # hostile output must not make this quadratic
            break
        try:
            data, _end = decoder.raw_decode(content, match.start())
        except ValueError:
            continue
        if isinstance(data, dict):
            return data
    return None


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
