"""Delivery end to end through the fake Bot API: rules, errors, storage, attribution."""

from datetime import timedelta

import pytest
from django.utils import timezone

from bot.models import DailyMessageSlot, UserSession
from bot.services import orchestrator
from bot.services.members import TelegramIdentity
from bot.services.sessions import session_history
from journeys.models import JourneyInsight, StreamStep
from journeys.services import stream_enroll
from profiles.models import TelegramUser, UserActivityLog, UserInteraction
from testkit.factories import (
    DailySlotFactory,
    JourneyInsightFactory,
    JourneyProgressFactory,
    StreamFactory,
    TriggerFactory,
    stage,
)
from triggers.models import ProactiveTrigger
from triggers.services import proactive_reply_record, triggers_run_scan, triggers_send_now, triggers_sweep_stuck

from .helpers import local, silent_member

Kind, Status = ProactiveTrigger.Kind, ProactiveTrigger.Status
NOON_MSK = local("Europe/Moscow", 2026, 11, 26, 12, 0)
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOON_MSK)]


def texts(tg, member):
    return [m["text"] for m in tg.sent_messages(member.telegram_id)]


def test_inside_the_window_one_message_outside_none_and_a_trigger_for_the_next_0800(tg, config):
    inside = silent_member(now=NOON_MSK)
    outside = silent_member(now=NOON_MSK, timezone="America/New_York")  # 04:00 there
    result = triggers_run_scan(now=NOON_MSK)
    triggers_run_scan(now=NOON_MSK + timedelta(minutes=1))
    assert result["sent"] == 1 and result["deferred"] == 1
    [message] = tg.sent_messages(inside.telegram_id)
    assert "давно не заглядывал" in message["text"]
    assert [row[0]["text"] for row in message["reply_markup"]["inline_keyboard"]] == [
        "Всё хорошо", "Застрял(а)", "Хочу поговорить"]
    assert tg.sent_messages(outside.telegram_id) == []
    pending = ProactiveTrigger.objects.get(user=outside)
    assert pending.status == Status.PENDING
    assert pending.scheduled_for == local("America/New_York", 2026, 11, 26, 8, 0)
    sent = ProactiveTrigger.objects.get(user=inside)
    assert (sent.status, sent.sent_at, sent.attempts, sent.daily_slot.slot) == (Status.SENT, NOON_MSK, 1, 1)
    assert sent.daily_slot.local_date.isoformat() == "2026-11-26"
    triggers_run_scan(now=local("America/New_York", 2026, 11, 26, 8, 0))
    assert len(tg.sent_messages(outside.telegram_id)) == 1


def test_the_message_is_stored_in_the_conversation_and_its_quick_replies_work(tg, config):
    config.window_start, config.window_end = config.window_start.replace(hour=0), config.window_end.replace(hour=23)
    config.save()  # the window is open all day, so the scan sends at once
    now = timezone.now()
    member = silent_member(now=now)
    triggers_run_scan()
    [message] = tg.sent_messages(member.telegram_id)
    member.refresh_from_db()
    assert member.unanswered_proactive == 1
    session = UserSession.objects.get(user=member)
    turn = session_history(session)[-1]
    assert (turn["role"], turn["kind"], turn["qr"][0]) == ("assistant", "proactive", "Всё хорошо")
    assert turn["content"] in message["text"]
    assert UserInteraction.objects.filter(user=member, kind=UserInteraction.Kind.PROACTIVE_SENT).exists()
    assert UserActivityLog.objects.filter(user=member, kind=UserActivityLog.Kind.PROACTIVE).exists()

    pressed = message["reply_markup"]["inline_keyboard"][1][0]["callback_data"]
    replies = orchestrator.handle(orchestrator.Incoming(
        identity=TelegramIdentity(telegram_id=member.telegram_id), kind=orchestrator.Kind.CALLBACK,
        callback_data=pressed))
    assert replies
    session.refresh_from_db()
    assert any(t["role"] == "user" and t["content"] == "Застрял(а)" for t in session_history(session))
    trigger = ProactiveTrigger.objects.get(user=member)
    assert trigger.answered_at is not None
    member.refresh_from_db()
    assert member.unanswered_proactive == 0
    assert UserInteraction.objects.filter(user=member, kind=UserInteraction.Kind.PROACTIVE_REPLIED).count() == 1


