"""Cache keys about one member, and removing them.

Convention: a cache key about a member is ``<namespace>:<member pk>`` or
``<namespace>:<member pk>:<anything>`` with the namespace listed in
:data:`MEMBER_KEY_NAMESPACES`; the outbound rate limiter keeps ``<ns>:rate:chat:<telegram id>``
directly in Redis. The erasure test scans the whole cache for the member's ids, so a new
namespace that is not listed here fails it.
"""

from __future__ import annotations

import fnmatch

from django.conf import settings
from django.core.cache import cache

MEMBER_KEY_NAMESPACES = ("session", "flood", "await_tz")


def _patterns(user_pk: int) -> list[str]:
    return [p for ns in MEMBER_KEY_NAMESPACES for p in (f"{ns}:{user_pk}", f"{ns}:{user_pk}:*")]


def member_cache_purge(*, user_pk: int, telegram_id: int) -> int:
    """Delete every cache key about the member; returns how many were deleted."""
    deleted = 0
    if settings.REDIS_URL:
        from django_redis import get_redis_connection

        for pattern in _patterns(user_pk):
            deleted += cache.delete_pattern(pattern) or 0
        conn = get_redis_connection("default")
        raw = list(conn.scan_iter(match=f"*:chat:{telegram_id}", count=1000))
        if raw:
            deleted += conn.delete(*raw)
        return deleted
    # Local-memory cache (embedded mode): one process, walk its keys.
    store = getattr(cache, "_cache", {})
    wanted = [cache.make_key(p) for p in _patterns(user_pk)]
    for key in [k for k in list(store) if any(fnmatch.fnmatchcase(k, w) for w in wanted)]:
        cache.delete(key.split(":", 2)[2])
        deleted += 1
    return deleted
