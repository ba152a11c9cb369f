"""Long polling: at most one bot process per token.

Two processes calling ``getUpdates`` for one token make Telegram answer 409 Conflict to
both, over and over, and updates are split between them. ``runbot`` therefore claims the
token first: a Redis key (``SET NX`` with a short expiry, renewed by a heartbeat thread,
so a killed process frees it within ``POLLING_CLAIM_SECONDS``) when Redis is configured,
else an exclusive file lock under ``var/`` (one machine, the embedded mode).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import uuid

from django.conf import settings

POLLING_CLAIM_SECONDS = 30
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class PollingAlreadyRunning(RuntimeError):
    pass


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]  # never the token itself


@contextlib.contextmanager
def _redis_claim(token_id: str):
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    key = f"{settings.CACHES['default'].get('KEY_PREFIX', 'relove')}:polling:{token_id}"
    me = uuid.uuid4().hex
    if not client.set(key, me, nx=True, ex=POLLING_CLAIM_SECONDS):
        raise PollingAlreadyRunning
    stop = threading.Event()

    def heartbeat():
        while not stop.wait(POLLING_CLAIM_SECONDS / 3):
            with contextlib.suppress(Exception):
                client.eval(_RENEW, 1, key, me, POLLING_CLAIM_SECONDS)

    thread = threading.Thread(target=heartbeat, name="polling-claim", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        with contextlib.suppress(Exception):
            client.eval(_RELEASE, 1, key, me)
        client.close()


@contextlib.contextmanager
def _file_claim(token_id: str):
    settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.VAR_DIR / f"runbot-{token_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PollingAlreadyRunning from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def polling_claim(token: str):
    """Hold the right to long-poll with ``token``; raises ``PollingAlreadyRunning`` if taken."""
    return _redis_claim(_token_id(token)) if settings.REDIS_URL else _file_claim(_token_id(token))
