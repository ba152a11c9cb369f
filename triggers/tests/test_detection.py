"""Detection: which members get which reason, once, with synthetic journeys rows."""

from datetime import timedelta

import pytest
from django.utils import timezone

from journeys.models import JourneyInsight, StreamStep
from journeys.services import stream_enroll
from testkit.factories import (
    JourneyInsightFactory,
    JourneyProgressFactory,
    StreamFactory,
    TelegramUserFactory,
    TriggerFactory,
    stage,
)
from triggers.models import ProactiveTrigger, ScanState
from triggers.services import triggers_detect, triggers_run_scan
from triggers.services.scan import RECONCILE_EVERY

from .helpers import local, silent_member

Kind = ProactiveTrigger.Kind
NOW = local("Europe/Moscow", 2026, 11, 26, 12, 0)  # noon in Moscow: no morning anywhere near
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


def detect(config, now=NOW):
    return triggers_detect(config=config, now=now)


def kinds_for(member):
    return sorted(ProactiveTrigger.objects.filter(user=member).values_list("kind", flat=True))


# --- inactivity ----------------------------------------------------------------------------

def test_silent_members_on_an_active_journey_get_one_nudge(config):
    due = silent_member(now=NOW)
    recent = silent_member(now=NOW, silent_for=timedelta(hours=23))
    gone = silent_member(now=NOW, silent_for=timedelta(days=config.active_days + 1))
    no_journey = silent_member(now=NOW, journey_stage=None)
    excluded = [silent_member(now=NOW, **flag) for flag in (
        {"is_paused": True}, {"is_blocked": True}, {"proactive_enabled": False}, {"crisis_flag": True},
        {"consent_at": None})]
    detect(config)
    assert kinds_for(due) == [Kind.INACTIVITY]
    for member in [recent, gone, no_journey, *excluded]:
        assert kinds_for(member) == []
    detect(config, NOW + timedelta(minutes=1))
    assert ProactiveTrigger.objects.filter(user=due).count() == 1


def test_silence_after_a_nudge_gives_the_next_nudge_one_period_later(config):
    member = silent_member(now=NOW, silent_for=timedelta(hours=30))
    TriggerFactory(user=member, kind=Kind.INACTIVITY, dedupe_key="inactivity", status="sent",
                   created_at=NOW - timedelta(hours=5), sent_at=NOW - timedelta(hours=5))
    detect(config)
    assert ProactiveTrigger.objects.filter(user=member).count() == 1
    detect(config, NOW + timedelta(hours=19, minutes=1))
    assert ProactiveTrigger.objects.filter(user=member, status="pending").count() == 1


def test_fatigue_doubles_the_inactivity_period_until_the_member_replies(config):
    assert (config.fatigue_threshold, config.fatigue_multiplier) == (3, 2)
    tired = silent_member(now=NOW, unanswered_proactive=3)
    fresh = silent_member(now=NOW, unanswered_proactive=2)
    detect(config)
    assert kinds_for(tired) == []
    assert kinds_for(fresh) == [Kind.INACTIVITY]
    detect(config, NOW + timedelta(hours=24))  # 49 h of silence: twice the period
    assert kinds_for(tired) == [Kind.INACTIVITY]


def test_an_incremental_scan_finds_what_a_full_scan_finds(config):
    detect(config, NOW - timedelta(minutes=1))  # the previous tick: establishes the scan state
    crossing = silent_member(now=NOW, silent_for=timedelta(hours=24, seconds=30))
    nudged = silent_member(now=NOW, silent_for=timedelta(hours=60))
    TriggerFactory(user=nudged, kind=Kind.INACTIVITY, dedupe_key="inactivity", status="sent",
                   created_at=NOW - timedelta(hours=24, seconds=20))
    result = detect(config)
    assert result["full_scan"] == 0
    assert kinds_for(crossing) == [Kind.INACTIVITY]
    assert ProactiveTrigger.objects.filter(user=nudged, status="pending").count() == 1


def test_the_hourly_full_scan_catches_what_the_incremental_one_cannot_see(config):
    detect(config, NOW - timedelta(minutes=1))
    # Silent for days but eligible only since a moment ago (e.g. un-paused): no crossing to see.
    resumed = silent_member(now=NOW, silent_for=timedelta(days=3))
    assert detect(config)["full_scan"] == 0
    assert kinds_for(resumed) == []
    assert detect(config, NOW - timedelta(minutes=1) + RECONCILE_EVERY)["full_scan"] == 1
    assert kinds_for(resumed) == [Kind.INACTIVITY]


