"""Delivery through the fake Bot API: real HTTP, real python-telegram-bot, real database and limiter."""

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from bot.models import DailyMessageSlot
from broadcasts.models import Broadcast, BroadcastDelivery
from broadcasts.services import (
    broadcast_cancel,
    broadcast_create,
    broadcast_deliver,
    broadcast_send_now,
    broadcasts_start_due,
    deliveries_recover_stuck,
)
from profiles.models import MemberTag, TelegramUser, UserInteraction
from testkit.factories import DailySlotFactory, TelegramUserFactory
from testkit.fake_telegram import FakeTelegram
from triggers.models import ProactiveTrigger, ProactivityConfig

D = BroadcastDelivery.Status


def start(n=5, *, everyone=False, **fields):
    """A started broadcast to ``n`` new members (only them, unless ``everyone``)."""
    members = TelegramUserFactory.create_batch(n)
    if not everyone:
        tag = MemberTag.objects.create(name=f"test-{MemberTag.objects.count()}-{n}")
        tag.members.add(*members)
        fields["tag_ids"] = [tag.pk]
    fields.setdefault("buttons", [{"text": "Да", "reply": "Да, хочу"}, {"text": "Сайт", "url": "https://relove.ru"}])
    broadcast = broadcast_create(title="Поток", text="<b>Новый поток</b> в понедельник", **fields)
    broadcast_send_now(broadcast_id=broadcast.pk, enqueue=False)
    return broadcast, members


def statuses(broadcast):
    return Counter(BroadcastDelivery.objects.filter(broadcast=broadcast).values_list("status", flat=True))


def per_chat(fake):
    return Counter(m["chat_id"] for m in fake.sent_messages())


@pytest.mark.django_db
def test_every_recipient_gets_exactly_one_message(fake_telegram):
    broadcast, members = start(12)
    result = broadcast_deliver(broadcast_id=broadcast.pk)

    assert result["sent"] == 12
    assert per_chat(fake_telegram) == {m.telegram_id: 1 for m in members}
    message = fake_telegram.sent_messages()[0]
    assert message["text"] == "<b>Новый поток</b> в понедельник" and message["parse_mode"] == "HTML"
    keyboard = message["reply_markup"]["inline_keyboard"]
    assert keyboard == [[{"text": "Да", "callback_data": f"b:{broadcast.pk}:0"}],
                        [{"text": "Сайт", "url": "https://relove.ru"}]]
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DONE and broadcast.finished_at
    assert statuses(broadcast) == {D.SENT: 12}
    assert BroadcastDelivery.objects.filter(telegram_message_id__isnull=True).count() == 0
    assert UserInteraction.objects.filter(kind=UserInteraction.Kind.BROADCAST_DELIVERED).count() == 12

    assert broadcast_deliver(broadcast_id=broadcast.pk)["sent"] == 0  # running again sends nothing
    assert len(fake_telegram.sent_messages()) == 12


@pytest.mark.django_db
def test_a_member_who_blocked_the_bot_is_marked_and_skipped_later(fake_telegram):
    broadcast, members = start(4)
    blocked = members[1]
    fake_telegram.block(blocked.telegram_id)
    broadcast_deliver(broadcast_id=broadcast.pk)

    blocked.refresh_from_db()
    assert blocked.is_blocked and blocked.blocked_at
    assert statuses(broadcast) == {D.SENT: 3, D.BLOCKED: 1}
    forbidden = [c for c in fake_telegram.calls_to("sendMessage") if c.chat_id == blocked.telegram_id]
    assert len(forbidden) == 1  # never retried

    second, _ = start(0, everyone=True)
    assert set(BroadcastDelivery.objects.filter(broadcast=second).values_list("user_id", flat=True)) == {
        m.pk for m in members if m != blocked}


@pytest.mark.django_db
def test_a_row_of_a_member_blocked_after_the_start_is_not_sent(fake_telegram):
    broadcast, members = start(3)
    TelegramUser.objects.filter(pk=members[0].pk).update(is_blocked=True)
    broadcast_deliver(broadcast_id=broadcast.pk)
    assert statuses(broadcast) == {D.SENT: 2, D.BLOCKED: 1}
    assert members[0].telegram_id not in per_chat(fake_telegram)


