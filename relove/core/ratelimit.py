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

# Reserve the next free instant of the global stream and of the chat, atomically. When the
# chat's own interval is what holds the sender back, nothing is reserved: the caller waits
# for the chat and asks again. Reserving the global slot that far
# ahead would hold back every other chat too (one member's multi-part reply would stall
# everyone for a second). ARGV[3] = '1' means the caller already holds the chat's turn (it
# reserved before and is only re-taking a global slot), so the chat interval is not checked.
_TRY_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local g = tonumber(redis.call('GET', KEYS[1]) or '0')
local c = tonumber(redis.call('GET', KEYS[2]) or '0')
local start = math.max(now, g)
if c > start and ARGV[3] ~= '1' then
  return {string.format('%.6f', c - now), 0}
end
redis.call('SET', KEYS[1], string.format('%.6f', start + tonumber(ARGV[1])), 'PX', 120000)
redis.call('SET', KEYS[2], string.format('%.6f', math.max(c, start + tonumber(ARGV[2]))), 'PX', 120000)
return {string.format('%.6f', start - now), 1}
"""

_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local g = tonumber(redis.call('GET', KEYS[1]) or '0')
local until_ = now + tonumber(ARGV[1])
local ttl = math.floor((tonumber(ARGV[1]) + 120) * 1000)
if until_ > g then
  redis.call('SET', KEYS[1], string.format('%.6f', until_), 'PX', ttl)
end
local p = tonumber(redis.call('GET', KEYS[2]) or '0')
if until_ > p then
  redis.call('SET', KEYS[2], string.format('%.6f', until_), 'PX', ttl)
end
return 1
"""

_PAUSE_REMAINING = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local p = tonumber(redis.call('GET', KEYS[1]) or '0')
return string.format('%.6f', math.max(0, p - now))
"""


def _redis():
    if not settings.REDIS_URL:
        return None
    from django_redis import get_redis_connection

    return get_redis_connection("default")


class RateLimiter:
    """``wait, reserved = limiter.try_reserve(chat_id)``; if reserved, sleep ``wait`` and send."""

    def __init__(self, *, rate: float | None = None, per_chat_interval: float | None = None,
                 namespace: str = "tg"):
        self.interval = 1.0 / (rate or settings.TELEGRAM_GLOBAL_RATE)
        self.chat_interval = (per_chat_interval if per_chat_interval is not None
                              else settings.TELEGRAM_PER_CHAT_INTERVAL)
        self.namespace = namespace
        self._conn = _redis()
        self._try_reserve = self._conn.register_script(_TRY_RESERVE) if self._conn else None
        self._pause = self._conn.register_script(_PAUSE) if self._conn else None
        self._pause_remaining = self._conn.register_script(_PAUSE_REMAINING) if self._conn else None
        self._lock = threading.Lock()
        self._local: dict[str, float] = {}

    def _keys(self, chat_id) -> list[str]:
        return [f"{self.namespace}:rate:global", f"{self.namespace}:rate:chat:{chat_id}"]

    def try_reserve(self, chat_id, *, chat_held: bool = False) -> tuple[float, bool]:
        """``(wait, reserved)``: a slot ``wait`` seconds from now, or, when only the chat's own
        interval is in the way, ``reserved=False`` and how long until asking again makes sense.

        ``chat_held``: the caller reserved for this message before and gives that slot up (it
        woke too late); only a global slot is taken, the chat's turn is already its own.
        """
        keys = self._keys(chat_id)
        if self._try_reserve is not None:
            wait, reserved = self._try_reserve(keys=keys, args=[self.interval, self.chat_interval,
                                                                "1" if chat_held else "0"])
            return float(wait), bool(int(reserved))
        with self._lock:
            now = time.time()
            start = max(now, self._local.get(keys[0], 0.0))
            chat_free = self._local.get(keys[1], 0.0)
            if chat_free > start and not chat_held:
                return chat_free - now, False
            self._local[keys[0]] = start + self.interval
            self._local[keys[1]] = max(chat_free, start + self.chat_interval)
            return start - now, True

    def _pause_key(self) -> str:
        return f"{self.namespace}:rate:pause"

    def pause_all(self, seconds: float) -> None:
        """Nobody sends for ``seconds`` (Telegram said retry_after).

        Pushes the global schedule back and records the pause itself, so a sender that
        reserved its slot before the 429 can still notice it (``pause_remaining``).
        """
        keys = [self._keys(0)[0], self._pause_key()]
        if self._pause is not None:
            self._pause(keys=keys, args=[seconds])
            return
        with self._lock:
            until = time.time() + seconds
            for key in keys:
                self._local[key] = max(self._local.get(key, 0.0), until)

    def pause_remaining(self) -> float:
        """Seconds left of a pause ordered by ``pause_all`` (0 when nobody paused us)."""
        if self._pause_remaining is not None:
            return float(self._pause_remaining(keys=[self._pause_key()]))
        with self._lock:
            return max(0.0, self._local.get(self._pause_key(), 0.0) - time.time())
