"""Reads over journeys and streams, for the bot, the admin, the API and the trigger engine."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, QuerySet
from django.utils import timezone

from profiles.models import TelegramUser, UserInteraction
from relove.core.precompiled import Precompiled

from .models import JourneyInsight, JourneyProgress, Stream, StreamEnrollment, StreamStep, StreamStepDelivery
from .recommendations import MAX_RECOMMENDATIONS, StreamScore, stream_recommendations, stream_scores

STAGE_POINTS_FULL = 5  # insight = 1 point, breakthrough = 2; this many points fill a stage


def stream_active(*, stream_id: int) -> Stream | None:
    """The stream a member may join (its «Начать поток» button), or None if gone or closed."""
    return Stream.objects.filter(pk=stream_id, is_active=True).first()


def streams_for_api() -> QuerySet[Stream]:
    """The catalogue with what the API shows per stream fetched in a fixed number of queries."""
    return (Stream.objects.prefetch_related("suitable_stages", "steps")
            .annotate(enrolled_count=Count("enrollments")).order_by("starts_at", "id"))


def streams_for_member(*, user: TelegramUser, limit: int = MAX_RECOMMENDATIONS) -> list[Stream]:
    """The streams to recommend (at most two), ranked by ``journeys.recommendations``."""
    return [score.stream for score in stream_recommendations(user=user, limit=limit)]


# Read on every conversational turn with an open stream: compiled once per process.
OFFERED_SINCE = Precompiled(lambda user_id, since: UserInteraction.objects.filter(
    user_id=user_id, kind=UserInteraction.Kind.STREAM_OFFERED, created_at__gte=since,
).values_list("metadata__stream_id"), user_id=int, since=datetime)


def streams_offered_recently(*, user: TelegramUser, now: datetime | None = None) -> set[int]:
    """Streams Natasha invited the member to in the conversation within ``STREAM_OFFER_EVERY_DAYS``."""
    since = (now or timezone.now()) - timedelta(days=settings.STREAM_OFFER_EVERY_DAYS)
    return {sid for (sid,) in OFFERED_SINCE.rows(user_id=user.pk, since=since) if isinstance(sid, int)}


def streams_to_offer(*, user: TelegramUser, now: datetime | None = None,
                     profile_data: dict | None = None) -> list[StreamScore]:
    """The member's top recommendations (at most two) Natasha may invite them to in the conversation.

    None in crisis mode; streams they are enrolled in are never recommended; a stream offered
    within ``STREAM_OFFER_EVERY_DAYS`` is left out (fatigue), so the next best one may take its place.
    ``profile_data``: the member's latest profile data when the caller has read it already.
    """
    if user.crisis_flag:
        return []
    scores = stream_scores(user=user, profile_data=profile_data)
    if not scores:  # no open stream: no query about past offers either
        return []
    tired = streams_offered_recently(user=user, now=now)
    return [s for s in scores if s.stream.pk not in tired][:MAX_RECOMMENDATIONS]


def _stage_entered_at(user: TelegramUser) -> datetime | None:
    return (JourneyProgress.objects.filter(user=user, stage__order=user.journey_stage or 1)
            .order_by("-created_at").values_list("created_at", flat=True).first())


def stage_progress(*, user: TelegramUser) -> dict:
    """Progress within the current stage, from insights (1 point) and breakthroughs (2 points)."""
    rows = JourneyInsight.objects.filter(user=user, stage__order=user.journey_stage or 1,
                                         kind__in=[JourneyInsight.Kind.INSIGHT, JourneyInsight.Kind.BREAKTHROUGH])
    entered = _stage_entered_at(user)
    if entered:
        rows = rows.filter(created_at__gte=entered)
    kinds = list(rows.values_list("kind", flat=True))
    insights = kinds.count(JourneyInsight.Kind.INSIGHT)
    breakthroughs = kinds.count(JourneyInsight.Kind.BREAKTHROUGH)
    points = insights + 2 * breakthroughs
    return {"stage": user.journey_stage, "insights": insights, "breakthroughs": breakthroughs,
            "percent": min(100, round(100 * points / STAGE_POINTS_FULL))}


def stream_first_step(*, stream: Stream) -> StreamStep | None:
    return stream.steps.order_by("day_offset", "order", "id").first()


# --- contracts with the trigger engine ---------------------------------------------------

def stream_steps_due(*, on: date) -> QuerySet[StreamStepDelivery]:
    """Programme steps not yet sent whose member-local due day is ``on`` or earlier.

    Only active enrolments in active streams. The trigger engine calls this with the latest
    local date among its members (e.g. UTC today + 1 day) and compares each row's
    ``due_on`` with the member's own local date; after sending, it calls
    ``services.stream_step_mark_delivered(delivery_id=…)``.
    """
    return (StreamStepDelivery.objects
            .filter(delivered_at__isnull=True, due_on__lte=on,
                    enrollment__status=StreamEnrollment.Status.ACTIVE, enrollment__stream__is_active=True)
            .select_related("enrollment__user", "enrollment__stream", "step")
            .order_by("due_on", "step__day_offset", "step__order", "id"))


def stage_changes_since(*, since: datetime) -> QuerySet[JourneyProgress]:
    """Forward stage changes (placement, analysis or staff) since ``since``: "stage completed" events."""
    return (JourneyProgress.objects
            .filter(created_at__gte=since, source__in=[JourneyProgress.Source.PLACEMENT, JourneyProgress.Source.LLM,
                                                       JourneyProgress.Source.STAFF],
                    previous_stage__isnull=False, stage__order__gt=F("previous_stage__order"))
            .select_related("user", "stage", "previous_stage")
            .order_by("created_at", "id"))