def test_a_config_change_makes_the_next_scan_full_and_applies_it(config):
    detect(config, NOW - timedelta(minutes=1))
    member = silent_member(now=NOW, silent_for=timedelta(hours=13))
    detect(config)
    assert kinds_for(member) == []
    config.inactivity_after = timedelta(hours=12)
    config.save()
    assert detect(config, NOW + timedelta(minutes=1))["full_scan"] == 1
    assert kinds_for(member) == [Kind.INACTIVITY]


def test_disabled_kinds_and_a_disabled_engine_detect_nothing(config):
    member = silent_member(now=NOW)
    config.inactivity_enabled = False
    config.save()
    detect(config)
    assert kinds_for(member) == []
    config.inactivity_enabled, config.enabled = True, False
    config.save()
    assert triggers_run_scan(now=NOW)["disabled"] == 1
    assert kinds_for(member) == []


# --- morning check-in ----------------------------------------------------------------------

def test_morning_checkin_once_per_local_morning_for_members_who_have_not_written_today(config):
    morning = local("Asia/Tokyo", 2026, 11, 27, 8, 30)
    wrote_yesterday = silent_member(now=morning, silent_for=timedelta(hours=20), timezone="Asia/Tokyo")
    wrote_today = silent_member(now=morning, silent_for=timedelta(minutes=20), timezone="Asia/Tokyo")
    in_moscow = silent_member(now=morning, silent_for=timedelta(hours=20), timezone="")
    detect(config, morning)
    assert kinds_for(wrote_yesterday) == [Kind.MORNING_CHECKIN]
    assert kinds_for(wrote_today) == []
    assert kinds_for(in_moscow) == []  # 02:30 in Moscow
    trigger = ProactiveTrigger.objects.get(user=wrote_yesterday)
    assert trigger.dedupe_key == "morning_checkin:2026-11-27"
    assert trigger.payload["expires_at"] == local("Asia/Tokyo", 2026, 11, 27, 10, 0).isoformat()
    detect(config, morning + timedelta(minutes=30))
    assert ProactiveTrigger.objects.filter(user=wrote_yesterday).count() == 1
    moscow_morning = local("Europe/Moscow", 2026, 11, 27, 8, 1)
    detect(config, moscow_morning)  # members without a zone of their own live in the default one
    assert Kind.MORNING_CHECKIN in kinds_for(in_moscow)


def test_tired_members_get_the_morning_checkin_every_other_day(config):
    day1 = local("Europe/Moscow", 2026, 11, 27, 8, 5)
    tired = silent_member(now=day1, silent_for=timedelta(days=2), unanswered_proactive=5)
    detect(config, day1)
    assert ProactiveTrigger.objects.filter(user=tired, kind=Kind.MORNING_CHECKIN).count() == 1
    detect(config, day1 + timedelta(days=1))
    assert ProactiveTrigger.objects.filter(user=tired, kind=Kind.MORNING_CHECKIN).count() == 1
    detect(config, day1 + timedelta(days=2))
    assert ProactiveTrigger.objects.filter(user=tired, kind=Kind.MORNING_CHECKIN).count() == 2


# --- events from the journeys app ----------------------------------------------------------

def test_a_forward_stage_change_becomes_one_stage_completed_trigger(config):
    now = timezone.now()
    change = JourneyProgressFactory()
    backwards = JourneyProgressFactory(stage=stage(1), previous_stage=stage(2), source="staff",
                                       user__journey_stage=1)
    initial = JourneyProgressFactory(previous_stage=None, source="initial", stage=stage(1), user__journey_stage=1)
    paused = JourneyProgressFactory(user__is_paused=True)
    detect(config, now)
    trigger = ProactiveTrigger.objects.get(kind=Kind.STAGE_COMPLETED)
    assert (trigger.user_id, trigger.payload) == (change.user_id, {"progress_id": change.pk, "stage_order": 2})
    for other in (backwards, initial, paused):
        assert kinds_for(other.user) == []
    detect(config, now + timedelta(minutes=1))
    detect(config, now + timedelta(minutes=10))  # past the event lag: floors by id from now on
    assert ProactiveTrigger.objects.filter(kind=Kind.STAGE_COMPLETED).count() == 1


