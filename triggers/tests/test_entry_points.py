"""The thin entry points: the Celery task, the management command, the budget for broadcasts."""

import json
from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from bot.services.budget import Source, daily_slot_release, daily_slot_take
from testkit.factories import DailySlotFactory, TelegramUserFactory
from triggers.models import ProactiveTrigger, ProactivityConfig
from triggers.tasks import scan_triggers

from .helpers import local, silent_member

pytestmark = pytest.mark.django_db


def test_the_command_and_the_task_run_one_scan(tg):
    ProactivityConfig.objects.filter(pk=1).update(window_start="00:00", window_end="23:59")
    member = silent_member(now=timezone.now())
    out = StringIO()
    call_command("run_triggers", "--no-deliver", stdout=out)
    assert json.loads(out.getvalue())["detected_inactivity"] == 1
    assert tg.sent_messages() == []
    assert scan_triggers.delay().get()["sent"] == 1
    assert len(tg.sent_messages(member.telegram_id)) == 1


def take(member, at):
    return daily_slot_take(user=member, at=at, source=Source.BROADCAST)


def test_a_broadcast_counts_against_the_members_daily_budget():
    member = TelegramUserFactory(timezone="Asia/Vladivostok")
    late_evening = local("Asia/Vladivostok", 2026, 11, 26, 23, 30)
    first = take(member, late_evening)
    assert (first.local_date, first.slot) == (date(2026, 11, 26), 1)
    DailySlotFactory(user=member, local_date=date(2026, 11, 26), slot=2)
    assert take(member, late_evening) is None  # two a day by default
    tomorrow = take(member, late_evening + timedelta(hours=1))
    assert (tomorrow.local_date, tomorrow.slot) == (date(2026, 11, 27), 1)
    assert daily_slot_release(slot_ids=[first.pk]) == 1
    assert take(member, late_evening).slot == 1
    assert not ProactiveTrigger.objects.filter(user=member).exists()  # not a proactive message for analytics


def test_a_broadcast_slot_defers_the_proactive_message(tg):
    noon = local("Europe/Moscow", 2026, 11, 26, 12, 0)
    member = silent_member(now=noon)
    take(member, noon - timedelta(hours=5))
    take(member, noon - timedelta(hours=4))
    from triggers.services import triggers_run_scan

    triggers_run_scan(now=noon)
    assert tg.sent_messages() == []
    assert ProactiveTrigger.objects.get(user=member, kind="inactivity").scheduled_for == local(
        "Europe/Moscow", 2026, 11, 27, 8, 0)
