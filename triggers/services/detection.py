"""Detection: reasons to write first become pending ``ProactiveTrigger`` rows.

Every detector is one or a few set-based queries over an index whose range holds the
members who are due (plus a little slack), never a loop over all members:

- inactivity: ``member_proactive_idx`` (eligible members by ``last_user_message_at``) and
  ``trigger_kind_created_idx`` (the last nudge);
- morning check-in: the same member index, only for the zones whose morning it is;
- stage completed / avoidance: new rows of the journeys tables, by primary key;
- stream steps: ``step_delivery_due_idx`` (undelivered programme steps by due day);
- stream invitations: members on the stream's suitable stages, only when an invitation
  window opens (or on the periodic full pass).

A detector gets a ``Scope``: with ``since`` set it looks only at what became due after that
moment (the incremental scan every minute); with ``since=None`` it looks at everything that
is due (the first scan, after a config change, and hourly as a safety net). Both give the
same rows, because every detector also checks that no trigger exists yet for the reason
(dedupe keys), so overlapping scans never create a second one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from journeys import selectors as journey_selectors
from journeys.models import JourneyInsight, JourneyProgress, Stream, StreamEnrollment

from ..models import ProactiveTrigger, ProactivityConfig
from ..selectors import OPEN_STATUSES, eligible_members
from .windows import all_zones, as_zone, at_local_time, first_moment_of_day, local_date, wall_clock

logger = logging.getLogger(__name__)

Kind = ProactiveTrigger.Kind
EVENT_FRESHNESS = timedelta(hours=48)  # a stage change or avoidance note older than this is stale
STEP_FRESHNESS_DAYS = 2  # a programme step missed for longer than this is not sent any more
ONE_INVITE_PER = timedelta(hours=24)
ONE_AVOIDANCE_PER = timedelta(hours=24)


@dataclass(frozen=True)
class Scope:
    now: datetime
    since: datetime | None = None  # None: a full scan
    progress_floor: int | None = None  # journey rows with a larger id are new to us
    insight_floor: int | None = None


def _eligible(prefix: str) -> Q:
    """``eligible_members()`` as a condition on a related member (``prefix`` = path to it)."""
    return Q(**{f"{prefix}proactive_enabled": True, f"{prefix}is_paused": False, f"{prefix}is_blocked": False,
                f"{prefix}crisis_flag": False, f"{prefix}consent_at__isnull": False})


def _new(user_id: int, kind: str, key: str, now: datetime, payload: dict | None = None) -> ProactiveTrigger:
    return ProactiveTrigger(user_id=user_id, kind=kind, dedupe_key=key, scheduled_for=now, created_at=now,
                            payload=payload or {})


def _without_existing(rows: list[ProactiveTrigger]) -> list[ProactiveTrigger]:
    """Drop rows whose (member, dedupe key) already has a trigger in any status (one query)."""
    if not rows:
        return rows
    existing = set(ProactiveTrigger.objects.filter(user_id__in={r.user_id for r in rows},
                                                   dedupe_key__in={r.dedupe_key for r in rows})
                   .values_list("user_id", "dedupe_key"))
    return [r for r in rows if (r.user_id, r.dedupe_key) not in existing]


# --- inactivity ----------------------------------------------------------------------------

def _fatigue_classes(config: ProactivityConfig) -> list[tuple[Q, int]]:
    """(member filter, period multiplier): members with ``fatigue_threshold`` unanswered
    messages in a row hear from us ``fatigue_multiplier`` times less often."""
    if config.fatigue_threshold == 0:
        return [(Q(), 1)]
    return [(Q(unanswered_proactive__lt=config.fatigue_threshold), 1),
            (Q(unanswered_proactive__gte=config.fatigue_threshold), config.fatigue_multiplier)]


def inactivity_queries(*, config: ProactivityConfig, scope: Scope) -> list[QuerySet]:
    """The member queries behind ``detect_inactivity`` (also explained by the benchmark)."""
    now, queries = scope.now, []
    for member_filter, multiplier in _fatigue_classes(config):
        period = config.inactivity_after * multiplier
        cut = now - period
        recent = ProactiveTrigger.objects.filter(user=OuterRef("pk"), kind=Kind.INACTIVITY).filter(
            Q(created_at__gt=cut) | Q(status__in=OPEN_STATUSES))
        due = (eligible_members().filter(member_filter, journey_stage__isnull=False, last_user_message_at__lte=cut,
                                         last_user_message_at__gte=now - timedelta(days=config.active_days))
               .exclude(Exists(recent)))
        if scope.since is None:
            queries.append(due)
            continue
        # Incremental: only members whose silence, or time since the last nudge, crossed the
        # period after the last scan — two index ranges instead of all silent members.
        lower = scope.since - period
        nudged = ProactiveTrigger.objects.filter(kind=Kind.INACTIVITY, created_at__gt=lower, created_at__lte=cut)
        queries += [due.filter(last_user_message_at__gt=lower), due.filter(pk__in=nudged.values("user_id"))]
    return [query.values_list("pk", flat=True) for query in queries]


def detect_inactivity(*, config: ProactivityConfig, scope: Scope) -> list[ProactiveTrigger]:
    """Members on an active journey who have been silent for the inactivity period.

    Silent since the last nudge, too: one nudge per period of silence, the period stretched
    by fatigue. "Active journey": on a stage and wrote within ``active_days``.
    """
    found = set()
    for query in inactivity_queries(config=config, scope=scope):
        found.update(query)
    return [_new(user_id, Kind.INACTIVITY, "inactivity", scope.now) for user_id in sorted(found)]


# --- morning check-in --------------------------------------------------------------------------

def _mornings(config: ProactivityConfig, scope: Scope) -> dict[tuple, list[str]]:
    """Zones whose local morning it is (new since the last scan when incremental), grouped by day."""
    groups: dict[tuple, list[str]] = defaultdict(list)
    for zone in all_zones():
        wall = wall_clock(scope.now, zone)
        if not config.morning_start <= wall.time() < config.morning_end:
            continue
        if scope.since is not None:
            before = wall_clock(scope.since, zone)
            if before.date() == wall.date() and config.morning_start <= before.time() < config.morning_end:
                continue  # it was already this morning there at the last scan
        day = wall.date()
        groups[(day, first_moment_of_day(day, zone), at_local_time(day, config.morning_end, zone))].append(zone.key)
    default = as_zone(config.default_timezone).key
    for keys in groups.values():
        if default in keys:
            keys.append("")  # members without a zone of their own live in the default one
    return groups


def detect_morning_checkins(*, config: ProactivityConfig, scope: Scope) -> list[ProactiveTrigger]:
    """One check-in per local morning for members on an active journey who have not written today."""
    now, rows = scope.now, []
    for (day, day_start, expires), zones in _mornings(config, scope).items():
        key = f"morning_checkin:{day.isoformat()}"
        due = (eligible_members()
               .filter(journey_stage__isnull=False, timezone__in=zones,
                       last_user_message_at__gte=now - timedelta(days=config.active_days),
                       last_user_message_at__lt=day_start)
               .exclude(Exists(ProactiveTrigger.objects.filter(user=OuterRef("pk"), dedupe_key=key))))
        if config.fatigue_threshold and config.fatigue_multiplier > 1:
            # Tired members get a check-in every ``fatigue_multiplier`` days instead of daily.
            rest = now - timedelta(days=config.fatigue_multiplier - 1, hours=12)
            recent = ProactiveTrigger.objects.filter(user=OuterRef("pk"), kind=Kind.MORNING_CHECKIN,
                                                     created_at__gt=rest)
            due = due.exclude(Q(unanswered_proactive__gte=config.fatigue_threshold) & Exists(recent))
        payload = {"expires_at": expires.isoformat()}
        rows += [_new(user_id, Kind.MORNING_CHECKIN, key, now, payload) for user_id in due.values_list("pk", flat=True)]
    return rows


# --- events from the journeys app ------------------------------------------------------------

def detect_stage_completions(*, config: ProactivityConfig, scope: Scope) -> list[ProactiveTrigger]:
    """A forward stage change by the analysis or staff: congratulate and show the next step."""
    changes = JourneyProgress.objects.filter(
        _eligible("user__"), source__in=[JourneyProgress.Source.PLACEMENT, JourneyProgress.Source.LLM,
                                         JourneyProgress.Source.STAFF],
        previous_stage__isnull=False, stage__order__gt=F("previous_stage__order"), announced_at__isnull=True,
        created_at__gt=scope.now - EVENT_FRESHNESS,
    ).exclude(Exists(JourneyProgress.objects.filter(user=OuterRef("user"), pk__gt=OuterRef("pk"))))
    if scope.progress_floor is not None:
        changes = changes.filter(pk__gt=scope.progress_floor)
    rows = [_new(user_id, Kind.STAGE_COMPLETED, f"stage_completed:{pk}", scope.now,
                 {"progress_id": pk, "stage_order": order})
            for pk, user_id, order in changes.values_list("pk", "user_id", "stage__order")]
    return _without_existing(rows)


def detect_avoidance(*, config: ProactivityConfig, scope: Scope) -> list[ProactiveTrigger]:
    """The analysis noticed an avoidance pattern: name it and ask directly (once a day at most)."""
    notes = JourneyInsight.objects.filter(_eligible("user__"), kind=JourneyInsight.Kind.AVOIDANCE,
                                          created_at__gt=scope.now - EVENT_FRESHNESS)
    if scope.insight_floor is not None:
        notes = notes.filter(pk__gt=scope.insight_floor)
    latest: dict[int, int] = {}
    for pk, user_id in notes.order_by("pk").values_list("pk", "user_id"):
        latest[user_id] = pk
    if not latest:
        return []
    recent = set(ProactiveTrigger.objects.filter(user_id__in=latest, kind=Kind.AVOIDANCE,
                                                 created_at__gt=scope.now - ONE_AVOIDANCE_PER)
                 .values_list("user_id", flat=True))
    rows = [_new(user_id, Kind.AVOIDANCE, f"avoidance:{pk}", scope.now, {"insight_id": pk})
            for user_id, pk in latest.items() if user_id not in recent]
    return _without_existing(rows)


def detect_stream_steps(*, config: ProactivityConfig, scope: Scope) -> list[ProactiveTrigger]:
    """Programme steps whose due day has come in the member's zone (laid out at enrolment).

    The journeys app owns the programme (``journeys.selectors.stream_steps_due``); this adds
    who may be written to and a lower bound, so the range on ``step_delivery_due_idx`` stays
    as small as the steps due in the last couple of days.
    """
    steps_due = getattr(journey_selectors, "stream_steps_due", None)
    if steps_due is None:  # the journeys app does not lay out programmes
        return []
    now = scope.now
    # Every zone's "today" lies within these days; the exact check per member follows.
    newest, oldest = (now + timedelta(hours=14)).date(), (now - timedelta(hours=12)).date()
    due = (steps_due(on=newest)
           .filter(_eligible("enrollment__user__"), due_on__gte=oldest - timedelta(days=STEP_FRESHNESS_DAYS))
           .values_list("pk", "due_on", "enrollment__user_id", "enrollment__user__timezone", "step_id",
                        "enrollment__stream_id"))
    rows = []
    for pk, due_on, user_id, zone_name, step_id, stream_id in due:
        today = local_date(now, as_zone(zone_name or config.default_timezone))
        if due_on <= today and (today - due_on).days <= STEP_FRESHNESS_DAYS:
            rows.append(_new(user_id, Kind.STREAM_STEP, f"stream_step:{pk}", now,
                             {"step_delivery_id": pk, "step_id": step_id, "stream_id": stream_id}))
    return _without_existing(rows)


# --- stream invitations ----------------------------------------------------------------------------

def detect_stream_invites(*, config: ProactivityConfig, scope: Scope) -> list[ProactiveTrigger]:
    """Invite members on a stream's suitable stages a few days before it starts (once per stream)."""
    now, zone = scope.now, as_zone(config.default_timezone)
    today = local_date(now, zone)
    streams = list(Stream.objects.filter(
        is_active=True, starts_at__gt=today,
        starts_at__lte=today + timedelta(days=config.stream_invite_days_before)))
    if scope.since is not None:  # only the streams whose invitation window opened since then
        since_day = local_date(scope.since, zone)
        streams = [s for s in streams
                   if s.starts_at - timedelta(days=config.stream_invite_days_before) > since_day]
    rows, invited = [], set()
    for stream in streams:
        key = f"stream_invite:{stream.pk}"
        stages = list(stream.suitable_stages.values_list("order", flat=True))
        earlier = ProactiveTrigger.objects.filter(user=OuterRef("pk"), kind=Kind.STREAM_INVITE).filter(
            Q(dedupe_key=key) | Q(created_at__gt=now - ONE_INVITE_PER))
        due = (eligible_members()
               .filter(journey_stage__isnull=False,
                       last_user_message_at__gte=now - timedelta(days=config.active_days))
               .exclude(Exists(StreamEnrollment.objects.filter(user=OuterRef("pk"), stream=stream)))
               .exclude(Exists(earlier)))
        if stages:
            due = due.filter(journey_stage__in=stages)
        payload = {"stream_id": stream.pk, "expires_at": first_moment_of_day(stream.starts_at, zone).isoformat()}
        for user_id in due.values_list("pk", flat=True):
            if user_id not in invited:  # one invitation per member per scan
                invited.add(user_id)
                rows.append(_new(user_id, Kind.STREAM_INVITE, key, now, payload))
    return rows


DETECTORS = {
    Kind.STREAM_STEP: detect_stream_steps,
    Kind.STAGE_COMPLETED: detect_stage_completions,
    Kind.AVOIDANCE: detect_avoidance,
    Kind.MORNING_CHECKIN: detect_morning_checkins,
    Kind.INACTIVITY: detect_inactivity,
    Kind.STREAM_INVITE: detect_stream_invites,
}


def triggers_detect_all(*, config: ProactivityConfig, scope: Scope) -> dict[str, int]:
    """Run every enabled detector and insert what they found; returns rows per kind.

    Inserts skip rows that would break "one open trigger per reason" (a concurrent insert),
    so the counts are what was found, not necessarily what was new.
    """
    counts: dict[str, int] = {}
    for kind, detector in DETECTORS.items():
        if not config.kind_enabled(kind):
            continue
        rows = detector(config=config, scope=scope)
        ProactiveTrigger.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
        counts[kind.value] = len(rows)
    logger.info("triggers detected: %s", counts)
    return counts
