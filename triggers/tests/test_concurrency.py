"""Real concurrency on PostgreSQL: scanners in threads, each with its own connection."""

import time
from datetime import timedelta

import pytest

from testkit.concurrency import in_threads
from testkit.factories import TriggerFactory
from triggers.models import ProactiveTrigger, ProactivityConfig
from triggers.services import triggers_run_scan

from .helpers import local, silent_member

NOON_MSK = local("Europe/Moscow", 2026, 11, 26, 12, 0)
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.clock(NOON_MSK)]


def test_two_scanners_send_every_trigger_exactly_once(tg):
    members = [silent_member(now=NOON_MSK, silent_for=timedelta(minutes=30)) for _ in range(24)]
    for member in members:
        TriggerFactory(user=member, kind=ProactiveTrigger.Kind.MORNING_CHECKIN, created_at=NOON_MSK,
                       scheduled_for=NOON_MSK - timedelta(minutes=1))
    results = in_threads(2, lambda: triggers_run_scan(now=NOON_MSK))
    assert sum(r.get("sent", 0) for r in results) == 24
    for member in members:
        assert len(tg.sent_messages(member.telegram_id)) == 1
    assert ProactiveTrigger.objects.filter(status="sent").count() == 24
    assert len(tg.calls_to("sendMessage")) == 24


def test_concurrent_claims_for_one_member_never_exceed_the_daily_budget(tg):
    ProactivityConfig.objects.filter(pk=1).update(min_interval=timedelta(0), max_per_day=2)
    member = silent_member(now=NOON_MSK, silent_for=timedelta(minutes=30))
    for _ in range(6):
        TriggerFactory(user=member, kind=ProactiveTrigger.Kind.MORNING_CHECKIN, created_at=NOON_MSK,
                       scheduled_for=NOON_MSK - timedelta(minutes=1))
    in_threads(3, lambda: triggers_run_scan(now=NOON_MSK))
    assert len(tg.sent_messages(member.telegram_id)) == 2
    sent = ProactiveTrigger.objects.filter(user=member, status="sent")
    assert sorted(sent.values_list("daily_slot__slot", flat=True)) == [1, 2]
    assert ProactiveTrigger.objects.filter(user=member, status="pending").count() == 4


def test_proactive_composition_keeps_at_most_the_background_llm_concurrency_in_flight(tg, fake_llm, settings):
    """Six delivery threads, two background LLM slots: the LLM never sees more than two at once."""
    settings.TRIGGERS_DELIVERY_THREADS = 6
    settings.LLM_BACKGROUND_CONCURRENCY = 2
    fake_llm.responder = lambda body: (time.sleep(0.2), {"reply": "Как ты сегодня?", "quick_replies": []})[1]
    members = [silent_member(now=NOON_MSK, silent_for=timedelta(minutes=30)) for _ in range(12)]
    for member in members:
        TriggerFactory(user=member, kind=ProactiveTrigger.Kind.MORNING_CHECKIN, created_at=NOON_MSK,
                       scheduled_for=NOON_MSK - timedelta(minutes=1))

    assert triggers_run_scan(now=NOON_MSK).get("sent") == 12

    assert len(fake_llm.requests) == 12
    assert fake_llm.max_in_flight == 2  # overlapping, and bounded by the setting
    assert all([p["text"] for p in tg.sent_messages(m.telegram_id)] == ["Как ты сегодня?"] for m in members)