@pytest.mark.django_db
def test_permanent_errors_are_recorded_and_transient_ones_retried_a_bounded_number_of_times(fake_telegram, settings):
    settings.BROADCAST_RETRY_BASE_SECONDS = 0.01
    settings.BROADCAST_MAX_ATTEMPTS = 3
    broadcast, _ = start(1)
    fake_telegram.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    broadcast_deliver(broadcast_id=broadcast.pk, concurrency=1)
    row = BroadcastDelivery.objects.get(broadcast=broadcast)
    assert (row.status, row.attempts) == (D.FAILED, 1)
    assert "chat not found" in row.last_error.lower()

    retried, _ = start(1)
    fake_telegram.fail_next("sendMessage", status=502, count=2)
    broadcast_deliver(broadcast_id=retried.pk, concurrency=1)
    row = BroadcastDelivery.objects.get(broadcast=retried)
    assert (row.status, row.attempts) == (D.SENT, 3)

    exhausted, _ = start(1)
    fake_telegram.fail_next("sendMessage", status=500, count=5)
    broadcast_deliver(broadcast_id=exhausted.pk, concurrency=1)
    row = BroadcastDelivery.objects.get(broadcast=exhausted)
    assert (row.status, row.attempts) == (D.FAILED, 3)
    assert len(fake_telegram.sent_messages()) == 1


@pytest.mark.django_db
def test_a_request_that_may_have_reached_telegram_is_unknown_not_resent(fake_telegram):
    broadcast, _ = start(1)
    fake_telegram.fail_next("sendMessage", status=0)  # connection dropped without an answer
    broadcast_deliver(broadcast_id=broadcast.pk, concurrency=1)
    assert statuses(broadcast) == {D.UNKNOWN: 1}
    assert len(fake_telegram.calls_to("sendMessage")) == 1


@pytest.mark.django_db
def test_a_photo_is_uploaded_once_then_sent_by_file_id(fake_telegram):
    photo = SimpleUploadedFile("poster.jpg", b"\xff\xd8\xff\xe0 fake jpeg", content_type="image/jpeg")
    broadcast, _ = start(4, photo=photo)
    broadcast_deliver(broadcast_id=broadcast.pk, concurrency=1)
    calls = fake_telegram.calls_to("sendPhoto")
    assert [c.ok for c in calls] == [True] * 4
    assert isinstance(calls[0].params["photo"], dict)  # the upload
    assert all(isinstance(c.params["photo"], str) for c in calls[1:])  # Telegram's file_id
    assert calls[1].params["caption"] == "<b>Новый поток</b> в понедельник"
    broadcast.refresh_from_db()
    assert broadcast.photo_file_id == calls[1].params["photo"]


@pytest.mark.django_db
def test_retry_after_pauses_every_sender(fake_telegram, settings):
    settings.TELEGRAM_GLOBAL_RATE = 50.0
    broadcast, members = start(12)
    fake_telegram.fail_next("sendMessage", status=429, retry_after=1)
    broadcast_deliver(broadcast_id=broadcast.pk, concurrency=6)

    calls = fake_telegram.calls_to("sendMessage")
    refused = next(c for c in calls if c.status == 429)
    during_pause = [c for c in calls if refused.time + 0.05 < c.time < refused.time + 0.95]
    assert during_pause == []
    assert per_chat(fake_telegram) == {m.telegram_id: 1 for m in members}
    retried = BroadcastDelivery.objects.get(broadcast=broadcast, user__telegram_id=refused.chat_id)
    assert retried.attempts == 1  # flood control does not use up an attempt


@pytest.mark.django_db
def test_broadcasts_count_against_the_daily_proactive_budget_when_asked(fake_telegram):
    config = ProactivityConfig.load()
    config.max_per_day = 2
    config.save()
    broadcast, (fresh, busy, blocked) = start(3, counts_against_budget=True)
    for slot in (1, 2):
        DailySlotFactory(user=busy, local_date=timezone.localdate(), slot=slot)
    fake_telegram.block(blocked.telegram_id)
    broadcast_deliver(broadcast_id=broadcast.pk)

    rows = {r.user_id: r for r in BroadcastDelivery.objects.filter(broadcast=broadcast)}
    assert rows[fresh.pk].status == D.SENT and rows[fresh.pk].daily_slot.slot == 1
    assert rows[busy.pk].status == D.SKIPPED
    assert rows[blocked.pk].status == D.BLOCKED and rows[blocked.pk].daily_slot is None
    assert per_chat(fake_telegram) == {fresh.telegram_id: 1}
    held = DailyMessageSlot.objects.filter(source="broadcast")
    assert list(held.values_list("user_id", "slot")) == [(fresh.pk, 1)]  # the blocked one's slot was given back
    assert not ProactiveTrigger.objects.exists()  # the budget is not stored as fake proactive messages


