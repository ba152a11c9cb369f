"""Reads over journeys and streams."""

from __future__ import annotations

from django.db.models import Case, IntegerField, Q, Value, When
from django.utils import timezone

from profiles.models import TelegramUser

from .models import JourneyInsight, Stream, StreamStep


def streams_open(*, today=None):
    today = today or timezone.localdate()
    return Stream.objects.filter(is_active=True).filter(Q(starts_at__isnull=True) | Q(starts_at__gte=today))


def streams_for_member(*, user: TelegramUser, limit: int = 2) -> list[Stream]:
    """Open streams, those suited to the member's stage first, then the soonest to start."""
    stage = user.journey_stage or 1
    return list(
        streams_open()
        .annotate(fits=Case(When(suitable_stages__order=stage, then=Value(1)), default=Value(0),
                            output_field=IntegerField()))
        .order_by("-fits", "starts_at", "id")
        .distinct()[:limit]
    )


def insights_on_stage(*, user: TelegramUser) -> int:
    return JourneyInsight.objects.filter(
        user=user, stage__order=user.journey_stage or 1,
        kind__in=[JourneyInsight.Kind.INSIGHT, JourneyInsight.Kind.BREAKTHROUGH]).count()


def stream_first_step(*, stream: Stream) -> StreamStep | None:
    return stream.steps.order_by("day_offset", "order").first()
