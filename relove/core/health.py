"""``/healthz``: database, cache and broker checked for real, worker and beat by their heartbeats.

503 when one is down. A worker or beat never seen counts as down only once this web process has
been up longer than WORKER_SILENT_AFTER_SECONDS (they may simply start later). ``?scope=web`` checks
the web process's own dependencies only: the container health check uses it, so a dead worker is
reported, not "fixed" by restarting the web container.
"""

import os
import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache() -> None:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return the value just written")
    cache.delete(key)


def _check_broker() -> None:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
        os.makedirs(folder, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise RuntimeError("broker folder is not writable")
        return
    if url.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
        return
    from relove.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


_STARTED = time.monotonic()


class Silent(Exception):
    """A background component has not reported; the message (no secrets) is shown as is."""


def _heartbeat_check(name):
    def check() -> dict:
        from . import liveness

        if not liveness.worker_required():
            return {"skipped": "tasks run eagerly"}
        state = liveness.snapshot()[name]
        if state.alive:
            return {"seen_seconds_ago": int(state.age.total_seconds())}
        if state.seen_at is None:
            if time.monotonic() - _STARTED < settings.WORKER_SILENT_AFTER_SECONDS:
                return {"starting": True}
            raise Silent("never seen")
        raise Silent(f"silent for {int(state.age.total_seconds())} s")

    return check


CHECKS = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}
BACKGROUND_CHECKS = {"worker": _heartbeat_check("worker"), "beat": _heartbeat_check("beat")}


@never_cache
@require_GET
def healthz(request):
    results = {}
    checks = CHECKS if request.GET.get("scope") == "web" else {**CHECKS, **BACKGROUND_CHECKS}
    for name, check in checks.items():
        try:
            extra = check()
        except Exception as exc:  # noqa: BLE001 — any failure means "down"
            results[name] = {"ok": False, "error": str(exc) if isinstance(exc, Silent) else type(exc).__name__}
        else:
            results[name] = {"ok": True, **(extra or {})}
    healthy = all(r["ok"] for r in results.values())
    return JsonResponse({"status": "ok" if healthy else "fail", "checks": results},
                        status=200 if healthy else 503)
