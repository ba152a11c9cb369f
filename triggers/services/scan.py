"""The scan: sweep stuck rows, detect reasons, deliver what is due. What beat runs every minute."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from journeys.models import JourneyInsight, JourneyProgress

from ..models import ProactiveTrigger, ProactivityConfig, ScanState
from .delivery import triggers_deliver_due, triggers_sweep_stuck
from .detection import Scope, triggers_detect_all

logger = logging.getLogger(__name__)

RECONCILE_EVERY = timedelta(hours=1)  # a full detection pass at least this often
SINCE_MARGIN = timedelta(minutes=2)  # incremental scans overlap a little: slow commits are not missed
EVENT_LAG = timedelta(minutes=5)  # journey rows are re-read for this long after their id was first seen
EVENT_MARKS_KEEP = timedelta(minutes=30)
DETECTION_LOCK = 0x74726967  # PostgreSQL advisory lock key ("trig")


def _detection_lock() -> bool:
    """Only one detection at a time (others skip it): "no trigger for this reason yet" is then
    checked and inserted without a concurrent detector in between. SQLite's immediate
    transactions already serialise writers."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [DETECTION_LOCK])
        return bool(cursor.fetchone()[0])


def _marks(state: ScanState | None, now: datetime) -> list[tuple[datetime, int, int]]:
    marks = []
    for at, progress_id, insight_id in (state.event_marks if state else []):
        moment = parse_datetime(at)
        if moment is not None and moment <= now:
            marks.append((moment, progress_id, insight_id))
    return sorted(marks)


def _scope(state: ScanState | None, config: ProactivityConfig, now: datetime) -> Scope:
    """Incremental when the last scan is recent, under the same config; full otherwise."""
    older = [m for m in _marks(state, now) if m[0] <= now - EVENT_LAG]
    floors = (older[-1][1], older[-1][2]) if older else (None, None)
    full = (state is None or state.detected_at is None or state.detected_at > now
            or state.config_version != config.updated_at
            or state.reconciled_at is None or now - state.reconciled_at >= RECONCILE_EVERY)
    since = None if full else state.detected_at - SINCE_MARGIN
    return Scope(now=now, since=since, progress_floor=floors[0], insight_floor=floors[1])


def _remember(state: ScanState | None, config: ProactivityConfig, scope: Scope, ids: tuple[int, int]) -> None:
    now = scope.now
    marks = _marks(state, now)
    kept = [m for m in marks if m[0] >= now - EVENT_MARKS_KEEP]
    older = [m for m in marks if m[0] < now - EVENT_MARKS_KEEP]
    kept = older[-1:] + kept + [(now, *ids)]
    ScanState.objects.update_or_create(pk=1, defaults={
        "detected_at": now, "config_version": config.updated_at,
        "reconciled_at": now if scope.since is None else state.reconciled_at,
        "event_marks": [[m[0].isoformat(), m[1], m[2]] for m in kept],
    })


def triggers_detect(*, config: ProactivityConfig, now: datetime) -> dict[str, int]:
    """Create pending triggers for every reason that became due; idempotent, safe to overlap."""
    with transaction.atomic():
        if not _detection_lock():
            return {"detection_busy": 1}
        state = ScanState.objects.filter(pk=1).first()
        # Read before detecting: rows added meanwhile are looked at next time.
        ids = (JourneyProgress.objects.aggregate(m=Max("pk"))["m"] or 0,
               JourneyInsight.objects.aggregate(m=Max("pk"))["m"] or 0)
        scope = _scope(state, config, now)
        replanned = _replan_after_config_change(state, config, now)
        counts = triggers_detect_all(config=config, scope=scope)
        _remember(state, config, scope, ids)
    return ({f"detected_{kind}": n for kind, n in counts.items()}
            | {"full_scan": int(scope.since is None), "replanned": replanned})


def _replan_after_config_change(state: ScanState | None, config: ProactivityConfig, now: datetime) -> int:
    """After staff change the rules, deferrals made under the old ones are planned again now.

    (Narrower rules would be applied when the deferral comes due anyway; this makes wider
    ones apply at once.) Retries waiting out a backoff keep their time.
    """
    if state is None or state.config_version is None or state.config_version == config.updated_at:
        return 0
    return ProactiveTrigger.objects.filter(status=ProactiveTrigger.Status.PENDING, attempts=0,
                                           scheduled_for__gt=now).update(scheduled_for=now)


def triggers_run_scan(*, now: datetime | None = None, deliver: bool = True,
                      time_budget: float | None = None) -> dict[str, int]:
    """One tick of the engine: sweep, detect, deliver. Returns counts by outcome.

    Reads ``ProactivityConfig`` afresh, so staff edits apply from the next tick. Safe to run
    concurrently (two beat ticks, a tick and ``manage.py run_triggers``): claims decide who
    sends, and nothing is sent twice. ``now`` fixes the clock (tests, benchmarks); without
    it sends are stamped with the real time. Delivery stops after ``time_budget`` seconds
    (default ``TRIGGERS_DELIVERY_SECONDS``, 50) and leaves the rest for the next tick.
    """
    live = now is None
    now = now or timezone.now()
    config = ProactivityConfig.load()
    counts = Counter(triggers_sweep_stuck(now=now))
    if not config.enabled or config.max_per_day == 0:
        counts["disabled"] = 1
        return dict(counts)
    counts.update(triggers_detect(config=config, now=now))
    if deliver:
        budget = time_budget if time_budget is not None else getattr(settings, "TRIGGERS_DELIVERY_SECONDS", 50)
        counts.update(triggers_deliver_due(config=config, now=now, time_budget=budget, live_clock=live))
    result = {key: value for key, value in counts.items() if value}
    logger.info("trigger scan: %s", result)
    return result
