"""The two LLM wire protocols behind ``relove.llm``: OpenAI chat completions and Anthropic Messages.

Each provider turns one request (chat-style messages, a structured-output mode, a schema)
into a call of its official client, reads the text back and says which failures are worth
another attempt. ``relove.llm`` owns retries, budgets, fallbacks and the structured-output
downgrade; nothing here logs prompt or completion text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import anthropic
import openai

# The ways of asking for JSON, strongest first; a server that refuses one with a 400 is asked the next.
STRUCTURED_MODES = ("json_schema", "json_object", "prompt")
JSON_INSTRUCTION = "Ответь одним JSON-объектом, без пояснений вокруг и без markdown."
# Anthropic's Messages API wants the conversation to start with the member and end with them;
# these stand in where our history starts or ends with Natasha's words.
CONVERSATION_START = "(Начало разговора.)"
YOUR_TURN = "(Твоя очередь написать участнику.)"


@dataclass(frozen=True)
class Request:
    """One completion as both protocols need it."""

    model: str
    messages: list[dict[str, str]]
    temperature: float
    max_tokens: int
    mode: str | None  # None: plain text; else one of STRUCTURED_MODES
    schema: dict | None
    name: str  # the schema's name (OpenAI json_schema wants one)


def instruction(request: Request) -> str:
    """What the system prompt adds when JSON is asked for in words (``json_object``, ``prompt``)."""
    if request.schema is None:
        return JSON_INSTRUCTION
    return f"{JSON_INSTRUCTION} Схема ответа (JSON Schema): {json.dumps(request.schema, ensure_ascii=False)}"


def _with_instruction(messages: list[dict[str, str]], text: str) -> list[dict[str, str]]:
    """``text`` appended to the first system message (one is added at the front when there is none)."""
    out = [dict(m) for m in messages]
    for message in out:
        if message.get("role") == "system":
            message["content"] = f"{message.get('content') or ''}\n\n{text}"
            return out
    return [{"role": "system", "content": text}, *out]


def provider_message(exc: Exception) -> str:
    """The provider's own words for a refused request, bounded (never the request itself)."""
    body = getattr(exc, "body", None)
    message = None
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        message = inner.get("message") if isinstance(inner, dict) else None
    text = str(message or getattr(exc, "message", "") or type(exc).__name__)
    # Some servers quote the offending input back; member text is delimited, so cut there.
    return text.split("<<<", 1)[0].strip()[:300]


