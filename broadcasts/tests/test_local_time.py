"""Delivery in each member's local time: due moments, the window, the forecast, the dispatcher."""

from datetime import UTC, date, datetime, time, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from broadcasts.models import Broadcast, BroadcastDelivery
from broadcasts.services import broadcast_deliver, broadcast_send_now, broadcasts_resume_stalled
from broadcasts.services.local_time import check_local_time, forecast_text, local_due, local_forecast
from profiles.models import TelegramUser
from testkit.factories import BroadcastFactory, TelegramUserFactory
from triggers.models import ProactivityConfig
from triggers.services.windows import is_allowed, local_date, next_transition, wall_clock
from triggers.tests.test_windows import PROPERTY, moments, windows

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)  # Moscow 11:30, Berlin 09:30, New York 03:30, Vladivostok 18:30
WINDOW = (time(8), time(22))
TEN = time(10)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def due(zone: str, clock=TEN, day=None, now=NOW, window=WINDOW) -> datetime:
    return local_due(zone=ZoneInfo(zone), clock=clock, day=day, now=now, window=window)


def test_each_zone_gets_ten_oclock_today_or_tomorrow_where_it_has_passed():
    assert due("Europe/Berlin") == utc(2026, 12, 1, 9)  # 09:30 there: 10:00 still ahead today
    assert due("America/New_York") == utc(2026, 12, 1, 15)  # 03:30 there
    assert due("Europe/Moscow") == utc(2026, 12, 2, 7)  # 11:30 there: passed, tomorrow
    assert due("Asia/Vladivostok") == utc(2026, 12, 2, 0)  # 18:30 there: tomorrow


def test_a_chosen_date_is_the_members_own_calendar_day():
    assert due("Europe/Moscow", day=date(2026, 12, 5)) == utc(2026, 12, 5, 7)
    assert due("Asia/Vladivostok", day=date(2026, 12, 5)) == utc(2026, 12, 5, 0)
    assert due("Europe/Moscow", day=date(2026, 11, 20)) == utc(2026, 12, 2, 7)  # a past date: the next possible


def test_the_moment_stays_inside_the_sending_window():
    # settings narrowed since the broadcast was composed: 10:00 is before an 11:00 opening
    assert due("Europe/Berlin", window=(time(11), time(20))) == utc(2026, 12, 1, 10)
    assert check_local_time(time(7, 59), window=WINDOW) and check_local_time(time(22), window=WINDOW)
    assert check_local_time(time(8), window=WINDOW) == [] and check_local_time(time(21, 59), window=WINDOW) == []
    assert check_local_time(None, window=WINDOW) == []


def test_a_dst_change_overnight_keeps_the_local_clock():
    # Berlin moves to summer time on 2026-03-29: 10:00 that day is 08:00 UTC, the day before 09:00 UTC
    night = utc(2026, 3, 28, 20)
    assert due("Europe/Berlin", now=night) == utc(2026, 3, 29, 8)


def test_window_and_zone_come_from_the_proactivity_settings():
    config = ProactivityConfig.load()
    config.window_start, config.window_end = time(11), time(20)
    config.save()
    assert "с 11:00 до 20:00" in check_local_time(TEN)[0]


def zones_audience():
    for zone in ("Europe/Berlin", "America/New_York", "Europe/Moscow", "Asia/Vladivostok", ""):
        TelegramUserFactory(timezone=zone)
    return TelegramUser.objects.all()


def test_forecast_counts_members_per_local_day():
    members = zones_audience()  # "" is the default zone (Moscow): tomorrow too
    forecast = local_forecast(members=members, clock=TEN, day=None, now=NOW, window=WINDOW)
    assert forecast == [(date(2026, 12, 1), 2), (date(2026, 12, 2), 3)]
    assert forecast_text(forecast, today=date(2026, 12, 1)) == "2 сегодня, 3 завтра"
    assert forecast_text([(date(2026, 12, 5), 4)], today=date(2026, 12, 1)) == "4 — 5 декабря"
    assert forecast_text([], today=date(2026, 12, 1)) == "никому"


