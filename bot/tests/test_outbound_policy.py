"""The one outbound policy: what an attempt's outcome means for every kind of message."""

from datetime import UTC, datetime, timedelta

import pytest

from bot.outbound import Backoff, Delivery, Next, Outcome, next_step

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
BACKOFF = Backoff(base=timedelta(seconds=10), cap=timedelta(seconds=60))


def step(outcome, attempts=1, max_attempts=3):
    return next_step(outcome, attempts=attempts, max_attempts=max_attempts, now=NOW, backoff=BACKOFF)


@pytest.mark.parametrize(("outcome", "expected"), [
    (Outcome(Delivery.SENT, message_id=5), Next.SENT),
    (Outcome(Delivery.BLOCKED, error="Forbidden: bot was blocked by the user"), Next.BLOCKED),
    (Outcome(Delivery.PERMANENT, error="Bad Request: chat not found"), Next.FAILED),
    (Outcome(Delivery.TRANSIENT, error="502"), Next.RETRY),
    (Outcome(Delivery.TRANSIENT, error="ReadTimeout", maybe_delivered=True), Next.UNKNOWN),
    (Outcome(Delivery.NOT_SENT), Next.UNSENT),
    (Outcome(Delivery.RETRY_AFTER, retry_after=7), Next.RETRY),
])
def test_each_outcome_has_one_meaning(outcome, expected):
    assert step(outcome).next is expected


def test_a_maybe_delivered_message_is_never_retried_even_with_attempts_left():
    result = step(Outcome(Delivery.TRANSIENT, error="ReadTimeout", maybe_delivered=True), attempts=1, max_attempts=9)
    assert (result.next, result.at, result.delivered) == (Next.UNKNOWN, None, None)


def test_flood_control_waits_retry_after_and_does_not_use_an_attempt():
    result = step(Outcome(Delivery.RETRY_AFTER, retry_after=7), attempts=3, max_attempts=3)
    assert (result.next, result.at, result.attempt_used) == (Next.RETRY, NOW + timedelta(seconds=7), False)


def test_transient_errors_back_off_exponentially_with_jitter_then_fail():
    transient = Outcome(Delivery.TRANSIENT, error="502")
    delays = [step(transient, attempts=n, max_attempts=9).at - NOW for n in (1, 2, 3, 4, 5)]
    bounds = [(5, 10), (10, 20), (20, 40), (30, 60), (30, 60)]  # base 10 s doubling, capped at 60 s, × 0.5–1.0
    assert all(timedelta(seconds=lo) <= d <= timedelta(seconds=hi) for d, (lo, hi) in zip(delays, bounds, strict=True))
    last = step(Outcome(Delivery.TRANSIENT, error="502"), attempts=3, max_attempts=3)
    assert last.next is Next.FAILED and "3 попыток" in last.reason and last.delivered is False
