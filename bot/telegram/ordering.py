"""One member's updates handled one at a time, in ``update_id`` order, across processes and hosts.

Webhook mode runs several uvicorn workers (and possibly several hosts behind a balancer);
Telegram may deliver one member's burst to different workers at once. Within a worker the
``PerMemberUpdateProcessor`` orders a chat's updates; across workers this module does, with
**Redis** (chosen over a PostgreSQL advisory lock because an advisory lock belongs to a
database session, and a turn must not hold a connection while it waits for the LLM):

* each update joins the chat's queue, a sorted set scored by ``update_id``;
* after a short grace (``TELEGRAM_ORDER_GRACE_SECONDS``) for near-simultaneous arrivals, it
  waits until it is the lowest ``update_id`` in the queue and then takes the chat's lock
  (``SET NX PX``, expiring after ``TELEGRAM_CHAT_LOCK_SECONDS`` so a killed worker cannot
  block the chat for good);
* it leaves the queue and releases the lock (only its own, compare-and-delete) when done.

Updates of one chat that arrive more than the grace apart are taken in arrival order (the
sorted set cannot know about an update that has not arrived yet; Telegram sends them in
order, so only parallel deliveries need sorting). An update that waited longer than the
lock timeout goes ahead anyway and drops the queue entries below it (left by a worker that
died). "Handled once" is not this module's job:
the ``update_id`` claim row (``bot/services/updates.py``) does that.

Without Redis (the embedded single-machine mode) there is nothing to coordinate with and
this is a no-op; run one web worker there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import weakref

from django.conf import settings

logger = logging.getLogger(__name__)

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _client():
    import redis.asyncio as redis

    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = redis.Redis.from_url(settings.REDIS_URL)
    return client


def _prefix() -> str:
    return settings.CACHES["default"].get("KEY_PREFIX", "relove")


@contextlib.asynccontextmanager
async def chat_turn(chat_id: int | None, update_id: int):
    """Hold the chat's turn for this update (see the module docstring)."""
    if chat_id is None or not settings.REDIS_URL:
        yield
        return
    client = _client()
    queue, lock = f"{_prefix()}:chat-queue:{chat_id}", f"{_prefix()}:chat-lock:{chat_id}"
    me = f"{update_id}:{uuid.uuid4().hex}"  # a redelivered copy of the update queues separately
    lock_ms = int(settings.TELEGRAM_CHAT_LOCK_SECONDS * 1000)
    await client.zadd(queue, {me: update_id})
    await client.pexpire(queue, lock_ms * 4)
    await asyncio.sleep(settings.TELEGRAM_ORDER_GRACE_SECONDS)
    deadline = time.monotonic() + settings.TELEGRAM_CHAT_LOCK_SECONDS
    pause = 0.005
    try:
        while True:
            head = await client.zrange(queue, 0, 0)
            first = not head or head[0].decode() == me
            if first and await client.set(lock, me, nx=True, px=lock_ms):
                break
            if time.monotonic() > deadline:
                logger.warning("chat turn for update %s waited %.0fs: going ahead", update_id,
                               settings.TELEGRAM_CHAT_LOCK_SECONDS)
                await client.zremrangebyscore(queue, "-inf", f"({update_id}")  # left by a dead worker
                await client.set(lock, me, px=lock_ms)
                break
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
        yield
    finally:
        await client.zrem(queue, me)
        await client.eval(_RELEASE, 1, lock, me)
