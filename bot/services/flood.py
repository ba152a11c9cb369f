"""Per-member flood protection: a burst is answered once with a gentle note, not sent to the LLM."""

from __future__ import annotations

import enum
import time

from django.conf import settings
from django.core.cache import cache


class Flood(enum.Enum):
    OK = "ok"
    FIRST_OVER = "first_over"  # just crossed the limit: answer with the note once
    OVER = "over"  # still over: stay quiet


def flood_check(*, user_id: int, now: float | None = None) -> Flood:
    """Count this message in the member's current minute (shared through the cache, Redis in production).

    The minute's first message creates its counter at 1 (one round trip, the usual case: members
    rarely write twice a minute); later ones increment it."""
    minute = int((now or time.time()) // 60)
    key = f"flood:{user_id}:{minute}"
    if cache.add(key, 1, timeout=120):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=120)
            count = 1
    limit = settings.FLOOD_MAX_PER_MINUTE
    if count <= limit:
        return Flood.OK
    return Flood.FIRST_OVER if count == limit + 1 else Flood.OVER
