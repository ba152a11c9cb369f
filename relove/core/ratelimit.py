"""Outbound rate limiting shared by every process: Telegram's ~30 msg/s per bot, ~1 msg/s per chat.

A GCRA scheduler: each send reserves the next free instant for both the global stream and
the chat, atomically, and waits until then. With Redis (``REDIS_URL``) the reservation is
one Lua script, so any number of workers and processes share one budget; without Redis it
is a lock in this process (the embedded single-machine setup). ``pause_all`` pushes every
sender back after a ``429 retry_after``.
"""

from __future__ import annotations

import threading
import time

from django.conf import settings

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local g = tonumber(redis.call('GET', KEYS[1]) or '0')
local c = tonumber(redis.call('GET', KEYS[2]) or '0')
local start = math.max(now, g, c)
redis.call('SET', KEYS[1], string.format('%.6f', start + tonumber(ARGV[1])), 'PX', 120000)
redis.call('SET', KEYS[2], string.format('%.6f', start + tonumber(ARGV[2])), 'PX', 120000)
return string.format('%.6f', start - now)
"""

_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local g = tonumber(redis.call('GET', KEYS[1]) or '0')
local until_ = now + tonumber(ARGV[1])
if until_ > g then
  redis.call('SET', KEYS[1], string.format('%.6f', until_), 'PX', math.floor((tonumber(ARGV[1]) + 120) * 1000))
end
return 1
"""


def _redis():
    if not settings.REDIS_URL:
        return None
    from django_redis import get_redis_connection

    return get_redis_connection("default")


class RateLimiter:
    """``wait = limiter.reserve(chat_id)``, sleep ``wait``, then send."""

    def __init__(self, *, rate: float | None = None, per_chat_interval: float | None = None,
                 namespace: str = "tg"):
        self.interval = 1.0 / (rate or settings.TELEGRAM_GLOBAL_RATE)
        self.chat_interval = (per_chat_interval if per_chat_interval is not None
                              else settings.TELEGRAM_PER_CHAT_INTERVAL)
        self.namespace = namespace
        self._conn = _redis()
        self._reserve = self._conn.register_script(_RESERVE) if self._conn else None
        self._pause = self._conn.register_script(_PAUSE) if self._conn else None
        self._lock = threading.Lock()
        self._local: dict[str, float] = {}

    def _keys(self, chat_id) -> list[str]:
        return [f"{self.namespace}:rate:global", f"{self.namespace}:rate:chat:{chat_id}"]

    def reserve(self, chat_id) -> float:
        """Reserve a send slot; returns the seconds to wait before sending."""
        keys = self._keys(chat_id)
        if self._reserve is not None:
            return float(self._reserve(keys=keys, args=[self.interval, self.chat_interval]))
        with self._lock:
            now = time.time()
            start = max(now, self._local.get(keys[0], 0.0), self._local.get(keys[1], 0.0))
            self._local[keys[0]] = start + self.interval
            self._local[keys[1]] = start + self.chat_interval
            return start - now

    def pause_all(self, seconds: float) -> None:
        """Nobody sends for ``seconds`` (Telegram said retry_after)."""
        key = self._keys(0)[0]
        if self._pause is not None:
            self._pause(keys=[key], args=[seconds])
            return
        with self._lock:
            self._local[key] = max(self._local.get(key, 0.0), time.time() + seconds)
