"""The analytics page's tables over a date range: aggregates only, no member is ever named.

Days are local days of the project zone (``TIME_ZONE``, the zone of the daily rollups), not of
the admin request. Message and activity counts read the rollups (``DailyActivity``); the rest
count rows in one grouped query per table.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from broadcasts.models import Broadcast, BroadcastDelivery
from journeys.models import STAGE_COUNT, JourneyProgress, JourneyStage, Stream
from profiles.models import TelegramUser, UserInteraction
from triggers.models import ProactiveTrigger

from .models import DailyActivity

PRESETS = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_DAYS = 366


def rollup_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


@dataclass(frozen=True)
class DateRange:
    """Local days ``start``..``end``, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def bounds(self) -> tuple[datetime, datetime]:
        zone = rollup_zone()
        return (datetime.combine(self.start, time.min, zone),
                datetime.combine(self.end + timedelta(days=1), time.min, zone))

    def each_day(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range(self.days)]


class RangeError(ValueError):
    """A date range staff typed that cannot be reported on; the message is shown to them."""


def range_parse(params, *, today: date | None = None) -> DateRange:
    """``from``/``to`` (ISO dates) or ``days`` (7, 30, 90) from a query string; 30 days by default.

    Raises RangeError with a Russian message for a malformed, reversed or over-long range.
    """
    today = today or timezone.localdate(timezone.now(), rollup_zone())
    raw_from, raw_to = (params.get("from") or "").strip(), (params.get("to") or "").strip()
    if raw_from or raw_to:
        try:
            start = date.fromisoformat(raw_from) if raw_from else today - timedelta(days=DEFAULT_DAYS - 1)
            end = date.fromisoformat(raw_to) if raw_to else today
        except ValueError:
            raise RangeError("Даты нужны в виде ГГГГ-ММ-ДД.") from None
        if start > end:
            raise RangeError("Начало периода позже конца.")
        if (end - start).days + 1 > MAX_DAYS:
            raise RangeError(f"Период длиннее {MAX_DAYS} дней: выберите короче.")
        return DateRange(start, end)
    days = params.get("days") or str(DEFAULT_DAYS)
    if not days.isdigit() or not 1 <= int(days) <= MAX_DAYS:
        raise RangeError(f"Число дней — от 1 до {MAX_DAYS}.")
    return DateRange(today - timedelta(days=int(days) - 1), today)


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def messages_by_day(r: DateRange) -> list[dict]:
    """Member messages and members who wrote, per local day (zero days included)."""
    rows = (DailyActivity.objects.filter(day__gte=r.start, day__lte=r.end)
            .values("day").annotate(messages=Sum("messages"), active=Count("user")).order_by())
    by_day = {row["day"]: row for row in rows}
    return [{"day": day.isoformat(), "messages": by_day.get(day, {}).get("messages", 0),
             "active": by_day.get(day, {}).get("active", 0)} for day in r.each_day()]


def totals(r: DateRange) -> dict:
    start, end = r.bounds()
    days = DailyActivity.objects.filter(day__gte=r.start, day__lte=r.end)
    # COUNT over a DISTINCT subquery: PostgreSQL hashes it instead of sorting every member-day row.
    active = days.values("user").distinct().count()
    messages = days.aggregate(n=Sum("messages"))["n"] or 0
    members = TelegramUser.objects.aggregate(
        total=Count("id"), new=Count("id", filter=Q(created_at__gte=start, created_at__lt=end)))
    return {"active": active, "messages": messages, "new": members["new"], "total": members["total"]}


def stage_funnel(r: DateRange) -> list[dict]:
    """Members who had reached each stage (or a later one) by the end of the range.

    From the stage history (JourneyProgress), so a member who moved back still counts for the
    furthest stage they reached. One pass in SQL: each member's furthest stage, then how many
    members stopped furthest at each stage; the running total from stage 12 down is the funnel.
    """
    _, end = r.bounds()
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT top, COUNT(*) FROM (SELECT p.user_id, MAX(s."order") AS top '
            "FROM journeys_journeyprogress p JOIN journeys_journeystage s ON s.id = p.stage_id "
            "WHERE p.created_at < %s GROUP BY p.user_id) furthest GROUP BY top",
            [connection.ops.adapt_datetimefield_value(end)])
        stopped = dict(cursor.fetchall())
    reached, running = {}, 0
    for order in range(STAGE_COUNT, 0, -1):
        running += stopped.get(order, 0)
        reached[order] = running
    first = reached[1]
    return [{"stage": s.order, "name": s.name, "reached": reached.get(s.order, 0),
             "share": _share(reached.get(s.order, 0), first)} for s in JourneyStage.objects.order_by("order")]


TRANSITION_SOURCES = (JourneyProgress.Source.PLACEMENT, JourneyProgress.Source.LLM, JourneyProgress.Source.STAFF)


