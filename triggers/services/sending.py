"""A long-lived handle on the one outbound path for a delivery pass.

``bot.outbound.send`` builds a Bot and an event loop per message (≈50 ms each); a pass that
sends hundreds of messages keeps one of each per worker thread instead. Rate limiting,
error classification and the Bot API calls are still ``outbound.send_limited`` and
``outbound.classify``: this only manages their lifetime.
"""

from __future__ import annotations

import asyncio

from bot import outbound
from bot.ui import OutgoingMessage
from relove.core.ratelimit import RateLimiter


class BotSession:
    """``with BotSession() as sender: sender.send(chat_id, parts)``; one per thread."""

    def __init__(self, *, limiter: RateLimiter | None = None):
        self.limiter = limiter or RateLimiter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bot = None

    def __enter__(self) -> BotSession:
        self._loop = asyncio.new_event_loop()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._bot is not None:
            try:
                self._loop.run_until_complete(self._bot.shutdown())
            except Exception:  # noqa: BLE001, S110 — closing a connection pool; nothing to save
                pass
        self._loop.close()

    def send(self, chat_id: int, parts: list[OutgoingMessage]) -> outbound.Outcome:
        """Send one logical message (its parts in order); never raises, see ``outbound.classify``."""
        try:
            if self._bot is None:
                bot = outbound.build_bot()
                self._loop.run_until_complete(bot.initialize())
                self._bot = bot
            return self._loop.run_until_complete(outbound.send_limited(self._bot, self.limiter, chat_id, parts))
        except Exception as exc:  # noqa: BLE001 — e.g. the API is unreachable during initialize()
            return outbound.classify(exc)
