"""Read-only metrics over members, interactions, triggers and broadcasts."""

from datetime import timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from broadcasts.models import BroadcastDelivery
from journeys.models import JourneyStage
from profiles.models import TelegramUser, UserInteraction
from triggers.models import ProactiveTrigger


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
    now = now or timezone.now()
    rows = (
        UserInteraction.objects.filter(kind=UserInteraction.Kind.MESSAGE_IN,
                                       created_at__gte=now - timedelta(days=days))
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(count=Count("id"))
        .order_by("day")
    )
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


def summary(*, now=None) -> dict:
    now = now or timezone.now()
    return {
        "generated_at": now.isoformat(),
        "active_members": active_members(now=now),
        "messages_per_day": messages_per_day(now=now),
        "stages": stage_distribution(),
        "proactive": proactive_response_rate(now=now),
        "broadcasts": broadcast_delivery_stats(now=now),
    }
