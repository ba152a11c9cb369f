"""Read-only metrics over members, interactions, triggers and broadcasts."""

from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from broadcasts.models import BroadcastDelivery
from journeys.models import JourneyStage, Stream
from journeys.services import CONVERSATION
from profiles.models import TelegramUser, UserInteraction
from triggers.models import ProactiveTrigger

from .models import DailyActivity, WeeklyActivity


def active_members(*, now=None) -> dict[str, int]:
    now = now or timezone.now()
    counts = TelegramUser.objects.aggregate(
        day=Count("id", filter=Q(last_user_message_at__gte=now - timedelta(days=1))),
        week=Count("id", filter=Q(last_user_message_at__gte=now - timedelta(days=7))),
        month=Count("id", filter=Q(last_user_message_at__gte=now - timedelta(days=30))),
        total=Count("id"),
        blocked=Count("id", filter=Q(is_blocked=True)),
    )
    return counts


def messages_per_day(*, days: int = 14, now=None) -> list[dict]:
    """Member messages per local day, from the daily rollups (today's is refreshed every minute)."""
    today = timezone.localdate(now or timezone.now())
    rows = (DailyActivity.objects.filter(day__gt=today - timedelta(days=days), day__lte=today)
            .values("day").annotate(count=Sum("messages")).order_by("day"))
    return [{"day": r["day"].isoformat(), "count": r["count"]} for r in rows]


def stage_distribution() -> list[dict]:
    counts = dict(
        TelegramUser.objects.filter(journey_stage__isnull=False)
        .values_list("journey_stage").annotate(n=Count("id"))
    )
    return [{"stage": s.order, "name": s.name, "members": counts.get(s.order, 0)}
            for s in JourneyStage.objects.order_by("order")]


def proactive_response_rate(*, days: int = 30, now=None) -> dict:
    now = now or timezone.now()
    sent = ProactiveTrigger.objects.filter(status=ProactiveTrigger.Status.SENT,
                                           sent_at__gte=now - timedelta(days=days))
    totals = sent.aggregate(sent=Count("id"), answered=Count("id", filter=Q(answered_at__isnull=False)))
    rate = totals["answered"] / totals["sent"] if totals["sent"] else 0.0
    return {**totals, "rate": round(rate, 4)}


def broadcast_delivery_stats(*, days: int = 30, now=None) -> dict:
    now = now or timezone.now()
    rows = BroadcastDelivery.objects.filter(broadcast__created_at__gte=now - timedelta(days=days))
    counts = dict(rows.values_list("status").annotate(n=Count("id")))
    clicks = UserInteraction.objects.filter(kind=UserInteraction.Kind.BROADCAST_CLICKED,
                                            created_at__gte=now - timedelta(days=days)).count()
    sent = counts.get(BroadcastDelivery.Status.SENT, 0)
    return {"by_status": counts, "clicks": clicks,
            "click_rate": round(clicks / sent, 4) if sent else 0.0}


STREAM_COUNTERS = ("clicks", "enrolled", "offered", "conversation_clicks", "conversation_enrolled")


def stream_attribution(*, days: int = 30, now=None) -> list[dict]:
    """Per stream over the last ``days``: clicks on its links and buttons and enrolments, and of
    those the ones from Natasha's invitations inside the conversation (``source="conversation"``),
    with how many such invitations she made (``offered``)."""
    now = now or timezone.now()
    kinds = {UserInteraction.Kind.STREAM_OFFERED: "offered", UserInteraction.Kind.STREAM_CLICKED: "clicks",
             UserInteraction.Kind.STREAM_ENROLLED: "enrolled"}
    rows = (UserInteraction.objects
            .filter(kind__in=list(kinds), created_at__gte=now - timedelta(days=days))
            .values_list("metadata__stream_id", "kind", "metadata__source").annotate(n=Count("id")))
    counts: dict[int, dict[str, int]] = {}
    for stream_id, kind, source, n in rows:
        if not isinstance(stream_id, int):
            continue
        row = counts.setdefault(stream_id, dict.fromkeys(STREAM_COUNTERS, 0))
        name = kinds[kind]
        row[name] += n  # invitations are only made inside the conversation
        if source == CONVERSATION and kind != UserInteraction.Kind.STREAM_OFFERED:
            row[f"conversation_{name}"] += n
    titles = dict(Stream.objects.filter(pk__in=counts).values_list("id", "title"))
    return [{"stream": sid, "title": titles.get(sid, ""), **c} for sid, c in sorted(counts.items())]


def summary(*, now=None) -> dict:
    now = now or timezone.now()
    return {
        "generated_at": now.isoformat(),
        "active_members": active_members(now=now),
        "messages_per_day": messages_per_day(now=now),
        "stages": stage_distribution(),
        "proactive": proactive_response_rate(now=now),
        "broadcasts": broadcast_delivery_stats(now=now),
        "streams": stream_attribution(now=now),
        "retention": retention_by_cohort(now=now),
    }


def retention_by_cohort(*, weeks: int = 6, now=None) -> list[dict]:
    """Weekly cohorts (calendar weeks, Monday first) by first contact: the share of each cohort
    that wrote in its week N. Counted in SQL over the weekly rollups; Python only arranges the
    (at most weeks × weeks) result."""
    today = timezone.localdate(now or timezone.now())
    first_week = today - timedelta(days=today.weekday(), weeks=weeks)
    start = timezone.make_aware(datetime.combine(first_week, time.min))
    sizes = dict(TelegramUser.objects.filter(created_at__gte=start)
                 .annotate(cohort=TruncWeek("created_at")).values_list("cohort").annotate(n=Count("id")).order_by())
    if not sizes:
        return []
    active = (WeeklyActivity.objects.filter(week__gte=first_week, user__created_at__gte=start)
              .annotate(cohort=TruncWeek("user__created_at"))
              .values_list("cohort", "week").annotate(n=Count("id")).order_by())
    seen = {(_as_date(cohort), _as_date(week)): n for cohort, week, n in active}
    rows = []
    for cohort_start in sorted(sizes):
        cohort = _as_date(cohort_start)
        size = sizes[cohort_start]
        offsets = range((today - cohort).days // 7 + 1)
        shares = [round(seen.get((cohort, cohort + timedelta(weeks=w)), 0) / size, 3) for w in offsets]
        rows.append({"week_start": cohort.isoformat(), "members": size, "retention": shares})
    return rows


def _as_date(value) -> date:
    return timezone.localtime(value).date() if isinstance(value, datetime) else value