def test_a_reply_counts_within_24_hours_once(config):
    member = silent_member(now=NOON_MSK, unanswered_proactive=2)
    sent = TriggerFactory(user=member, status=Status.SENT, sent_at=NOON_MSK)
    assert proactive_reply_record(user=member, at=NOON_MSK + timedelta(hours=25)) is None
    assert proactive_reply_record(user=member, at=NOON_MSK + timedelta(hours=2)) == sent
    assert proactive_reply_record(user=member, at=NOON_MSK + timedelta(hours=3)) is None
    member.refresh_from_db()
    assert member.unanswered_proactive == 0
    assert UserInteraction.objects.filter(kind=UserInteraction.Kind.PROACTIVE_REPLIED).count() == 1


def test_a_member_who_blocked_the_bot_is_marked_and_their_pending_triggers_cancelled(tg, config):
    member = silent_member(now=NOON_MSK)
    later = TriggerFactory(user=member, kind=Kind.STREAM_INVITE, scheduled_for=NOON_MSK + timedelta(days=1))
    tg.block(member.telegram_id)
    result = triggers_run_scan(now=NOON_MSK)
    assert result["blocked"] == 1
    member.refresh_from_db()
    assert member.is_blocked
    failed = ProactiveTrigger.objects.get(user=member, kind=Kind.INACTIVITY)
    assert (failed.status, failed.daily_slot) == (Status.FAILED, None)
    assert not DailyMessageSlot.objects.filter(user=member).exists()  # not delivered: the slot was given back
    assert "403" in failed.last_error
    later.refresh_from_db()
    assert later.status == Status.CANCELLED
    triggers_run_scan(now=NOON_MSK + timedelta(days=2))
    assert ProactiveTrigger.objects.filter(user=member).count() == 2


def test_429_waits_retry_after_and_then_sends(tg, config):
    member = silent_member(now=NOON_MSK)
    tg.fail_next("sendMessage", status=429, retry_after=1)
    assert triggers_run_scan(now=NOON_MSK)["retry"] == 1
    trigger = ProactiveTrigger.objects.get(user=member)
    assert (trigger.status, trigger.scheduled_for, trigger.daily_slot) == (
        Status.PENDING, NOON_MSK + timedelta(seconds=1), None)
    assert trigger.attempts == 0  # Telegram's flood control does not use up an attempt
    assert triggers_run_scan(now=NOON_MSK + timedelta(milliseconds=500)).get("sent", 0) == 0
    assert triggers_run_scan(now=NOON_MSK + timedelta(seconds=2))["sent"] == 1
    assert len(tg.sent_messages(member.telegram_id)) == 1
    session = UserSession.objects.get(user=member)
    assert sum(1 for t in session_history(session) if t.get("kind") == "proactive") == 1  # stored once


def test_transient_errors_back_off_and_give_up_after_max_attempts(tg, config):
    config.max_attempts = 3
    config.save()
    member = silent_member(now=NOON_MSK)
    tg.fail_next("sendMessage", status=502, count=10)
    now = NOON_MSK
    delays = []
    for _ in range(3):
        triggers_run_scan(now=now)
        trigger = ProactiveTrigger.objects.get(user=member)
        if trigger.status == Status.PENDING:
            delays.append(trigger.scheduled_for - now)
            now = trigger.scheduled_for
    assert trigger.status == Status.FAILED and trigger.attempts == 3
    assert "3 попыток" in trigger.last_error
    # The one outbound backoff: base · 2^(n-1) with jitter 0.5–1.0 (base 1 min for proactive messages).
    assert timedelta(seconds=30) <= delays[0] <= timedelta(minutes=1) <= delays[1] <= timedelta(minutes=2)
    assert tg.sent_messages(member.telegram_id) == []


def test_a_third_message_on_a_local_day_waits_for_the_next_day(tg, config):
    member = silent_member(now=NOON_MSK)
    for slot in (1, 2):
        TriggerFactory(user=member, kind=Kind.AVOIDANCE, status=Status.SENT,
                       sent_at=NOON_MSK - timedelta(hours=4 - slot),
                       scheduled_for=NOON_MSK - timedelta(hours=4),
                       daily_slot=DailySlotFactory(user=member, local_date=NOON_MSK.date(), slot=slot,
                                                   taken_at=NOON_MSK - timedelta(hours=4 - slot)))
    triggers_run_scan(now=NOON_MSK)
    assert tg.sent_messages(member.telegram_id) == []
    trigger = ProactiveTrigger.objects.get(user=member, kind=Kind.INACTIVITY)
    assert trigger.scheduled_for == local("Europe/Moscow", 2026, 11, 27, 8, 0)


