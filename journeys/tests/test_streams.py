"""Streams: enrolment sends the first step and schedules the rest; click attribution."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from bot.services.members import TelegramIdentity
from bot.services.orchestrator import Incoming, Kind, handle
from journeys.models import StreamEnrollment, StreamStepDelivery
from journeys.selectors import stream_steps_due
from journeys.services import (
    stream_enroll,
    stream_link,
    stream_ref_code,
    stream_save,
    stream_step_mark_delivered,
    url_with_ref,
)
from profiles.models import UserInteraction
from testkit.factories import StreamFactory, StreamStepFactory, TelegramUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def programme():
    stream = StreamFactory(title="Честность с собой", url="https://relove.ru/streams/honesty?utm=tg")
    StreamStepFactory(stream=stream, day_offset=3, text="Третий день: напиши письмо страху.")
    StreamStepFactory(stream=stream, day_offset=0, text="Первый день: запиши, чего ты избегаешь.",
                      quick_replies=["Готово", "Не могу"])
    StreamStepFactory(stream=stream, day_offset=1, text="Второй день: скажи одно «нет».")
    return stream


def press(member, data):
    return handle(Incoming(TelegramIdentity(telegram_id=member.telegram_id), Kind.CALLBACK, callback_data=data))


def test_start_stream_button_sends_the_first_step_and_schedules_the_rest(programme):
    member = TelegramUserFactory(timezone="Asia/Vladivostok")
    out = press(member, f"st:{programme.pk}")

    assert "Честность с собой" in out[0].text and "Первый день: запиши" in out[0].text
    assert [b[0].text for b in out[-1].buttons] == ["Готово", "Не могу"]
    enrollment = StreamEnrollment.objects.get(user=member, stream=programme)
    local_start = timezone.localtime(enrollment.enrolled_at, ZoneInfo("Asia/Vladivostok")).date()
    rows = {d.step.day_offset: d for d in StreamStepDelivery.objects.filter(enrollment=enrollment)}
    assert rows[0].delivered_at is not None  # sent at once
    assert (rows[1].delivered_at, rows[1].due_on) == (None, local_start + timedelta(days=1))
    assert (rows[3].delivered_at, rows[3].due_on) == (None, local_start + timedelta(days=3))
    assert UserInteraction.objects.filter(user=member, kind="stream_enrolled").count() == 1

    again = press(member, f"st:{programme.pk}")
    assert "уже в потоке" in again[0].text
    assert StreamStepDelivery.objects.filter(enrollment=enrollment).count() == 3


def test_due_steps_come_up_day_by_day_and_the_last_completes_the_enrolment(programme):
    member = TelegramUserFactory(timezone="Europe/Moscow")
    late_evening_utc = datetime(2030, 5, 10, 21, 30, tzinfo=ZoneInfo("UTC"))  # already 11 May in Moscow
    enrollment, created = stream_enroll(user=member, stream=programme, now=late_evening_utc)
    assert created

    may_11 = date(2030, 5, 11)
    assert not stream_steps_due(on=may_11).exists()  # day 0 went out at enrolment
    assert [r.step.day_offset for r in stream_steps_due(on=may_11 + timedelta(days=1))] == [1]
    due = list(stream_steps_due(on=may_11 + timedelta(days=3)))
    assert [(r.step.day_offset, r.due_on) for r in due] == [(1, date(2030, 5, 12)), (3, date(2030, 5, 14))]
    for row in due:
        assert stream_step_mark_delivered(delivery_id=row.pk)
        assert not stream_step_mark_delivered(delivery_id=row.pk)  # idempotent
    enrollment.refresh_from_db()
    assert enrollment.status == "completed"
    assert not stream_steps_due(on=may_11 + timedelta(days=30)).exists()


def test_editing_the_programme_reaches_members_already_in_the_stream(programme):
    member = TelegramUserFactory()
    enrollment, _ = stream_enroll(user=member, stream=programme)
    steps = [{"day_offset": 0, "order": 0, "text": "Первый день: запиши, чего ты избегаешь."},
             {"day_offset": 2, "order": 0, "text": "Второй шаг теперь на третий день."},
             {"day_offset": 7, "order": 0, "text": "Новый шаг через неделю.", "quick_replies": ["Сделал(а)"]}]
    stream_save(stream=programme, fields={}, steps=steps)

    rows = {d.step.day_offset: d for d in StreamStepDelivery.objects.filter(enrollment=enrollment)}
    start = rows[0].due_on
    assert sorted(rows) == [0, 2, 7]
    assert rows[0].delivered_at is not None  # history kept: the first step was matched, not replaced
    assert rows[7].due_on == start + timedelta(days=7)


def test_stream_links_carry_a_signed_ref(programme, settings):
    member = TelegramUserFactory()
    ref = stream_ref_code(user=member, stream=programme)
    assert len(ref) <= 32 and ref.startswith(f"tg{member.pk}s{programme.pk}h")
    assert url_with_ref(programme.url, ref) == f"https://relove.ru/streams/honesty?utm=tg&ref={ref}"
    assert url_with_ref("https://relove.ru/x?ref=old", "new") == "https://relove.ru/x?ref=new"

    settings.PUBLIC_BASE_URL = "https://bot.relove.ru/"
    assert stream_link(user=member, stream=programme) == f"https://bot.relove.ru/r/s/{ref}/"
    settings.PUBLIC_BASE_URL = ""
    assert stream_link(user=member, stream=programme) == f"{programme.url}&ref={ref}"


@pytest.mark.urls("journeys.tests.urls")
def test_a_click_is_recorded_and_redirected_with_the_ref(client, programme):
    member = TelegramUserFactory(journey_stage=4)
    ref = stream_ref_code(user=member, stream=programme)

    response = client.get(f"/r/s/{ref}/")
    assert response.status_code == 302
    assert response["Location"] == f"https://relove.ru/streams/honesty?utm=tg&ref={ref}"
    click = UserInteraction.objects.get(user=member, kind="stream_clicked")
    assert (click.stage, click.metadata) == (4, {"stream_id": programme.pk, "ref": ref})


@pytest.mark.urls("journeys.tests.urls")
def test_forged_or_unknown_refs_record_nothing(client, programme):
    member = TelegramUserFactory()
    ref = stream_ref_code(user=member, stream=programme)
    forged = ref[:-1] + ("0" if ref[-1] != "0" else "1")
    other_member = f"tg{member.pk + 1}s{programme.pk}h{ref[-8:]}"
    for bad in (forged, other_member, "tg1s1", "nonsense"):
        assert client.get(f"/r/s/{bad}/").status_code == 404
    assert not UserInteraction.objects.filter(kind="stream_clicked").exists()


def test_a_stream_with_a_start_date_dates_its_steps_from_that_start(programme):
    member = TelegramUserFactory(timezone="Europe/Moscow")
    now = timezone.now()
    today = timezone.localtime(now, ZoneInfo("Europe/Moscow")).date()
    programme.starts_at = today + timedelta(days=10)
    programme.save()
    enrollment, _ = stream_enroll(user=member, stream=programme, now=now)
    due = {d.step.day_offset: d.due_on for d in StreamStepDelivery.objects.filter(enrollment=enrollment)}
    assert (due[1], due[3]) == (today + timedelta(days=11), today + timedelta(days=13))

    late = TelegramUserFactory(timezone="Europe/Moscow")
    programme.starts_at = today - timedelta(days=2)  # joined on the stream's third day
    programme.save()
    enrollment, _ = stream_enroll(user=late, stream=programme, now=now)
    due = {d.step.day_offset: d.due_on for d in StreamStepDelivery.objects.filter(enrollment=enrollment)}
    assert (due[1], due[3]) == (today, today + timedelta(days=1))  # the missed step today, then the schedule