class OpenAIProvider:
    name = "openai"
    modes = STRUCTURED_MODES
    _retryable = (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError,
                  openai.InternalServerError)

    @staticmethod
    def client(*, api_key: str, base_url: str | None, timeout: float, asynchronous: bool):
        cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
        # Our own retry loop owns backoff and the total budget, so the SDK's is off.
        return cls(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)

    @staticmethod
    def kwargs(request: Request) -> dict[str, Any]:
        messages = request.messages
        kwargs: dict[str, Any] = {"model": request.model, "temperature": request.temperature,
                                  "max_tokens": request.max_tokens}
        if request.mode == "json_schema":
            kwargs["response_format"] = {"type": "json_schema", "json_schema": {
                "name": request.name, "schema": request.schema, "strict": False}}
        elif request.mode == "json_object":
            # OpenAI refuses JSON mode unless the messages say "JSON"; the schema helps any model.
            messages = _with_instruction(messages, instruction(request))
            kwargs["response_format"] = {"type": "json_object"}
        elif request.mode == "prompt":
            messages = _with_instruction(messages, instruction(request))
        kwargs["messages"] = messages
        return kwargs

    # ``chat.completions.create`` runs every request through the SDK's TypedDict transform, which
    # walks each message recursively: ~20 ms of CPU per call, a fifth of a whole turn. Our messages
    # are plain dicts of strings, so the request goes out as it is (the same endpoint, auth, timeout
    # and error handling; retries stay ours). The answer comes back as its bytes: building the SDK's
    # ``ChatCompletion`` model from it cost 0.3–0.6 ms of CPU per call, a fifth of the call, for the
    # one field ``text`` reads. Works for the sync and the async client alike.
    @staticmethod
    def create(client, kwargs: dict[str, Any], timeout: float):
        return client.post("/chat/completions", body=kwargs, cast_to=bytes,
                           options={"timeout": timeout, "security": {"bearer_auth": True}})

    @staticmethod
    def text(response: bytes) -> str | None:
        """The first choice's text; None when there is none (a body that is not JSON raises)."""
        data = json.loads(response)
        choices = data.get("choices") if isinstance(data, dict) else None
        first = choices[0] if isinstance(choices, list) and choices else None
        message = first.get("message") if isinstance(first, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        return content if isinstance(content, str) else None

    @classmethod
    def is_retryable(cls, exc: Exception) -> bool:
        if isinstance(exc, cls._retryable):
            return True
        if isinstance(exc, openai.APIStatusError):
            return exc.status_code in (408, 409, 429) or exc.status_code >= 500
        return False

    @staticmethod
    def is_bad_request(exc: Exception) -> bool:
        return isinstance(exc, openai.BadRequestError)


def anthropic_conversation(messages: list[dict[str, str]]) -> tuple[str, list[dict[str, str]]]:
    """Chat-style messages as the Messages API takes them: one ``system`` string and turns that
    alternate, start with the member and end with them (a final assistant turn would be a prefill)."""
    system = "\n\n".join(m.get("content") or "" for m in messages if m.get("role") == "system")
    turns: list[dict[str, str]] = []
    for message in messages:
        role = message.get("role")
        if role not in ("user", "assistant"):
            continue
        content = message.get("content") or "…"
        if turns and turns[-1]["role"] == role:
            turns[-1] = {"role": role, "content": f"{turns[-1]['content']}\n\n{content}"}
        else:
            turns.append({"role": role, "content": content})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": CONVERSATION_START})
    if turns[-1]["role"] != "user":
        turns.append({"role": "user", "content": YOUR_TURN})
    return system, turns


class AnthropicProvider:
    name = "anthropic"
    modes = ("json_schema", "prompt")  # Anthropic has no JSON mode without a schema
    _retryable = (anthropic.APIConnectionError, anthropic.APITimeoutError, anthropic.RateLimitError,
                  anthropic.InternalServerError)

    @staticmethod
    def client(*, api_key: str, base_url: str | None, timeout: float, asynchronous: bool):
        cls = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
        return cls(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)

    @staticmethod
    def kwargs(request: Request) -> dict[str, Any]:
        messages = request.messages
        if request.mode in ("json_object", "prompt"):
            messages = _with_instruction(messages, instruction(request))
        system, turns = anthropic_conversation(messages)
        # No temperature: the current Messages API (and client) no longer take one.
        kwargs: dict[str, Any] = {"model": request.model, "max_tokens": request.max_tokens, "messages": turns}
        if system:
            kwargs["system"] = system
        if request.mode == "json_schema":
            kwargs["output_config"] = {"format": {"type": "json_schema", "schema": request.schema}}
        return kwargs

    @staticmethod
    def create(client, kwargs: dict[str, Any], timeout: float):
        return client.with_options(timeout=timeout).messages.create(**kwargs)

    @staticmethod
    def text(response) -> str | None:
        parts = [block.text for block in response.content or () if getattr(block, "type", "") == "text"]
        return "".join(parts) or None

    @classmethod
    def is_retryable(cls, exc: Exception) -> bool:
        if isinstance(exc, cls._retryable):
            return True
        if isinstance(exc, anthropic.APIStatusError):
            return exc.status_code in (408, 409, 429) or exc.status_code >= 500
        return False

    @staticmethod
    def is_bad_request(exc: Exception) -> bool:
        return isinstance(exc, anthropic.BadRequestError)


PROVIDERS = {"openai": OpenAIProvider, "anthropic": AnthropicProvider}