def test_two_reasons_at_once_are_spaced_by_min_interval(tg, config):
    member = silent_member(now=NOON_MSK)
    JourneyProgressFactory(user=member)
    member.journey_stage = 2
    member.save()
    triggers_run_scan(now=NOON_MSK)
    [first] = texts(tg, member)
    assert "Ты прошёл(ла) этап" in first and "«Зов к приключениям»" in first
    waiting = ProactiveTrigger.objects.get(user=member, status=Status.PENDING)
    assert (waiting.kind, waiting.scheduled_for) == (Kind.INACTIVITY, NOON_MSK + config.min_interval)


def test_avoidance_names_the_pattern(tg, config):
    member = silent_member(now=NOON_MSK, silent_for=timedelta(hours=1))
    JourneyInsightFactory(user=member, kind=JourneyInsight.Kind.AVOIDANCE, text="уходишь от разговора о деньгах")
    triggers_run_scan(now=NOON_MSK)
    assert "уходишь от разговора о деньгах" in texts(tg, member)[0]


def test_a_stream_invitation_carries_a_start_button_and_a_step_is_marked_delivered(tg, config):
    member = silent_member(now=NOON_MSK, silent_for=timedelta(hours=1))
    stream = StreamFactory(title="Честность", starts_at=(NOON_MSK + timedelta(days=2)).date())
    stream.suitable_stages.set([stage(1)])
    triggers_run_scan(now=NOON_MSK)
    [invite] = tg.sent_messages(member.telegram_id)
    assert "Честность" in invite["text"]
    assert invite["reply_markup"]["inline_keyboard"][-1][0] == {"text": "🔥 Начать поток",
                                                                "callback_data": f"st:{stream.pk}"}
    StreamStep.objects.create(stream=stream, day_offset=0, text="Первое")
    StreamStep.objects.create(stream=stream, day_offset=1, text="Напиши письмо своему страху")
    enrollment, _ = stream_enroll(user=member, stream=stream, now=NOON_MSK)
    before_start = NOON_MSK + timedelta(days=1)  # the programme follows the stream's own start date
    TelegramUser.objects.filter(pk=member.pk).update(last_user_message_at=before_start - timedelta(hours=1))
    triggers_run_scan(now=before_start)
    assert not any("Напиши письмо" in t for t in texts(tg, member))
    second_day = NOON_MSK + timedelta(days=3)  # start + day_offset 1
    TelegramUser.objects.filter(pk=member.pk).update(last_user_message_at=second_day - timedelta(hours=1))
    triggers_run_scan(now=second_day)
    assert "Напиши письмо своему страху" in texts(tg, member)[-1]
    assert not enrollment.step_deliveries.filter(delivered_at__isnull=True).exists()


def test_paused_members_get_nothing_and_their_due_triggers_are_skipped(tg, config):
    member = silent_member(now=NOON_MSK)
    TriggerFactory(user=member, kind=Kind.AVOIDANCE, payload={"insight_id": 1},
                   scheduled_for=NOON_MSK - timedelta(minutes=1))
    TelegramUser.objects.filter(pk=member.pk).update(is_paused=True)
    triggers_run_scan(now=NOON_MSK)
    assert tg.sent_messages() == []
    assert set(ProactiveTrigger.objects.values_list("status", "last_error")) == {
        (Status.SKIPPED, "участник на паузе")}


def test_config_changes_apply_on_the_next_scan(tg, config):
    member = silent_member(now=NOON_MSK, timezone="Asia/Tokyo")  # 18:00 in Tokyo
    config.window_end = config.window_end.replace(hour=17)
    config.save()
    triggers_run_scan(now=NOON_MSK)
    assert tg.sent_messages() == []
    assert ProactiveTrigger.objects.get(user=member).scheduled_for == local("Asia/Tokyo", 2026, 11, 27, 8, 0)
    config.window_end = config.window_end.replace(hour=21)
    config.save()
    triggers_run_scan(now=NOON_MSK + timedelta(minutes=1))
    assert len(tg.sent_messages(member.telegram_id)) == 1


