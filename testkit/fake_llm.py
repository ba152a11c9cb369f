"""A real OpenAI-compatible HTTP server on loopback for tests and benchmarks.

It answers ``POST /v1/chat/completions`` like the OpenAI API, records every request body,
and can be told to fail, hang or answer with any content — so the real ``openai`` client,
its encoding and its error paths run in tests.
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

    # --- control -------------------------------------------------------------------------
    def enqueue(self, *items) -> None:
        """Queue what the next requests get, in order: a dict/str content, an int HTTP status,
        or ``("sleep", seconds)`` to hang before answering the default."""
        with self._lock:
            self._script.extend(items)

    def route(self, marker: str, item) -> None:
        """Answer every request whose messages contain ``marker`` with ``item`` (before the queue).

        Lets a test give background calls (stage analysis, profiles) their own answers while
        it scripts the conversation with ``enqueue``.
        """
        with self._lock:
            self.routes.append((marker, item))

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.responder = None
            self.routes.clear()
            self.max_in_flight = self.in_flight

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def prompts(self) -> list[str]:
        """The whole text of every request's messages, one string per request."""
        return ["\n".join(m.get("content") or "" for m in r.get("messages", [])) for r in self.requests]

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
                if not self.path.endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": "not found"}})
                if not (self.headers.get("Authorization") or "").startswith("Bearer "):
                    return self._send(401, {"error": {"message": "no key"}})
                text = "\n".join(str(m.get("content") or "") for m in body.get("messages", []))
                with fake._lock:
                    fake.requests.append(body)
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
                    return self._send(item, {"error": {"message": f"fake status {item}", "type": "server_error"}})
                if item is None:
                    item = DEFAULT_REPLY
                content = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
                self._send(200, {
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", "fake"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                })

            def _send(self, status, payload):
                data = json.dumps(payload, ensure_ascii=False).encode()
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
