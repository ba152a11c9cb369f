"""Daily activity rollups: the only writes of the analytics app."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, Max, Min
from django.utils import timezone

from profiles.models import UserInteraction

from .models import DailyActivity

BATCH = 5000


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = timezone.get_current_timezone()
    return (timezone.make_aware(datetime.combine(day, time.min), zone),
            timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min), zone))


@transaction.atomic
def activity_rollup(*, day: date) -> int:
    """Recompute one local day's per-member message counts; returns the rows written.

    Replaces the day's rows in one transaction, so readers see the old day or the new one,
    and a rerun gives the same result (idempotent, safe to overlap).
    """
    start, end = _day_bounds(day)
    counts = (UserInteraction.objects.filter(kind=UserInteraction.Kind.MESSAGE_IN, created_at__gte=start,
                                             created_at__lt=end)
              .values_list("user_id").annotate(n=Count("id")).order_by())
    DailyActivity.objects.filter(day=day).delete()
    rows = [DailyActivity(day=day, user_id=user_id, messages=n) for user_id, n in counts.iterator(chunk_size=BATCH)]
    DailyActivity.objects.bulk_create(rows, batch_size=BATCH)
    return len(rows)


def activity_rollup_due(*, now=None) -> int:
    """Roll up every day not rolled up yet, and today again (beat runs this every minute).

    Past days are written once: interactions are stamped when created, so a finished day
    does not change. The watermark is the last past day that has rows, so days on which
    nobody wrote are checked again (an empty index range each) until someone writes.
    Returns the number of days rolled up.
    """
    today = timezone.localdate(now or timezone.now())
    last = DailyActivity.objects.filter(day__lt=today).aggregate(last=Max("day"))["last"]
    if last is None:
        first = UserInteraction.objects.filter(kind=UserInteraction.Kind.MESSAGE_IN).aggregate(
            first=Min("created_at"))["first"]
        last = (timezone.localdate(first) if first else today) - timedelta(days=1)
    day = last + timedelta(days=1)
    rolled = 0
    while day <= today:
        activity_rollup(day=day)
        rolled += 1
        day += timedelta(days=1)
    return rolled
