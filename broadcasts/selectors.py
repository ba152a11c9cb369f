"""Reads for broadcasts: audience segments, counts and delivery progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from journeys.models import JourneyStage, StreamEnrollment
from profiles.models import TelegramUser
from relove.core import liveness

from .models import GENDER_FILTER_CHOICES, Broadcast, BroadcastDelivery, SavedSegment

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


def segment_of_saved(saved: SavedSegment) -> Segment:
    """The audience filters kept in a saved segment."""
    return Segment(
        stage_ids=tuple(saved.stages.values_list("pk", flat=True)),
        stream_ids=tuple(saved.streams.values_list("pk", flat=True)),
        tag_ids=tuple(saved.tags.values_list("pk", flat=True)),
        gender=saved.gender, language=saved.language, active_within_days=saved.active_within_days,
        consented_only=saved.consented_only,
    )


def segment_summary(segment: Segment) -> str:
    """«этапы 3, 4 · язык ru · активны 30 дн. · с согласием» for lists."""
    parts = []
    if segment.stage_ids:
        orders = JourneyStage.objects.filter(pk__in=segment.stage_ids).order_by("order").values_list("order", flat=True)
        parts.append("этапы " + ", ".join(str(o) for o in orders))
    if segment.stream_ids:
        parts.append(f"потоков: {len(segment.stream_ids)}")
    if segment.tag_ids:
        parts.append(f"меток: {len(segment.tag_ids)}")
    if segment.gender:
        parts.append(dict(GENDER_FILTER_CHOICES)[segment.gender])
    if segment.language:
        parts.append(f"язык {segment.language}")
    if segment.active_within_days is not None:
        parts.append(f"активны {segment.active_within_days} дн.")
    parts.append("с согласием" if segment.consented_only else "все, и без согласия")
    return " · ".join(str(p) for p in parts)


def saved_segments_for_form() -> list[dict]:
    """Every saved segment's filters, keyed like the broadcast form's fields (the composer fills them)."""
    segments = SavedSegment.objects.prefetch_related("stages", "streams", "tags")
    return [{
        "id": saved.pk, "name": saved.name,
        "segment_stages": [s.pk for s in saved.stages.all()],
        "segment_streams": [s.pk for s in saved.streams.all()],
        "segment_tags": [t.pk for t in saved.tags.all()],
        "segment_gender": saved.gender, "segment_language": saved.language,
        "segment_active_within_days": saved.active_within_days,
        "segment_consented_only": saved.consented_only,
    } for saved in segments]


def broadcast_problems(*, broadcast: Broadcast, now=None) -> list[str]:
    """Why a scheduled or sending broadcast is not moving, in words staff can act on."""
    if broadcast.status not in (Broadcast.Status.SCHEDULED, Broadcast.Status.SENDING):
        return []
    now = now or timezone.now()
    problems = []
    if not settings.TELEGRAM_BOT_TOKEN:
        problems.append("не задан TELEGRAM_BOT_TOKEN — бот не может отправлять сообщения")
    states = liveness.snapshot() if liveness.worker_required() else {}
    if broadcast.status == Broadcast.Status.SENDING:
        due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
        waiting = BroadcastDelivery.objects.filter(due, broadcast_id=broadcast.pk, status=Status.PENDING).exists()
        if waiting and states and not states[liveness.WORKER].alive:
            problems.append("воркер не запущен — рассылка ждёт в очереди")
    elif broadcast.scheduled_at and broadcast.scheduled_at <= now and states and not states[liveness.BEAT].alive:
        problems.append("расписание (Celery beat) не запущено — запланированная рассылка не стартует")
    failed = (BroadcastDelivery.objects.filter(broadcast_id=broadcast.pk, status=Status.FAILED)
              .exclude(last_error="").values_list("last_error").annotate(n=Count("id")).order_by("-n").first())
    if failed:
        problems.append(f"{telegram_said(failed[0])} — {failed[1]} не доставлено")
    return problems


def telegram_said(error: str) -> str:
    """A delivery's stored error as staff read it: Telegram's own words, never a class name."""
    said = (error or "").removeprefix("Forbidden: ").strip()
    head = said.split(":", 1)[0]
    if head in ("TimedOut", "NetworkError"):
        return "нет связи с Telegram (сеть или таймаут)"
    if not said or (head == said and head.isidentifier() and head.endswith(("Error", "Exception"))):
        return "сбой на сервере при отправке — подробности в журнале"
    if said[:1].isascii():
        return f"Telegram ответил: {said}"
    return said  # already written for staff (e.g. the sweeper's note)


def local_waiting(*, broadcast: Broadcast, now=None) -> dict | None:
    """For a broadcast in members' local time: rows still waiting for their moment, and the next one."""
    if broadcast.local_time is None or broadcast.status != Broadcast.Status.SENDING:
        return None
    now = now or timezone.now()
    later = BroadcastDelivery.objects.filter(broadcast_id=broadcast.pk, status=Status.PENDING, next_attempt_at__gt=now)
    nearest = later.order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
    shown = timezone.localtime(nearest).strftime("%d.%m %H:%M %Z") if nearest else ""
    return {"count": later.count(), "next": nearest.isoformat() if nearest else None, "next_shown": shown}
