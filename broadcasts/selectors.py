"""Reads for broadcasts: audience segments, counts and delivery progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from journeys.models import JourneyStage, StreamEnrollment
from profiles.models import TelegramUser

from .models import Broadcast, BroadcastDelivery

Status = BroadcastDelivery.Status
FINAL = (Status.SENT, Status.FAILED, Status.BLOCKED, Status.UNKNOWN, Status.CANCELLED, Status.SKIPPED)
RATE_WINDOW_SECONDS = 30


@dataclass(frozen=True)
class Segment:
    """Who a broadcast goes to; empty criteria match everyone."""

    stage_ids: tuple[int, ...] = ()
    stream_ids: tuple[int, ...] = ()
    tag_ids: tuple[int, ...] = ()
    gender: str = ""
    language: str = ""
    active_within_days: int | None = None
    consented_only: bool = True


def segment_of(broadcast: Broadcast) -> Segment:
    """The segment saved on a broadcast."""
    if broadcast.pk is None:
        return Segment(gender=broadcast.segment_gender, language=broadcast.segment_language,
                       active_within_days=broadcast.segment_active_within_days,
                       consented_only=broadcast.segment_consented_only)
    return Segment(
        stage_ids=tuple(broadcast.segment_stages.values_list("pk", flat=True)),
        stream_ids=tuple(broadcast.segment_streams.values_list("pk", flat=True)),
        tag_ids=tuple(broadcast.segment_tags.values_list("pk", flat=True)),
        gender=broadcast.segment_gender,
        language=broadcast.segment_language,
        active_within_days=broadcast.segment_active_within_days,
        consented_only=broadcast.segment_consented_only,
    )


def audience(*, segment: Segment, now=None) -> QuerySet[TelegramUser]:
    """Members a broadcast with ``segment`` goes to.

    Criteria combine with AND; several values of one criterion (stages, streams, tags) with OR.
    Whatever the segment, nobody who blocked the bot, asked not to be written to first
    (opted out or paused) or is under a crisis flag is included.
    """
    qs = TelegramUser.objects.filter(is_blocked=False, crisis_flag=False, proactive_enabled=True, is_paused=False)
    if segment.consented_only:
        qs = qs.filter(consent_at__isnull=False)
    if segment.stage_ids:
        orders = JourneyStage.objects.filter(pk__in=segment.stage_ids).values("order")
        qs = qs.filter(journey_stage__in=orders)
    if segment.stream_ids:
        # Enrolment in any state counts: "Начать поток" enrols, so it is also the interest signal.
        qs = qs.filter(pk__in=StreamEnrollment.objects.filter(stream_id__in=segment.stream_ids).values("user_id"))
    if segment.tag_ids:
        qs = qs.filter(pk__in=TelegramUser.tags.through.objects.filter(
            membertag_id__in=segment.tag_ids).values("telegramuser_id"))
    if segment.gender:
        qs = qs.filter(gender=segment.gender)
    if segment.language:
        # "ru" matches "ru" and regional variants like "ru-RU"
        qs = qs.filter(Q(language_code__iexact=segment.language) |
                       Q(language_code__istartswith=f"{segment.language}-"))
    if segment.active_within_days is not None:
        since = (now or timezone.now()) - timedelta(days=segment.active_within_days)
        qs = qs.filter(last_activity_at__gte=since)
    return qs


def audience_count(*, segment: Segment) -> int:
    return audience(segment=segment).count()


def delivery_counts(*, broadcast_id: int) -> dict[str, int]:
    """Rows per status plus ``total`` and ``pending`` (not final yet: pending or being sent)."""
    rows = (BroadcastDelivery.objects.filter(broadcast_id=broadcast_id)
            .values_list("status").annotate(n=Count("id")).order_by())
    counts = {status.value: 0 for status in Status}
    counts.update(dict(rows))
    counts["total"] = sum(counts.values())
    counts["queued"] = counts[Status.PENDING]
    counts["pending"] = counts[Status.PENDING] + counts[Status.SENDING]
    return counts


def broadcast_progress(*, broadcast: Broadcast, now=None) -> dict:
    """Counts, the recent sending rate (messages/s) and the estimated seconds left."""
    now = now or timezone.now()
    counts = delivery_counts(broadcast_id=broadcast.pk)
    window_start = max(now - timedelta(seconds=RATE_WINDOW_SECONDS), broadcast.started_at or now)
    seconds = (now - window_start).total_seconds()
    recent = BroadcastDelivery.objects.filter(
        broadcast_id=broadcast.pk, status=Status.SENT, sent_at__gte=window_start).count() if seconds > 0 else 0
    rate = recent / seconds if seconds >= 1 else 0.0
    eta = counts["pending"] / rate if rate > 0 and counts["pending"] else None
    if broadcast.status != Broadcast.Status.SENDING:
        rate, eta = 0.0, None
    return {
        "id": broadcast.pk,
        "status": broadcast.status,
        "status_display": broadcast.get_status_display(),
        "counts": counts,
        "rate": round(rate, 1),
        "eta_seconds": round(eta) if eta is not None else None,
        "started_at": broadcast.started_at.isoformat() if broadcast.started_at else None,
        "finished_at": broadcast.finished_at.isoformat() if broadcast.finished_at else None,
    }


def broadcasts_with_counts() -> QuerySet[Broadcast]:
    """Broadcasts annotated with ``total, sent, failed, blocked, pending`` (API and admin lists)."""
    def of(*statuses):
        return Count("deliveries", filter=Q(deliveries__status__in=statuses))

    return Broadcast.objects.annotate(
        total=Count("deliveries"),
        sent=of(Status.SENT),
        failed=of(Status.FAILED),
        blocked=of(Status.BLOCKED),
        pending=of(Status.PENDING, Status.SENDING),
        unknown=of(Status.UNKNOWN),
    )


def broadcast_button(*, broadcast_id: int, index: int) -> dict | None:
    """The quick-reply button ``index`` of a broadcast, if it exists and is a quick reply."""
    buttons = Broadcast.objects.filter(pk=broadcast_id).values_list("buttons", flat=True).first()
    if not isinstance(buttons, list) or not 0 <= index < len(buttons):
        return None
    button = buttons[index]
    return button if isinstance(button, dict) and not button.get("url") else None
