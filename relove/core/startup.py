"""Checks every process runs once at start, before it serves anything."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor


def _checks() -> None:
    from django.db import connections

    from .crypto import verify_keys

    try:
        verify_keys()
    finally:
        connections.close_all()  # this thread ends here; its connection must not leak


def run_startup_checks() -> None:
    """Fail the process now if the encryption keys cannot read stored data.

    ``uvicorn --workers N`` imports the ASGI module inside each worker's running event loop,
    where Django refuses synchronous database access (``SynchronousOnlyOperation``). The
    checks therefore run in a short-lived thread of their own, which has no event loop; the
    import waits for it, so a wrong key still stops the worker before it serves a request.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        from .crypto import verify_keys

        verify_keys()
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="startup-checks") as pool:
        pool.submit(_checks).result()
