"""Journey writes: starting a member's path and moving them between stages."""

from __future__ import annotations

from django.db import transaction

from profiles.models import TelegramUser

from .models import JourneyProgress, JourneyStage


def stage_get(order: int | None) -> JourneyStage:
    """The stage with this order (the first stage when the member has none yet)."""
    return JourneyStage.objects.get(order=order or 1)


@transaction.atomic
def journey_start(*, user: TelegramUser) -> JourneyStage:
    """Put a member who just consented on stage 1; idempotent for members already on a path."""
    if user.journey_stage:
        return stage_get(user.journey_stage)
    first = stage_get(1)
    user.journey_stage = first.order
    user.save(update_fields=["journey_stage", "updated_at"])
    JourneyProgress.objects.create(user=user, stage=first, source=JourneyProgress.Source.INITIAL,
                                   confidence=1.0, reason="начало пути")
    return first


def stream_ref_code(*, user: TelegramUser, stream) -> str:
    """A ref parameter that attributes a click or registration to this member and stream."""
    return f"tg{user.pk}s{stream.pk}"


@transaction.atomic
def stream_enroll(*, user: TelegramUser, stream) -> tuple[object, bool]:
    """Enrol a member in a stream once; returns (enrollment, created)."""
    from profiles.models import UserInteraction

    from .models import StreamEnrollment

    enrollment, created = StreamEnrollment.objects.get_or_create(
        user=user, stream=stream, defaults={"ref_code": stream_ref_code(user=user, stream=stream)})
    if created:
        UserInteraction.objects.create(user=user, kind=UserInteraction.Kind.STREAM_ENROLLED,
                                       stage=user.journey_stage, metadata={"stream_id": stream.pk})
    return enrollment, created
