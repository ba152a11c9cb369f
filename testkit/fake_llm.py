"""Real LLM HTTP servers on loopback for tests and benchmarks: OpenAI-compatible and Anthropic.

``FakeLLM`` answers ``POST /v1/chat/completions`` like the OpenAI API; ``FakeAnthropic``
answers ``POST /v1/messages`` like Anthropic's Messages API (and refuses what it refuses: a
``system`` role inside ``messages``, a conversation starting with the assistant, a missing
``max_tokens`` or ``anthropic-version``). Both record every request body and can be told to
fail, hang, refuse a parameter with a 400 or answer with any content — so the real ``openai``
and ``anthropic`` clients, their encodings and error paths run in tests.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_REPLY = {"reply": "Я слышу тебя. Что для тебя сейчас самое важное?",
                 "quick_replies": ["Страх", "Желание", "Не знаю"]}


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # hundreds of turns call at once; the default backlog (5) refuses them

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client closing a kept-alive connection
            super().handle_error(request, client_address)


class FakeLLM:
    """``with FakeLLM() as llm: settings.OPENAI_BASE_URL = llm.base_url``."""

    def __init__(self):
        self.requests: list[dict] = []
        self._script: deque = deque()
        self.routes: list[tuple[str, object]] = []
        self.responder: Callable[[dict], object] | None = None
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.in_flight = 0  # requests being answered right now
        self.max_in_flight = 0  # the most ever answered at once (since start or reset)
        self.refused: set[str] = set()  # request fields answered with a 400, like a server without them

    path = "/chat/completions"

    # --- control -------------------------------------------------------------------------
    def enqueue(self, *items) -> None:
        """Queue what the next requests get, in order: a dict/str content, an int HTTP status,
        ``bytes`` for a 200 with exactly that body, or ``("sleep", seconds)`` to hang before
        answering the default."""
        with self._lock:
            self._script.extend(items)

    def route(self, marker: str, item) -> None:
        """Answer every request whose messages contain ``marker`` with ``item`` (before the queue).

        Lets a test give background calls (stage analysis, profiles) their own answers while
        it scripts the conversation with ``enqueue``.
        """
        with self._lock:
            self.routes.append((marker, item))

    def refuse(self, *fields: str) -> None:
        """Answer 400 to any request carrying one of ``fields`` (``response_format``, ``output_config``)."""
        with self._lock:
            self.refused.update(fields)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.responder = None
            self.routes.clear()
            self.refused.clear()
            self.max_in_flight = self.in_flight

    # --- the protocol (overridden by FakeAnthropic) -------------------------------------------
    @staticmethod
    def authorised(headers) -> bool:
        return (headers.get("Authorization") or "").startswith("Bearer ")

    @staticmethod
    def text_of(body: dict) -> str:
        return "\n".join(str(m.get("content") or "") for m in body.get("messages", []))

    @staticmethod
    def invalid(body: dict) -> str | None:
        """Why the real API would answer 400, or None."""
        if not body.get("model") or not body.get("messages"):
            return "model and messages are required"
        return None

    @staticmethod
    def error_body(status: int, message: str) -> dict:
        kind = "invalid_request_error" if status == 400 else "server_error"
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}

    @staticmethod
    def answer_body(body: dict, content: str) -> dict:
        return {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def prompts(self) -> list[str]:
        """The whole text of every request's messages, one string per request."""
        return [self.text_of(r) for r in self.requests]

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> FakeLLM:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as OpenAI-compatible servers do

            def log_message(self, *args):
                pass

            def do_POST(self):
                with fake._lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    self._answer()
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.endswith(fake.path):
                    return self._send(404, fake.error_body(404, "not found"))
                if not fake.authorised(self.headers):
                    return self._send(401, fake.error_body(401, "no key"))
                problem = fake.invalid(body) or next(
                    (f"{name}: this server does not support it" for name in sorted(fake.refused) if name in body), None)
                with fake._lock:
                    fake.requests.append(body)
                if problem:
                    return self._send(400, fake.error_body(400, problem))
                text = fake.text_of(body)
                with fake._lock:
                    routed = [item for marker, item in fake.routes if marker in text]
                    if routed:
                        item = routed[0]
                    else:
                        item = fake._script.popleft() if fake._script else None
                    responder = None if routed else fake.responder
                if item is None and responder is not None:
                    item = responder(body)
                if isinstance(item, tuple) and item and item[0] == "sleep":
                    time.sleep(item[1])
                    item = None
                if isinstance(item, int):
                    return self._send(item, fake.error_body(item, f"fake status {item}"))
                if isinstance(item, bytes):  # a 200 whose whole body is this (odd servers)
                    return self._send_bytes(200, item)
                if item is None:
                    item = DEFAULT_REPLY
                content = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
                self._send(200, fake.answer_body(body, content))

            def _send(self, status, payload):
                self._send_bytes(status, json.dumps(payload, ensure_ascii=False).encode())

            def _send_bytes(self, status, data):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class FakeAnthropic(FakeLLM):
    """``with FakeAnthropic() as llm: settings.ANTHROPIC_BASE_URL = llm.base_url`` (no ``/v1``:
    the ``anthropic`` client adds it)."""

    path = "/v1/messages"

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @staticmethod
    def authorised(headers) -> bool:
        key = headers.get("x-api-key") or (headers.get("Authorization") or "").removeprefix("Bearer ")
        return bool(key) and bool(headers.get("anthropic-version"))

    @staticmethod
    def _content_text(content) -> str:
        if isinstance(content, str):
            return content
        return "\n".join(str(block.get("text") or "") for block in content or () if isinstance(block, dict))

    @classmethod
    def text_of(cls, body: dict) -> str:
        system = body.get("system") or ""
        system = system if isinstance(system, str) else cls._content_text(system)
        return "\n".join([system, *(cls._content_text(m.get("content")) for m in body.get("messages", []))])

    @classmethod
    def invalid(cls, body: dict) -> str | None:
        messages = body.get("messages")
        if not body.get("model"):
            return "model: Field required"
        if not isinstance(body.get("max_tokens"), int):
            return "max_tokens: Field required"
        if not messages:
            return "messages: at least one message is required"
        for index, message in enumerate(messages):
            if message.get("role") not in ("user", "assistant"):
                return f'messages.{index}.role: Input should be "user" or "assistant"'
            if not cls._content_text(message.get("content")).strip():
                return f"messages.{index}: all messages must have non-empty content"
        if messages[0]["role"] != "user":
            return 'messages: first message must use the "user" role'
        if not 0 <= body.get("temperature", 1) <= 1:
            return "temperature: Input should be less than or equal to 1"
        output = body.get("output_config")
        if output is not None and (output.get("format") or {}).get("type") == "json_schema" and not isinstance(
                output["format"].get("schema"), dict):
            return "output_config.format.schema: Field required"
        return None

    @staticmethod
    def error_body(status: int, message: str) -> dict:
        kind = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    @staticmethod
    def answer_body(body: dict, content: str) -> dict:
        return {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": body.get("model", "fake"),
            "content": [{"type": "text", "text": content}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