@pytest.mark.django_db
def test_stuck_rows_become_unknown_and_the_broadcast_finishes(fake_telegram):
    broadcast, members = start(3)
    old = timezone.now() - timedelta(hours=1)
    BroadcastDelivery.objects.filter(broadcast=broadcast, user=members[0]).update(
        status=D.SENDING, claimed_at=old, claimed_by="dead-worker")
    broadcast_deliver(broadcast_id=broadcast.pk)
    assert Broadcast.objects.get(pk=broadcast.pk).status == Broadcast.Status.SENDING  # a row is still in flight

    assert deliveries_recover_stuck() == {broadcast.pk: 1}
    assert statuses(broadcast) == {D.SENT: 2, D.UNKNOWN: 1}
    assert Broadcast.objects.get(pk=broadcast.pk).status == Broadcast.Status.DONE
    assert members[0].telegram_id not in per_chat(fake_telegram)


@pytest.mark.django_db
def test_the_beat_job_starts_due_broadcasts_only(fake_telegram, django_capture_on_commit_callbacks):
    TelegramUserFactory.create_batch(2)
    due = broadcast_create(title="Сейчас", text="Пора")
    later = broadcast_create(title="Завтра", text="Рано")
    Broadcast.objects.filter(pk=due.pk).update(status="scheduled", scheduled_at=timezone.now() - timedelta(minutes=1))
    Broadcast.objects.filter(pk=later.pk).update(status="scheduled", scheduled_at=timezone.now() + timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert broadcasts_start_due() == 1
    assert Broadcast.objects.get(pk=due.pk).status == Broadcast.Status.DONE  # the eager task delivered it
    assert Broadcast.objects.get(pk=later.pk).status == Broadcast.Status.SCHEDULED
    assert len(fake_telegram.sent_messages()) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert broadcasts_start_due() == 0
    assert len(fake_telegram.sent_messages()) == 2


@pytest.mark.django_db
def test_the_beat_job_resumes_a_broadcast_whose_worker_is_gone(django_capture_on_commit_callbacks):
    broadcast, members = start(2)
    Broadcast.objects.filter(pk=broadcast.pk).update(started_at=timezone.now() - timedelta(minutes=10))
    with django_capture_on_commit_callbacks() as callbacks:
        broadcasts_start_due()
    assert len(callbacks) == 1  # a worker is asked to continue

    BroadcastDelivery.objects.filter(user=members[0]).update(claimed_at=timezone.now(), status=D.SENT)
    with django_capture_on_commit_callbacks() as callbacks:
        broadcasts_start_due()
    assert callbacks == []  # someone claimed rows a moment ago: that worker is alive


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_sending_within_a_second(fake_telegram, settings):
    settings.TELEGRAM_GLOBAL_RATE = 40.0
    broadcast, _ = start(120)
    worker = threading.Thread(target=_deliver_in_thread, args=(broadcast.pk,))
    worker.start()
    fake_telegram.wait_for_messages(10, timeout=10)
    assert broadcast_cancel(broadcast_id=broadcast.pk)
    cancelled_at = time.time()
    worker.join(timeout=10)

    assert not worker.is_alive()
    late = [c for c in fake_telegram.calls_to("sendMessage") if c.time > cancelled_at + 1.0]
    assert late == []
    counts = statuses(broadcast)
    assert counts[D.SENT] == len(fake_telegram.sent_messages()) < 60
    assert counts[D.SENT] + counts[D.CANCELLED] == 120
    assert Broadcast.objects.get(pk=broadcast.pk).status == Broadcast.Status.CANCELLED


def _deliver_in_thread(broadcast_id, results=None, **kwargs):
    try:
        result = broadcast_deliver(broadcast_id=broadcast_id, **kwargs)
        if results is not None:
            results.append(result)
    finally:
        connection.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_share_the_rows_and_the_rate_limit(postgres_only, settings):
    settings.TELEGRAM_GLOBAL_RATE = 25.0  # two workers without a shared limiter would do 50/s
    with FakeTelegram(global_rate=30) as fake:
        settings.TELEGRAM_BOT_TOKEN = fake.token
        settings.TELEGRAM_API_BASE_URL = fake.base_url
        broadcast, members = start(50)
        results = []
        workers = [threading.Thread(target=_deliver_in_thread, args=(broadcast.pk, results),
                                    kwargs={"batch_size": 4, "concurrency": 4}) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)

        assert per_chat(fake) == {m.telegram_id: 1 for m in members}
        assert fake.count_429 == 0
        assert sorted(r["sent"] > 0 for r in results) == [True, True]  # both really worked
        assert sum(r["sent"] for r in results) == 50
        assert len({r["worker"] for r in results}) == 2
        assert statuses(broadcast) == {D.SENT: 50}
