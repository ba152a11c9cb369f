"""A failing background task reaches staff: one admin row per kind and hour, one Telegram alert."""

import pytest
from celery import shared_task

from bot.models import OperationalFailure, OutboundMessage
from bot.services.failures import failure_report

pytestmark = pytest.mark.django_db
STAFF_CHAT = -100777


@shared_task(name="tests.rotation_that_breaks")
def rotation_that_breaks(member_secret: str):
    raise ZeroDivisionError(f"cannot rotate {member_secret}")


@pytest.fixture
def staff_chat(settings, fake_telegram):
    settings.TELEGRAM_STAFF_CHAT_ID = STAFF_CHAT
    return fake_telegram


def test_a_failing_task_makes_one_staff_alert_naming_the_task_and_the_error_class(
        staff_chat, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):  # as a worker runs it: the tracer catches the error and signals task_failure
            result = rotation_that_breaks.apply(args=("Ольга боится высоты",), throw=False)
            assert result.failed()
    failure = OperationalFailure.objects.get()
    assert (failure.source, failure.error_class, failure.count, failure.alerted) == (
        "задача tests.rotation_that_breaks", "ZeroDivisionError", 3, True)
    [alert] = staff_chat.sent_messages(STAFF_CHAT)
    assert "tests.rotation_that_breaks" in alert["text"] and "ZeroDivisionError" in alert["text"]
    assert "Ольга" not in alert["text"] and "высоты" not in alert["text"]  # arguments never travel
    assert OutboundMessage.objects.filter(kind="failure").count() == 1


def test_alerts_are_capped_per_hour_but_every_failure_is_listed(staff_chat, settings,
                                                                django_capture_on_commit_callbacks):
    settings.FAILURE_ALERTS_PER_HOUR = 2
    with django_capture_on_commit_callbacks(execute=True):
        for name in ("a", "b", "c", "d"):
            failure_report(source=f"задача {name}", error=RuntimeError())
    assert OperationalFailure.objects.count() == 4
    assert len(staff_chat.sent_messages(STAFF_CHAT)) == 2


def test_without_a_staff_chat_failures_are_only_listed(settings):
    settings.TELEGRAM_STAFF_CHAT_ID = None
    failure_report(source="бот: обработка сообщения", error=TimeoutError())
    assert OperationalFailure.objects.get().alerted is False
    assert not OutboundMessage.objects.exists()