def test_the_default_zone_follows_the_settings():
    TelegramUserFactory(timezone="")
    config = ProactivityConfig.load()
    config.default_timezone = "America/New_York"
    config.save()
    forecast = local_forecast(members=TelegramUser.objects.all(), clock=TEN, day=None, now=NOW)
    assert forecast == [(date(2026, 12, 1), 1)]


@pytest.mark.clock(NOW)
def test_starting_gives_each_delivery_its_members_moment():
    zones_audience()
    broadcast = BroadcastFactory(local_time=TEN)
    assert broadcast_send_now(broadcast_id=broadcast.pk, enqueue=False) == 5
    moments = dict(BroadcastDelivery.objects.values_list("user__timezone", "next_attempt_at"))
    assert moments == {"Europe/Berlin": utc(2026, 12, 1, 9), "America/New_York": utc(2026, 12, 1, 15),
                       "Europe/Moscow": utc(2026, 12, 2, 7), "Asia/Vladivostok": utc(2026, 12, 2, 0),
                       "": utc(2026, 12, 2, 7)}


def sent_to(fake) -> set[int]:
    return {m["chat_id"] for m in fake.sent_messages()}


def test_the_dispatcher_sends_each_zone_when_its_moment_comes(fake_telegram):
    with time_machine.travel(NOW, tick=True) as clock:
        berlin, new_york, moscow = (TelegramUserFactory(timezone=z) for z in
                                    ("Europe/Berlin", "America/New_York", "Europe/Moscow"))
        broadcast = BroadcastFactory(local_time=TEN)
        broadcast_send_now(broadcast_id=broadcast.pk, enqueue=False)

        # Nothing is due yet: the worker returns at once instead of waiting for hours.
        assert broadcast_deliver(broadcast_id=broadcast.pk)["sent"] == 0
        assert fake_telegram.sent_messages() == [] and broadcasts_resume_stalled() == []

        clock.move_to(utc(2026, 12, 1, 9, 0, 30))
        assert broadcasts_resume_stalled() == [broadcast.pk]  # the beat tick hands Berlin's row to a worker
        assert broadcast_deliver(broadcast_id=broadcast.pk)["sent"] == 1
        assert sent_to(fake_telegram) == {berlin.telegram_id}

        clock.move_to(utc(2026, 12, 1, 15, 1))
        broadcast_deliver(broadcast_id=broadcast.pk)
        assert sent_to(fake_telegram) == {berlin.telegram_id, new_york.telegram_id}
        assert Broadcast.objects.get(pk=broadcast.pk).status == Broadcast.Status.SENDING  # Moscow tomorrow

        clock.move_to(utc(2026, 12, 2, 7, 0, 30))
        broadcast_deliver(broadcast_id=broadcast.pk)
        assert sent_to(fake_telegram) == {berlin.telegram_id, new_york.telegram_id, moscow.telegram_id}
        assert Broadcast.objects.get(pk=broadcast.pk).status == Broadcast.Status.DONE


def test_a_late_worker_does_not_wake_members_up(fake_telegram):
    """The worker was down all day: at 23:30 Moscow the row waits for 08:00, it is not sent at night."""
    with time_machine.travel(NOW, tick=True) as clock:
        member = TelegramUserFactory(timezone="Europe/Berlin")
        broadcast = BroadcastFactory(local_time=TEN)
        broadcast_send_now(broadcast_id=broadcast.pk, enqueue=False)
        clock.move_to(utc(2026, 12, 1, 22, 30))  # 23:30 in Berlin
        assert broadcast_deliver(broadcast_id=broadcast.pk)["sent"] == 0
        row = BroadcastDelivery.objects.get(user=member)
        assert row.status == BroadcastDelivery.Status.PENDING and row.next_attempt_at == utc(2026, 12, 2, 7)
        assert fake_telegram.sent_messages() == []


