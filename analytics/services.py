"""Daily activity rollups: the only writes of the analytics app."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import Count, Max, Min, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from profiles.models import UserInteraction

from .models import CohortActivity, DailyActivity, DailyTotal, WeeklyActivity


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = timezone.get_current_timezone()
    return (timezone.make_aware(datetime.combine(day, time.min), zone),
            timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min), zone))


@transaction.atomic
def activity_rollup(*, day: date) -> int:
    """Recompute one local day's per-member message counts, and who wrote in its week;
    returns the day's rows written.

    Replaces the day's rows in one transaction, so readers see the old day or the new one,
    and a rerun gives the same result (idempotent, safe to overlap).
    """
    start, end = _day_bounds(day)
    monday = day - timedelta(days=day.weekday())
    ops = connection.ops
    DailyActivity.objects.filter(day=day).delete()
    # INSERT … SELECT: the counting and the writing stay in the database (no rows through Python).
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO analytics_dailyactivity (day, user_id, messages) "
            "SELECT %s, user_id, COUNT(*) FROM profiles_userinteraction "
            "WHERE kind = %s AND created_at >= %s AND created_at < %s GROUP BY user_id",
            [ops.adapt_datefield_value(day), UserInteraction.Kind.MESSAGE_IN.value,
             ops.adapt_datetimefield_value(start), ops.adapt_datetimefield_value(end)])
        written = cursor.rowcount
        # Who wrote in the week only grows (a finished day never changes): add this day's
        # writers instead of rebuilding the week, so the every-minute run stays small.
        cursor.execute(
            "INSERT INTO analytics_weeklyactivity (week, user_id) "
            "SELECT DISTINCT %s, user_id FROM analytics_dailyactivity WHERE day = %s "
            "ON CONFLICT (week, user_id) DO NOTHING",
            [ops.adapt_datefield_value(monday), ops.adapt_datefield_value(day)])
    _totals_rebuild(day=day, monday=monday)
    return written


def _totals_rebuild(*, day: date, monday: date) -> None:
    """The day's total and the week's per-cohort counts, from the rows just written."""
    total = DailyActivity.objects.filter(day=day).aggregate(messages=Sum("messages"), members=Count("id"))
    DailyTotal.objects.filter(day=day).delete()
    if total["members"]:
        DailyTotal.objects.create(day=day, **total)
    CohortActivity.objects.filter(week=monday).delete()
    cohorts = (WeeklyActivity.objects.filter(week=monday).annotate(cohort=TruncWeek("user__created_at"))
               .values_list("cohort").annotate(n=Count("id")).order_by())
    CohortActivity.objects.bulk_create(
        [CohortActivity(cohort=as_date(cohort), week=monday, members=n) for cohort, n in cohorts])


def as_date(value) -> date:
    """A truncated week as a local date (``TruncWeek`` of a datetime gives a local datetime)."""
    return timezone.localtime(value).date() if isinstance(value, datetime) else value


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
