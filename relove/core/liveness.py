"""Is each moving part alive? Heartbeats written by the parts themselves, read by staff pages.

A component calls :func:`record` when it does its work (the worker every ``HEARTBEAT_SECONDS`` from
a thread, beat on its ticks, the bot on updates …); writes are throttled per process, so calling it
often costs nothing. :func:`snapshot` tells the dashboard and ``/healthz`` how long ago each
component was last seen and whether that is too long ago.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

log = logging.getLogger(__name__)

WORKER, BEAT, BOT, TRIGGER_SCAN, TELEGRAM, LLM = "worker", "beat", "bot", "trigger_scan", "telegram", "llm"
TITLES = {
    WORKER: "Воркер Celery",
    BEAT: "Расписание (Celery beat)",
    BOT: "Бот: последний опрос или вебхук",
    TRIGGER_SCAN: "Последний поиск триггеров",
    TELEGRAM: "Токен Telegram",
    LLM: "Языковая модель",
}

_last_write: dict[str, float] = {}
_last_ok: dict[str, bool] = {}
_lock = threading.Lock()


def silent_after(name: str) -> timedelta | None:
    """How long a component may stay silent before it counts as down (None: never judged by age)."""
    limits = {WORKER: settings.WORKER_SILENT_AFTER_SECONDS, BEAT: settings.WORKER_SILENT_AFTER_SECONDS,
              TRIGGER_SCAN: settings.WORKER_SILENT_AFTER_SECONDS + 60}
    seconds = limits.get(name)
    return timedelta(seconds=seconds) if seconds else None


def due(name: str, every: float | None = None) -> bool:
    """True when this process has not recorded ``name`` for ``every`` seconds (cheap, no I/O)."""
    every = settings.HEARTBEAT_SECONDS if every is None else every
    return time.monotonic() - _last_write.get(name, float("-inf")) >= every


def record(name: str, *, ok: bool = True, detail: str = "", every: float | None = None) -> bool:
    """Note that ``name`` is alive now (throttled per process; a change of ``ok`` is written at once).

    Never raises: a heartbeat must not break the work it reports on. Returns whether it wrote.
    """
    from .models import Heartbeat

    with _lock:
        if not due(name, every) and _last_ok.get(name, ok) == ok:
            return False
        _last_write[name] = time.monotonic()
        _last_ok[name] = ok
    try:
        Heartbeat.objects.update_or_create(
            name=name, defaults={"seen_at": timezone.now(), "ok": ok, "detail": detail[:200]})
    except Exception as exc:  # noqa: BLE001 — a database error, or no database in this context
        log.warning("heartbeat %s not recorded: %s", name,
                    "database unavailable" if isinstance(exc, DatabaseError) else type(exc).__name__)
        with _lock:
            _last_write.pop(name, None)
        return False
    return True


def should_record(name: str, *, ok: bool = True, every: float | None = None) -> bool:
    """Would :func:`record` write now? Cheap (no I/O): async code asks before hopping to a thread."""
    return due(name, every) or _last_ok.get(name, ok) != ok


def _record_in_thread(name: str, ok: bool, detail: str) -> None:
    close_old_connections()
    try:
        record(name, ok=ok, detail=detail)
    finally:
        connection.close()  # a pool thread must not keep a connection open for 30 s


def note(name: str, *, ok: bool = True, detail: str = "") -> None:
    """:func:`record` from anywhere, event loops included: there the write goes to a thread
    without waiting for it (a heartbeat never delays a member's answer)."""
    if not should_record(name, ok=ok):
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None:
        record(name, ok=ok, detail=detail)
    elif settings.HEARTBEATS_FROM_EVENT_LOOPS:
        loop.run_in_executor(None, _record_in_thread, name, ok, detail)


def forget_throttle() -> None:
    """Tests: let the next :func:`record` write whatever this process wrote before."""
    with _lock:
        _last_write.clear()
        _last_ok.clear()


@dataclass(frozen=True)
class State:
    name: str
    title: str
    seen_at: datetime | None
    ok: bool
    detail: str
    alive: bool | None  # None: never seen (or not needed in this setup)

    @property
    def age(self) -> timedelta | None:
        return timezone.now() - self.seen_at if self.seen_at else None


def worker_required() -> bool:
    """With eager Celery (tests, the terminal chat) tasks run in the caller: no worker to wait for."""
    return not settings.CELERY_TASK_ALWAYS_EAGER


def snapshot() -> dict[str, State]:
    from .models import Heartbeat

    rows = {row.name: row for row in Heartbeat.objects.all()}
    now = timezone.now()
    states = {}
    for name, title in TITLES.items():
        row = rows.get(name)
        limit = silent_after(name)
        if row is None:
            alive = None
        elif limit is not None:
            alive = row.ok and now - row.seen_at <= limit
        else:
            alive = row.ok
        states[name] = State(name, title, row.seen_at if row else None, row.ok if row else False,
                             row.detail if row else "", alive)
    return states


def worker_alive() -> bool:
    """Is a worker taking tasks right now? (Always true when tasks run eagerly.)"""
    if not worker_required():
        return True
    return bool(snapshot()[WORKER].alive)


# --- The worker's own heartbeat --------------------------------------------------------------

def start_worker_heartbeat(stop: threading.Event | None = None) -> threading.Thread:
    """A daemon thread in the worker's main process: records ``worker`` every HEARTBEAT_SECONDS."""
    stop = stop or threading.Event()

    def run():
        while not stop.is_set():
            close_old_connections()
            record(WORKER, every=0)
            connection.close()
            stop.wait(settings.HEARTBEAT_SECONDS)

    thread = threading.Thread(target=run, name="relove-worker-heartbeat", daemon=True)
    thread.start()
    return thread
