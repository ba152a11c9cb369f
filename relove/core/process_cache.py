"""Rarely edited rows read on every turn (stages, prompts, templates), kept in each process.

A save or delete of a watched model clears this process's copy at once and bumps a version
number in the shared cache (Redis in production); every other process compares that number
at most every ``PROCESS_CACHE_CHECK_SECONDS`` and reloads when it changed. A copy is also
reloaded after ``PROCESS_CACHE_MAX_AGE`` whatever happens, so a change that bypassed the
signals (``QuerySet.update``, a data migration) is picked up too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db.models.signals import m2m_changed, post_delete, post_save

T = TypeVar("T")
_ALL: list[ProcessCached] = []


class ProcessCached(Generic[T]):
    """``stages = ProcessCached("stages", load_stages, JourneyStage)``; ``stages.get()``.

    ``m2m``: many-to-many through models whose changes count too (``Stream.suitable_stages.through``):
    the admin saves a form's many-to-many fields after the row, so the row's signal alone would
    let a reload in between keep the old set."""

    def __init__(self, name: str, load: Callable[[], T], *models, m2m=()):
        self.name = name
        self._load = load
        self._lock = threading.Lock()
        self._value: T | None = None
        self._version = None
        self._loaded_at = 0.0
        self._checked_at = 0.0
        _ALL.append(self)
        for model in models:
            post_save.connect(self._changed, sender=model, weak=False, dispatch_uid=f"process-cache-{name}-save")
            post_delete.connect(self._changed, sender=model, weak=False, dispatch_uid=f"process-cache-{name}-del")
        for through in m2m:
            m2m_changed.connect(self._m2m_changed, sender=through, weak=False, dispatch_uid=f"process-cache-{name}-m2m")

    @property
    def _key(self) -> str:
        return f"process-cache-version:{self.name}"

    def get(self) -> T:
        now = time.monotonic()
        value = self._value
        if value is not None and now - self._checked_at < settings.PROCESS_CACHE_CHECK_SECONDS:
            return value
        with self._lock:
            version = cache.get(self._key)  # read before loading: a save in between reloads next time
            if (self._value is None or version != self._version
                    or now - self._loaded_at >= settings.PROCESS_CACHE_MAX_AGE):
                self._value, self._version, self._loaded_at = self._load(), version, now
            self._checked_at = now
            return self._value

    def invalidate(self) -> None:
        """Drop this process's copy and tell every other process to drop theirs."""
        with self._lock:
            self._value = None
        try:
            cache.incr(self._key)
        except ValueError:  # no version yet (or the cache was flushed)
            cache.set(self._key, time.time_ns(), timeout=None)

    def _changed(self, **kwargs) -> None:
        self.invalidate()

    def _m2m_changed(self, *, action: str, **kwargs) -> None:
        if action.startswith("post_"):
            self.invalidate()


def process_caches_drop() -> None:
    """Forget every process-local copy (tests: a rolled-back transaction sends no signal)."""
    for cached in _ALL:
        with cached._lock:
            cached._value = None
