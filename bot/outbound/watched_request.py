"""The Bot API client's HTTP layer, telling the staff dashboard what Telegram's answers show.

Every request of the bot (polling, replies, proactive sends) goes through :class:`WatchedRequest`:
a successful ``getUpdates`` is the bot's "last poll", any answer other than 401/404 proves the
token is accepted, and a 401/404 marks it rejected at once (``relove.core.liveness``).
"""

from __future__ import annotations

import asyncio

from telegram.request import HTTPXRequest

from relove.core import liveness

# Telegram answers 401 for a revoked token and 404 for a malformed one, whatever the method.
TOKEN_REJECTED = (401, 404)


def heartbeats_for(method: str, code: int) -> list[tuple[str, bool, str]]:
    """What one Bot API answer says about the bot and its token: ``(component, ok, detail)``."""
    if code in TOKEN_REJECTED:
        return [(liveness.TELEGRAM, False, f"Telegram ответил {code}: токен не принят")]
    beats = [(liveness.TELEGRAM, True, "Telegram принимает токен")] if code < 500 else []
    if method == "getUpdates" and code == 200:
        beats.append((liveness.BOT, True, "опрос Telegram (getUpdates)"))
    return beats


class WatchedRequest(HTTPXRequest):
    """PTB's HTTPX request, watched (above), with at most ``connection_pool_size`` requests handed
    to httpx at once.

    httpcore walks every pooled connection and every queued request each time a request starts
    or a connection comes back, so requests queued inside httpx cost CPU per request in
    proportion to the queue. Extra requests wait here instead, on a semaphore that wakes one
    waiter at a time (measured in docs/benchmarks.md: the bot spent a fifth of its CPU in that walk
    with 128 connections).
    """

    def __init__(self, *, connection_pool_size: int = 1, **kwargs):
        super().__init__(connection_pool_size=connection_pool_size, **kwargs)
        self._slot_count = connection_pool_size
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:  # a client may outlive an event loop
            self._slots = (loop, asyncio.Semaphore(self._slot_count))
        return self._slots[1]

    async def do_request(self, url: str, method: str, *args, **kwargs) -> tuple[int, bytes]:
        async with self._semaphore():
            code, payload = await super().do_request(url, method, *args, **kwargs)
        for name, ok, detail in heartbeats_for(url.rsplit("/", 1)[-1], code):
            liveness.note(name, ok=ok, detail=detail)
        return code, payload