def stage_transitions(r: DateRange) -> list[dict]:
    """Stage changes per local day, by who made them (placement, the analysis, staff)."""
    start, end = r.bounds()
    rows = (JourneyProgress.objects.filter(created_at__gte=start, created_at__lt=end, source__in=TRANSITION_SOURCES)
            .annotate(day=TruncDate("created_at", tzinfo=rollup_zone()))
            .values("day", "source").annotate(n=Count("id")).order_by())
    seen = {(row["day"], row["source"]): row["n"] for row in rows}
    return [{"day": day.isoformat(), **{src.value: seen.get((day, src.value), 0) for src in TRANSITION_SOURCES}}
            for day in r.each_day()]


def proactive_by_kind(r: DateRange) -> list[dict]:
    """Proactive messages sent in the range and how many got a reply, per kind."""
    start, end = r.bounds()
    rows = (ProactiveTrigger.objects.filter(status=ProactiveTrigger.Status.SENT, sent_at__gte=start, sent_at__lt=end)
            .values("kind").annotate(sent=Count("id"), answered=Count("id", filter=Q(answered_at__isnull=False)))
            .order_by())
    found = {row["kind"]: row for row in rows}
    return [{"kind": kind.value, "label": str(kind.label), "sent": found.get(kind.value, {}).get("sent", 0),
             "answered": found.get(kind.value, {}).get("answered", 0),
             "rate": _share(found.get(kind.value, {}).get("answered", 0), found.get(kind.value, {}).get("sent", 0))}
            for kind in ProactiveTrigger.Kind]


def broadcast_rates(r: DateRange) -> list[dict]:
    """Each broadcast started in the range: recipients, delivered, not delivered, clicks (members)."""
    start, end = r.bounds()
    S = BroadcastDelivery.Status
    broadcasts = list(
        Broadcast.objects.filter(started_at__gte=start, started_at__lt=end).order_by("started_at")
        .annotate(recipients=Count("deliveries"),
                  delivered=Count("deliveries", filter=Q(deliveries__status=S.SENT)),
                  blocked=Count("deliveries", filter=Q(deliveries__status=S.BLOCKED)),
                  failed=Count("deliveries", filter=Q(deliveries__status__in=[S.FAILED, S.UNKNOWN])))
        .values("id", "title", "started_at", "recipients", "delivered", "blocked", "failed"))
    clicks = dict(UserInteraction.objects.filter(kind=UserInteraction.Kind.BROADCAST_CLICKED,
                                                 metadata__broadcast_id__in=[b["id"] for b in broadcasts])
                  .values_list("metadata__broadcast_id").annotate(n=Count("user", distinct=True)).order_by())
    return [{"broadcast": b["id"], "title": b["title"],
             "started": timezone.localtime(b["started_at"], rollup_zone()).date().isoformat(),
             "recipients": b["recipients"], "delivered": b["delivered"], "blocked": b["blocked"],
             "failed": b["failed"], "delivery_rate": _share(b["delivered"], b["recipients"]),
             "clicks": clicks.get(b["id"], 0), "click_rate": _share(clicks.get(b["id"], 0), b["delivered"])}
            for b in broadcasts]


def stream_conversion(r: DateRange) -> list[dict]:
    """Clicks on stream links and enrolments per stream in the range (members, not events)."""
    start, end = r.bounds()
    rows = (UserInteraction.objects
            .filter(kind__in=[UserInteraction.Kind.STREAM_CLICKED, UserInteraction.Kind.STREAM_ENROLLED],
                    created_at__gte=start, created_at__lt=end)
            .values_list("metadata__stream_id", "kind").annotate(n=Count("user", distinct=True)).order_by())
    counts: dict[int, dict[str, int]] = {}
    for stream_id, kind, n in rows:
        if isinstance(stream_id, int):
            counts.setdefault(stream_id, {})[kind] = n
    titles = dict(Stream.objects.filter(pk__in=counts).values_list("id", "title"))
    result = []
    for sid in sorted(counts, key=lambda s: titles.get(s, "")):
        clicked = counts[sid].get(UserInteraction.Kind.STREAM_CLICKED, 0)
        enrolled = counts[sid].get(UserInteraction.Kind.STREAM_ENROLLED, 0)
        result.append({"stream": sid, "title": titles.get(sid, f"#{sid}"), "clicks": clicked, "enrolled": enrolled,
                       "conversion": _share(enrolled, clicked)})
    return result


def report(r: DateRange) -> dict:
    """Everything the analytics page draws, for one range."""
    return {
        "from": r.start.isoformat(), "to": r.end.isoformat(), "days": r.days,
        "generated_at": timezone.now().isoformat(),
        "totals": totals(r),
        "messages": messages_by_day(r),
        "funnel": stage_funnel(r),
        "transitions": stage_transitions(r),
        "proactive": proactive_by_kind(r),
        "broadcasts": broadcast_rates(r),
        "streams": stream_conversion(r),
    }