def test_stage_changes_older_than_two_days_are_not_celebrated(config):
    JourneyProgressFactory()
    detect(config, timezone.now() + timedelta(days=3))
    assert not ProactiveTrigger.objects.filter(kind=Kind.STAGE_COMPLETED).exists()


def test_new_journey_rows_are_found_by_id_after_the_first_scans(config):
    now = timezone.now()
    detect(config, now)
    detect(config, now + timedelta(minutes=6))  # now a mark older than the lag exists
    change = JourneyProgressFactory()
    result = detect(config, now + timedelta(minutes=7))
    assert ScanState.objects.get().event_marks
    assert result["detected_stage_completed"] == 1
    assert kinds_for(change.user) == [Kind.STAGE_COMPLETED]


def test_avoidance_is_named_once_a_day_at_most(config):
    member = TelegramUserFactory()
    first = JourneyInsightFactory(user=member, kind=JourneyInsight.Kind.AVOIDANCE, text="уходит от темы денег")
    second = JourneyInsightFactory(user=member, kind=JourneyInsight.Kind.AVOIDANCE, text="шутит, когда больно")
    JourneyInsightFactory(user=member, kind=JourneyInsight.Kind.INSIGHT)
    now = timezone.now()
    detect(config, now)
    trigger = ProactiveTrigger.objects.get(user=member)
    assert (trigger.kind, trigger.payload) == (Kind.AVOIDANCE, {"insight_id": second.pk})
    JourneyInsightFactory(user=member, kind=JourneyInsight.Kind.AVOIDANCE)
    detect(config, now + timedelta(hours=1))
    assert ProactiveTrigger.objects.filter(user=member).count() == 1
    assert first.pk < second.pk


# --- streams ---------------------------------------------------------------------------------

def test_a_programme_step_is_due_on_its_day_in_the_members_zone(config):
    member = TelegramUserFactory(timezone="Asia/Vladivostok")
    stream = StreamFactory()
    StreamStep.objects.create(stream=stream, day_offset=0, text="Первое задание")
    later = StreamStep.objects.create(stream=stream, day_offset=2, text="Третий день: письмо себе")
    enrollment, _ = stream_enroll(user=member, stream=stream)
    delivery = enrollment.step_deliveries.get(step=later)
    day_before = local("Asia/Vladivostok", delivery.due_on.year, delivery.due_on.month, delivery.due_on.day) \
        - timedelta(minutes=1)
    steps = ProactiveTrigger.objects.filter(user=member, kind=Kind.STREAM_STEP)
    detect(config, day_before)
    assert not steps.exists()
    detect(config, day_before + timedelta(minutes=2))
    assert steps.get().payload == {"step_delivery_id": delivery.pk, "step_id": later.pk, "stream_id": stream.pk}
    detect(config, day_before + timedelta(hours=5))
    assert steps.count() == 1


def test_members_on_suitable_stages_are_invited_once_before_a_stream_starts(config):
    now = NOW
    soon = StreamFactory(starts_at=(now + timedelta(days=2)).date())
    soon.suitable_stages.set([stage(1), stage(2)])
    other = StreamFactory(starts_at=(now + timedelta(days=1)).date())
    far = StreamFactory(starts_at=(now + timedelta(days=20)).date())
    fits = silent_member(now=now, silent_for=timedelta(hours=2))
    wrong_stage = silent_member(now=now, silent_for=timedelta(hours=2), journey_stage=7)
    enrolled = silent_member(now=now, silent_for=timedelta(hours=2))
    stream_enroll(user=enrolled, stream=soon)
    detect(config, now)
    invites = ProactiveTrigger.objects.filter(kind=Kind.STREAM_INVITE)
    assert invites.filter(user=fits).count() == 1  # two streams start soon: one invitation a day
    assert not invites.filter(user=wrong_stage, payload__stream_id=soon.pk).exists()
    assert not invites.filter(payload__stream_id=far.pk).exists()
    assert invites.filter(user=enrolled).values_list("payload__stream_id", flat=True).get() == other.pk
    detect(config, now + timedelta(days=1, minutes=5))
    assert invites.filter(user=fits).count() == 2