def test_send_now_respects_the_rules(tg, config):
    inside = silent_member(now=NOON_MSK, silent_for=timedelta(hours=1))
    outside = silent_member(now=NOON_MSK, silent_for=timedelta(hours=1), timezone="America/New_York")
    later = NOON_MSK + timedelta(days=1)
    first = TriggerFactory(user=inside, scheduled_for=later, created_at=NOON_MSK)
    second = TriggerFactory(user=outside, scheduled_for=later, created_at=NOON_MSK)
    counts = triggers_send_now(trigger_ids=[first.pk, second.pk], now=NOON_MSK)
    assert (counts["sent"], counts["deferred"]) == (1, 1)
    second.refresh_from_db()
    assert second.scheduled_for == local("America/New_York", 2026, 11, 26, 8, 0)


def test_the_sweeper_requeues_unsent_claims_and_never_resends_ones_that_may_have_gone(config):
    member = silent_member(now=NOON_MSK)
    claimed = TriggerFactory(user=member, status=Status.SENDING, claimed_at=NOON_MSK - timedelta(minutes=30),
                             daily_slot=DailySlotFactory(user=member, local_date=NOON_MSK.date(), slot=1))
    in_flight = TriggerFactory(user=member, status=Status.SENDING, claimed_at=NOON_MSK - timedelta(minutes=30),
                               daily_slot=DailySlotFactory(user=member, local_date=NOON_MSK.date(), slot=2),
                               payload={"in_flight": True})
    fresh = TriggerFactory(user=member, status=Status.SENDING, claimed_at=NOON_MSK - timedelta(minutes=1))
    assert triggers_sweep_stuck(now=NOON_MSK) == {"swept_requeued": 1, "swept_unknown": 1}
    for row in (claimed, in_flight, fresh):
        row.refresh_from_db()
    assert (claimed.status, claimed.daily_slot, claimed.scheduled_for) == (Status.PENDING, None, NOON_MSK)
    assert (in_flight.status, in_flight.daily_slot.slot) == (Status.FAILED, 2)
    assert list(DailyMessageSlot.objects.values_list("slot", flat=True)) == [2]  # the unsent one's slot is free
    assert fresh.status == Status.SENDING


def test_all_due_triggers_are_handled_in_batches(tg, config):
    members = [silent_member(now=NOON_MSK, silent_for=timedelta(hours=1), timezone=zone)
               for zone in ("", "", "America/New_York", "America/New_York", "")]
    for member in members:
        TriggerFactory(user=member, kind=Kind.MORNING_CHECKIN, created_at=NOON_MSK, scheduled_for=NOON_MSK)
    from triggers.services import triggers_deliver_due

    counts = triggers_deliver_due(config=config, now=NOON_MSK, batch_size=2)
    assert (counts["sent"], counts["deferred"]) == (3, 2)
    assert not ProactiveTrigger.objects.filter(status=Status.PENDING, scheduled_for__lte=NOON_MSK).exists()


def test_a_scanner_with_an_older_view_never_defers_what_another_is_about_to_send(tg, config):
    """Scanner A read the due triggers just before scanner B sent the first of a member's; A's
    plan then counts B's send and its own plan for that first one, so the member's budget looks
    spent. A must not push away the second one, which B is about to send."""
    from collections import Counter

    from triggers.selectors import triggers_due
    from triggers.services.delivery import _plan_batch, trigger_deliver
    from triggers.services.rules import Rules

    config.min_interval, config.max_per_day = timedelta(0), 2
    config.save()
    member = silent_member(now=NOON_MSK, silent_for=timedelta(minutes=30))
    for _ in range(3):
        TriggerFactory(user=member, kind=Kind.MORNING_CHECKIN, created_at=NOON_MSK,
                       scheduled_for=NOON_MSK - timedelta(minutes=1))
    rules = Rules.from_config(config)
    seen_by_a = triggers_due(now=NOON_MSK, limit=100)
    first, second, third = sorted(seen_by_a, key=lambda t: t.pk)

    assert trigger_deliver(trigger=first, config=config, rules=rules, now=NOON_MSK) == Status.SENT  # B
    held = []
    planned = _plan_batch(seen_by_a, config=config, rules=rules, now=NOON_MSK, counts=Counter(), held=held)  # A
    assert [t.pk for t in planned] == [first.pk] and {t.pk for t in held} == {second.pk, third.pk}
    second.refresh_from_db()
    assert (second.status, second.scheduled_for) == (Status.PENDING, NOON_MSK - timedelta(minutes=1))

    assert trigger_deliver(trigger=second, config=config, rules=rules, now=NOON_MSK) == Status.SENT  # B again
    assert len(texts(tg, member)) == 2
