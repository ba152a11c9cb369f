"""Tunables of broadcast delivery, read from Django settings with safe defaults.

They are read at call time (not import time) so tests and operators can change them with
``settings`` overrides; each has an environment variable in ``relove/settings.py``.
"""

from django.conf import settings

DEFAULTS = {
    # Requests in flight per worker: enough to keep the shared limiter's schedule full even
    # when one request takes several times the 1/30 s slot.
    "BROADCAST_CONCURRENCY": 8,
    # Rows claimed per query. Small on purpose: if a worker dies, at most about one batch
    # plus the requests in flight end as "unknown".
    "BROADCAST_BATCH_SIZE": 16,
    "BROADCAST_MAX_ATTEMPTS": 5,
    "BROADCAST_RETRY_BASE_SECONDS": 2.0,
    "BROADCAST_RETRY_MAX_SECONDS": 60.0,
    # A row still "sending" this long after its claim belongs to a dead worker.
    "BROADCAST_STUCK_AFTER_SECONDS": 300,
    # How often a worker re-reads the broadcast's status (cancel reaction time).
    "BROADCAST_STATUS_POLL_SECONDS": 0.25,
}


def get(name: str):
    return getattr(settings, name, DEFAULTS[name])