@pytest.mark.clock(NOW)
def test_counting_against_the_budget_uses_the_members_day(fake_telegram):
    """A member whose daily budget is spent is skipped, not sent to, when their moment comes."""
    from bot.services.budget import Source, daily_slot_take

    member = TelegramUserFactory(timezone="Europe/Berlin")
    config = ProactivityConfig.load()
    config.max_per_day = 1
    config.save()
    daily_slot_take(user=member, at=NOW, source=Source.PROACTIVE)
    broadcast = BroadcastFactory(local_time=TEN, counts_against_budget=True)
    broadcast_send_now(broadcast_id=broadcast.pk, enqueue=False)
    with time_machine.travel(NOW + timedelta(minutes=31), tick=True):
        broadcast_deliver(broadcast_id=broadcast.pk)
    assert BroadcastDelivery.objects.get(user=member).status == BroadcastDelivery.Status.SKIPPED
    assert fake_telegram.sent_messages() == []


@st.composite
def clock_in_window(draw):
    start, end = draw(windows())
    minute = draw(st.integers(min_value=start.hour * 60 + start.minute, max_value=end.hour * 60 + end.minute - 1))
    return time(minute // 60, minute % 60), (start, end)


@PROPERTY
@given(moments(), clock_in_window())
def test_local_due_is_ahead_inside_the_window_and_today_or_tomorrow(moment, clock_and_window):
    """Any zone (DST gaps, overlaps, skipped days), any moment, any clock inside any window."""
    zone, now = moment
    clock, window = clock_and_window
    moment_due = local_due(zone=zone, clock=clock, day=None, now=now, window=window)
    assert moment_due >= now
    assert is_allowed(moment_due, zone, *window)
    assert 0 <= (local_date(moment_due, zone) - local_date(now, zone)).days <= 2  # 2: a skipped day
    quiet = next_transition(zone, now - timedelta(days=1), now + timedelta(days=3)) is None
    if quiet:  # no clock change around: exactly that clock, today if it is still ahead, else tomorrow
        assert wall_clock(moment_due, zone).time() == clock
        ahead = wall_clock(now, zone).time() <= clock
        assert local_date(moment_due, zone) == local_date(now, zone) + timedelta(days=0 if ahead else 1)


@pytest.mark.clock(NOW)
def test_the_page_says_how_many_wait_for_their_local_time(client, superuser):
    zones_audience()
    broadcast = BroadcastFactory(local_time=TEN)
    broadcast_send_now(broadcast_id=broadcast.pk, enqueue=False)
    client.force_login(superuser)
    progress = client.get(reverse("admin:broadcasts_broadcast_progress", args=[broadcast.pk])).json()
    assert progress["local_waiting"]["count"] == 5
    assert progress["local_waiting"]["next_shown"] == "01.12 12:00 MSK"  # Berlin's 10:00, shown in Moscow time
    page = client.get(reverse("admin:broadcasts_broadcast_change", args=[broadcast.pk])).content.decode()
    assert "Ждут местного времени: <span data-key=\"local_count\">5</span>" in page


def test_the_command_sends_who_is_due_and_says_who_waits(fake_telegram):
    with time_machine.travel(NOW, tick=True) as clock:
        berlin = TelegramUserFactory(timezone="Europe/Berlin")
        TelegramUserFactory(timezone="Europe/Moscow")
        broadcast = BroadcastFactory(local_time=time(9, 31))  # Berlin: in a minute; Moscow: passed, tomorrow
        broadcast_send_now(broadcast_id=broadcast.pk, enqueue=False)
        clock.move_to(utc(2026, 12, 1, 8, 31, 30))
        out = StringIO()
        call_command("send_broadcast", str(broadcast.pk), "--no-progress", stdout=out)
    assert {m["chat_id"] for m in fake_telegram.sent_messages()} == {berlin.telegram_id}
    assert "1 wait for their members' local time (next at 2026-12-02T06:31:00+00:00)" in out.getvalue()
