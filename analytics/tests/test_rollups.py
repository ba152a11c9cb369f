from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from analytics import selectors
from analytics.models import DailyActivity, WeeklyActivity
from analytics.services import activity_rollup, activity_rollup_due
from profiles.models import TelegramUser, UserInteraction
from testkit.factories import TelegramUserFactory

pytestmark = pytest.mark.django_db

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=MOSCOW)  # a Wednesday


def message(user, at, kind="message_in"):
    row = UserInteraction.objects.create(user=user, kind=kind)
    UserInteraction.objects.filter(pk=row.pk).update(created_at=at)


def joined(at):
    user = TelegramUserFactory()
    TelegramUser.objects.filter(pk=user.pk).update(created_at=at)
    return user


@pytest.mark.clock(NOW)
def test_a_day_is_counted_per_member_in_local_time_and_reruns_change_nothing():
    a, b = TelegramUserFactory(), TelegramUserFactory()
    day = NOW.date()
    message(a, NOW.replace(hour=0, minute=30))  # 21:30 UTC the day before: still this Moscow day
    message(a, NOW)
    message(a, NOW, kind="message_out")  # not a member message
    message(b, NOW - timedelta(days=1))
    assert activity_rollup(day=day) == 1
    assert activity_rollup(day=day) == 1
    assert list(DailyActivity.objects.values_list("day", "user_id", "messages")) == [(day, a.pk, 2)]


@pytest.mark.clock(NOW)
def test_the_beat_job_catches_up_from_the_first_message_then_rolls_only_today():
    member = TelegramUserFactory()
    message(member, NOW - timedelta(days=3))
    message(member, NOW - timedelta(days=1))
    message(member, NOW)
    assert activity_rollup_due() == 4  # three past days and today
    message(member, NOW)
    assert activity_rollup_due() == 1  # past days are final; today again
    assert DailyActivity.objects.get(day=NOW.date()).messages == 2
    assert [d["count"] for d in selectors.messages_per_day()] == [1, 1, 2]


@pytest.mark.clock(NOW)
def test_weekly_cohorts_are_counted_from_the_rollups():
    monday = NOW - timedelta(days=2)
    early = [joined(monday - timedelta(weeks=1)) for _ in range(4)]
    late = [joined(monday + timedelta(hours=1)) for _ in range(2)]
    for user in early:
        message(user, monday - timedelta(weeks=1, hours=-2))  # their first week
    message(early[0], NOW)  # back in week 1
    message(early[0], NOW - timedelta(hours=1))  # twice: still one member
    message(late[0], NOW)
    activity_rollup_due()
    rows = selectors.retention_by_cohort()
    assert [(r["members"], r["retention"]) for r in rows] == [(4, [1.0, 0.25]), (2, [0.5])]


@pytest.mark.clock(NOW)
def test_erasing_a_member_erases_their_rollups():
    member = TelegramUserFactory()
    message(member, NOW)
    activity_rollup_due()
    assert WeeklyActivity.objects.filter(user=member).exists()
    member.delete()
    assert not DailyActivity.objects.exists() and not WeeklyActivity.objects.exists()
