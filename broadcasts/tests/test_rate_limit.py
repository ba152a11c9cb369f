"""The shared limiter as broadcasts use it (Redis when REDIS_URL is set, else in-process)."""

import asyncio
import time

from bot.outbound.transport import _wait_for_slot
from relove.core.ratelimit import RateLimiter


def test_one_chat_waiting_for_its_second_does_not_hold_back_other_chats():
    limiter = RateLimiter(rate=10, per_chat_interval=1.0, namespace=f"t{time.time_ns()}")
    assert limiter.try_reserve(1) == (0.0, True) or limiter.try_reserve(1)[1] is False
    wait, reserved = limiter.try_reserve(1)
    assert not reserved and 0.5 < wait <= 1.0
    wait, reserved = limiter.try_reserve(2)
    assert reserved and wait <= 0.11  # one global interval, not the first chat's second


def test_a_pause_ordered_after_reserving_is_still_honoured():
    limiter = RateLimiter(rate=5, per_chat_interval=0.0, namespace=f"t{time.time_ns()}")

    async def scenario():
        await _wait_for_slot(limiter, 1)  # takes the free slot now
        started = time.monotonic()
        waiter = asyncio.ensure_future(_wait_for_slot(limiter, 2))  # reserves 0.2 s ahead
        await asyncio.sleep(0.05)
        limiter.pause_all(0.6)  # another sender got a 429
        await waiter
        return time.monotonic() - started

    assert asyncio.run(scenario()) >= 0.6
    assert limiter.pause_remaining() == 0.0
