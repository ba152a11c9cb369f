"""The composer's rules on the server: honest errors, protected records, saved segments."""

import pytest
from django.urls import reverse

from broadcasts.composer import recipients_phrase
from broadcasts.models import Broadcast, BroadcastDelivery, SavedSegment
from broadcasts.selectors import telegram_said
from broadcasts.services import broadcast_create, broadcast_send_now
from broadcasts.tests.test_admin import button_rows, change_url, form_data
from privacy.roles import BROADCASTS
from relove.core import liveness
from testkit.factories import (
    BroadcastDeliveryFactory,
    StaffFactory,
    StaffTelegramAccountFactory,
    TelegramUserFactory,
    stage,
)

pytestmark = pytest.mark.django_db

COMPOSE = reverse("admin:broadcasts_broadcast_compose")
SEGMENT = reverse("admin:broadcasts_broadcast_segment_save")


@pytest.fixture
def staff_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def no_worker(settings):
    """A real deployment (tasks go to a broker) with no worker heartbeat recorded."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    liveness.forget_throttle()


def page_of(client, broadcast) -> str:
    return client.get(change_url(broadcast)).content.decode()


# --- honest errors -------------------------------------------------------------------------

def test_send_now_without_a_token_says_so_and_starts_nothing(staff_client):
    TelegramUserFactory()
    broadcast = broadcast_create(title="Поток", text="Привет")
    response = staff_client.post(change_url(broadcast), form_data(text="Привет", _send_now="1"), follow=True)
    page = response.content.decode()
    assert "не задан TELEGRAM_BOT_TOKEN" in page and "Рассылка не запущена" in page
    assert "RuntimeError" not in page
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DRAFT and not BroadcastDelivery.objects.exists()


def test_test_send_without_a_token_says_so(staff_client, superuser):
    StaffTelegramAccountFactory(user=superuser, telegram_id=777)
    broadcast = broadcast_create(title="Поток", text="Привет")
    page = staff_client.post(change_url(broadcast), form_data(text="Привет", _test_send="1"),
                             follow=True).content.decode()
    assert "не задан TELEGRAM_BOT_TOKEN" in page and "RuntimeError" not in page


def test_test_send_refused_by_telegram_quotes_telegram(staff_client, superuser, fake_telegram,
                                                       django_capture_on_commit_callbacks):
    StaffTelegramAccountFactory(user=superuser, telegram_id=777)
    fake_telegram.block(777)
    broadcast = broadcast_create(title="Поток", text="Привет")
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(change_url(broadcast), form_data(text="Привет", _test_send="1"))
    page = page_of(staff_client, broadcast)
    assert "Тест не доставлен: Telegram ответил: bot was blocked by the user" in page


def test_send_now_with_no_worker_warns_and_the_page_says_why_it_waits(staff_client, fake_telegram, no_worker,
                                                                      django_capture_on_commit_callbacks):
    TelegramUserFactory.create_batch(2)
    broadcast = broadcast_create(title="Поток", text="Привет")
    with django_capture_on_commit_callbacks():
        response = staff_client.post(change_url(broadcast), form_data(text="Привет", _send_now="1"), follow=True)
    page = response.content.decode()
    assert "Рассылка запущена: 2 участникам. Но воркер не запущен — рассылка ждёт в очереди" in page
    progress = staff_client.get(reverse("admin:broadcasts_broadcast_progress", args=[broadcast.pk])).json()
    assert progress["problems"] == ["воркер не запущен — рассылка ждёт в очереди"]

    liveness.record(liveness.WORKER)  # the worker comes up: nothing to complain about
    assert "воркер не запущен" not in page_of(staff_client, broadcast)
    with django_capture_on_commit_callbacks():
        staff_client.post(change_url(broadcast), {"_cancel": "1"})


def test_a_test_send_with_no_worker_says_it_waits(staff_client, superuser, fake_telegram, no_worker,
                                                  django_capture_on_commit_callbacks):
    StaffTelegramAccountFactory(user=superuser, telegram_id=777)
    broadcast = broadcast_create(title="Поток", text="Привет")
    with django_capture_on_commit_callbacks():
        page = staff_client.post(change_url(broadcast), form_data(text="Привет", _test_send="1"),
                                 follow=True).content.decode()
    assert "Тест в очереди, но воркер не запущен" in page and fake_telegram.sent_messages() == []


def test_failed_deliveries_show_what_telegram_said(staff_client):
    broadcast = broadcast_create(title="Поток", text="Привет")
    Broadcast.objects.filter(pk=broadcast.pk).update(status=Broadcast.Status.SENDING)
    for _ in range(2):
        BroadcastDeliveryFactory(broadcast=broadcast, status=BroadcastDelivery.Status.FAILED,
                                 last_error="Chat not found")
    BroadcastDeliveryFactory(broadcast=broadcast, status=BroadcastDelivery.Status.FAILED, last_error="RuntimeError")
    page = page_of(staff_client, broadcast)
    assert "Telegram ответил: Chat not found — 2 не доставлено" in page


def test_stored_errors_are_told_in_words_not_class_names():
    assert telegram_said("Forbidden: bot was blocked by the user") == "Telegram ответил: bot was blocked by the user"
    assert telegram_said("RuntimeError") == "сбой на сервере при отправке — подробности в журнале"
    assert telegram_said("TimedOut: Timed out") == "нет связи с Telegram (сеть или таймаут)"
    assert telegram_said("воркер остановился") == "воркер остановился"


# --- protected records ---------------------------------------------------------------------

def test_a_draft_can_be_deleted_a_started_broadcast_cannot(staff_client):
    TelegramUserFactory()
    draft = broadcast_create(title="Черновик", text="Привет")
    delete = reverse("admin:broadcasts_broadcast_delete", args=[draft.pk])
    assert staff_client.get(delete).status_code == 200
    staff_client.post(delete, {"post": "yes"})
    assert not Broadcast.objects.filter(pk=draft.pk).exists()

    sending = broadcast_create(title="Идёт", text="Привет")
    broadcast_send_now(broadcast_id=sending.pk, enqueue=False)
    assert staff_client.get(reverse("admin:broadcasts_broadcast_delete", args=[sending.pk])).status_code == 403
    assert staff_client.post(reverse("admin:broadcasts_broadcast_delete", args=[sending.pk]),
                             {"post": "yes"}).status_code == 403
    done = broadcast_create(title="Готово", text="Привет")
    Broadcast.objects.filter(pk=done.pk).update(status=Broadcast.Status.DONE, started_at=sending.started_at)

    # the bulk action refuses too, naming what it keeps
    changelist = reverse("admin:broadcasts_broadcast_changelist")
    response = staff_client.post(changelist, {"action": "delete_selected", "_selected_action": [sending.pk, done.pk],
                                              "post": "yes"})
    assert Broadcast.objects.filter(pk__in=[sending.pk, done.pk]).count() == 2
    assert "удалить нельзя" in response.content.decode()
    assert BroadcastDelivery.objects.filter(broadcast=sending).count() == 1
    assert reverse("admin:broadcasts_broadcast_delete", args=[sending.pk]) not in page_of(staff_client, sending)
    another = broadcast_create(title="Ещё черновик", text="Привет")
    assert reverse("admin:broadcasts_broadcast_delete", args=[another.pk]) in page_of(staff_client, another)


def test_deliveries_cannot_be_deleted(staff_client):
    delivery = BroadcastDeliveryFactory()
    assert staff_client.get(reverse("admin:broadcasts_broadcastdelivery_delete", args=[delivery.pk])).status_code \
        == 403
    assert BroadcastDelivery.objects.filter(pk=delivery.pk).exists()


def test_a_started_broadcast_shows_its_buttons_as_buttons(staff_client):
    TelegramUserFactory()
    broadcast = broadcast_create(title="Поток", text="Привет", buttons=[{"text": "Сайт", "url": "https://relove.ru"},
                                                                         {"text": "Да", "reply": "Да"}])
    broadcast_send_now(broadcast_id=broadcast.pk, enqueue=False)
    page = page_of(staff_client, broadcast)
    assert '<span class="bc-shown-button" title="https://relove.ru">Сайт ↗</span>' in page
    assert '[{&quot;' not in page and '"url": "https' not in page


def test_any_gender_reads_any(staff_client):
    page = staff_client.get(reverse("admin:broadcasts_broadcast_add")).content.decode()
    assert '<option value="" selected>любой</option>' in page and "не указан" not in page


# --- saved segments --------------------------------------------------------------------------

def test_the_audience_on_the_form_is_saved_as_a_segment_and_offered_again(staff_client, superuser):
    TelegramUserFactory(journey_stage=3, language_code="ru")
    data = form_data(segment_stages=[stage(3).pk, stage(4).pk], segment_language="ru",
                     segment_active_within_days="30", segment_name="Тройка и четвёрка")
    saved = staff_client.post(SEGMENT, data).json()
    segment = SavedSegment.objects.get(pk=saved["id"])
    assert segment.name == "Тройка и четвёрка" and segment.created_by == superuser
    assert set(segment.stages.values_list("order", flat=True)) == {3, 4}
    assert (segment.language, segment.active_within_days, segment.consented_only) == ("ru", 30, True)

    again = staff_client.post(SEGMENT, data)
    assert again.status_code == 400 and "уже есть" in again.json()["errors"][0]
    assert staff_client.post(SEGMENT, form_data(segment_name="  ")).json()["errors"] == ["Назовите сегмент."]

    # a new broadcast offers it, with the filters the script fills in
    page = staff_client.get(reverse("admin:broadcasts_broadcast_add")).content.decode()
    assert "Тройка и четвёрка" in page and f'"segment_stages": [{stage(3).pk}, {stage(4).pk}]' in page
    listing = staff_client.get(reverse("admin:broadcasts_savedsegment_changelist")).content.decode()
    assert "Тройка и четвёрка" in listing


def test_the_broadcasts_role_manages_segments(client):
    staff = StaffFactory(roles=[BROADCASTS])
    client.force_login(staff)
    assert client.get(reverse("admin:broadcasts_savedsegment_add")).status_code == 200
    response = client.post(reverse("admin:broadcasts_savedsegment_add"),
                           {"name": "Новички", "stages": [stage(1).pk], "gender": "", "language": "",
                            "active_within_days": "", "consented_only": "on"})
    assert response.status_code == 302
    assert client.post(SEGMENT, form_data(segment_name="Все")).status_code == 200
    analyst = StaffFactory()
    client.force_login(analyst)
    assert client.post(SEGMENT, form_data(segment_name="Чужой")).status_code == 403
    assert client.post(COMPOSE, form_data()).status_code in (302, 403)
    assert set(SavedSegment.objects.values_list("name", flat=True)) == {"Новички", "Все"}


def test_compose_refuses_a_started_broadcast(staff_client):
    TelegramUserFactory()
    broadcast = broadcast_create(title="Поток", text="Привет")
    broadcast_send_now(broadcast_id=broadcast.pk, enqueue=False)
    assert staff_client.post(f"{COMPOSE}?id={broadcast.pk}", form_data(**button_rows())).status_code == 409


def test_recipients_are_counted_in_russian():
    assert [recipients_phrase(n) for n in (1, 2, 11, 21, 132)] == [
        "1 участнику", "2 участникам", "11 участникам", "21 участнику", "132 участникам"]


def test_a_scheduled_broadcast_past_its_time_without_beat_says_so(staff_client, fake_telegram, no_worker):
    TelegramUserFactory()
    broadcast = broadcast_create(title="Поток", text="Привет")
    Broadcast.objects.filter(pk=broadcast.pk).update(status=Broadcast.Status.SCHEDULED,
                                                     scheduled_at="2026-01-01T10:00:00Z")
    assert "расписание (Celery beat) не запущено" in page_of(staff_client, broadcast)
    liveness.record(liveness.BEAT)
    assert "расписание (Celery beat) не запущено" not in page_of(staff_client, broadcast)


def test_the_compose_endpoint_costs_the_same_queries_for_any_audience(staff_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(n_members):
        for zone in ("Europe/Moscow", "Asia/Vladivostok", "", "Nowhere/Invalid")[: n_members]:
            TelegramUserFactory.create_batch(n_members, timezone=zone)
        with CaptureQueriesContext(connection) as captured:
            state = staff_client.post(COMPOSE, form_data(local_time="10:00")).json()
        assert state["count"] > 0 and state["forecast"]
        return len(captured)

    assert queries(1) == queries(20)


def test_the_deliveries_list_tells_errors_in_words(staff_client):
    BroadcastDeliveryFactory(status=BroadcastDelivery.Status.FAILED, last_error="RuntimeError")
    BroadcastDeliveryFactory(status=BroadcastDelivery.Status.FAILED, last_error="Chat not found")
    listing = staff_client.get(reverse("admin:broadcasts_broadcastdelivery_changelist")).content.decode()
    assert "Telegram ответил: Chat not found" in listing and "сбой на сервере при отправке" in listing
    assert "RuntimeError" not in listing
