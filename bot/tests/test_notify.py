"""Staff alerts through the one outbound path: claimed, retried by the policy, swept, never twice."""

from datetime import timedelta

import pytest
from django.utils import timezone

from bot.models import OutboundMessage
from bot.services.notify import outbound_deliver, outbound_enqueue, outbound_sweep
from testkit.concurrency import in_threads

Status = OutboundMessage.Status
STAFF_CHAT = -100500


def alert(key="crisis:1"):
    return outbound_enqueue(kind="crisis_alert", chat_id=STAFF_CHAT, text="⚠️ <b>Кризисный сигнал</b>",
                            dedupe_key=key)


@pytest.mark.django_db
def test_an_alert_is_recorded_once_per_key_and_delivered(fake_telegram):
    row = alert()
    assert alert().pk == row.pk  # the same reason never makes a second alert
    assert outbound_deliver(outbound_id=row.pk).next == "sent"
    assert outbound_deliver(outbound_id=row.pk) is None  # already sent: nobody may claim it again
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENT, 1)
    assert len(fake_telegram.sent_messages(STAFF_CHAT)) == 1


@pytest.mark.django_db
def test_a_transient_error_waits_for_the_backoff_then_delivers(fake_telegram):
    row = alert()
    fake_telegram.fail_next("sendMessage", status=502)
    assert outbound_deliver(outbound_id=row.pk).next == "retry"
    row.refresh_from_db()
    assert row.status == Status.PENDING and row.next_attempt_at > timezone.now()
    assert outbound_deliver(outbound_id=row.pk) is None  # not due yet
    assert outbound_deliver(outbound_id=row.pk, now=row.next_attempt_at).next == "sent"
    assert len(fake_telegram.sent_messages(STAFF_CHAT)) == 1


@pytest.mark.django_db
def test_an_alert_that_may_have_reached_telegram_is_never_sent_again(fake_telegram):
    row = alert()
    fake_telegram.fail_next("sendMessage", status=0)  # the connection drops after the request went out
    assert outbound_deliver(outbound_id=row.pk).next == "unknown"
    row.refresh_from_db()
    assert row.status == Status.UNKNOWN
    assert outbound_deliver(outbound_id=row.pk, now=timezone.now() + timedelta(hours=1)) is None
    assert len(fake_telegram.calls_to("sendMessage")) == 1


@pytest.mark.django_db
def test_the_sweeper_marks_a_dead_workers_alert_unknown_and_requeues_lost_ones(
        fake_telegram, django_capture_on_commit_callbacks):
    now = timezone.now()
    stuck = alert("crisis:stuck")
    OutboundMessage.objects.filter(pk=stuck.pk).update(status=Status.SENDING, claimed_at=now - timedelta(minutes=30))
    lost = alert("crisis:lost")
    OutboundMessage.objects.filter(pk=lost.pk).update(created_at=now - timedelta(minutes=10))
    with django_capture_on_commit_callbacks(execute=True):
        assert outbound_sweep(now=now) == {"unknown": 1, "reenqueued": 1}
    stuck.refresh_from_db()
    lost.refresh_from_db()
    assert (stuck.status, lost.status) == (Status.UNKNOWN, Status.SENT)
    assert len(fake_telegram.sent_messages(STAFF_CHAT)) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_delivering_one_alert_send_it_once(fake_telegram):
    # Recorded without the on-commit task, so that the two workers below are the only senders.
    row = OutboundMessage.objects.create(kind="crisis_alert", chat_id=STAFF_CHAT, text="⚠️", dedupe_key="crisis:race")
    fake_telegram.set_delay(0.2)  # both workers are inside the send window at once
    results = in_threads(2, lambda: outbound_deliver(outbound_id=row.pk))
    assert sorted(str(r.next) if r else "not-claimed" for r in results) == ["not-claimed", "sent"]
    assert len(fake_telegram.sent_messages(STAFF_CHAT)) == 1
