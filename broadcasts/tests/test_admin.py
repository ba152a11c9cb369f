import pytest
from django.urls import reverse

from broadcasts.models import Broadcast, BroadcastDelivery, StaffTelegramAccount
from broadcasts.services import broadcast_create, broadcast_send_now
from testkit.factories import (
    StaffFactory,
    StaffTelegramAccountFactory,
    TelegramUserFactory,
    stage,
)

pytestmark = pytest.mark.django_db

ADD = reverse("admin:broadcasts_broadcast_add")


def change_url(broadcast):
    return reverse("admin:broadcasts_broadcast_change", args=[broadcast.pk])


def button_rows(*rows):
    """The list editor's fields for ``(text, kind, target)`` rows."""
    return {"buttons_text": [r[0] for r in rows], "buttons_kind": [r[1] for r in rows],
            "buttons_target": [r[2] for r in rows]}


def form_data(**overrides):
    data = {"title": "Новый поток", "text": "<b>Старт</b> в понедельник",
            **button_rows(("Хочу", "reply", ""), ("Сайт", "url", "https://relove.ru")),
            "segment_gender": "", "segment_language": "", "segment_active_within_days": "",
            "segment_consented_only": "on", "scheduled_at_0": "", "scheduled_at_1": "", "local_time": "",
            "local_date": ""}
    data.update(overrides)
    return data


@pytest.fixture
def staff_client(client, superuser):
    client.force_login(superuser)
    return client


def test_compose_validates_html_and_buttons_before_saving(staff_client):
    response = staff_client.post(ADD, form_data(text="<b>не закрыт", **button_rows(("Плохая", "url", "ftp://x"))))
    assert response.status_code == 200
    errors = str(response.context["adminform"].form.errors)
    assert "не закрыт" in errors and "ссылка" in errors
    assert not Broadcast.objects.exists()

    response = staff_client.post(ADD, form_data())
    assert response.status_code == 302
    broadcast = Broadcast.objects.get()
    assert broadcast.buttons == [{"text": "Хочу", "reply": "Хочу"}, {"text": "Сайт", "url": "https://relove.ru"}]
    assert broadcast.status == Broadcast.Status.DRAFT and broadcast.created_by.username == "root"


def test_the_change_page_shows_preview_audience_and_buttons(staff_client):
    TelegramUserFactory.create_batch(3)
    broadcast = broadcast_create(title="Поток", text="<b>Жирный</b> <i>курсив</i>",
                                 buttons=[{"text": "Сайт", "url": "https://relove.ru"}])
    page = staff_client.get(change_url(broadcast)).content.decode()
    assert '<div class="tg-text"><b>Жирный</b> <i>курсив</i></div>' in page
    assert 'id="bc-audience"' in page and ">3</span>" in page
    assert 'name="_send_now"' in page and 'name="_test_send"' in page
    assert "привяжите свой Telegram" in page
    assert 'value="https://relove.ru"' in page  # the button as an editable row, not JSON


COMPOSE = reverse("admin:broadcasts_broadcast_compose")


def test_compose_endpoint_counts_the_audience_of_the_unsaved_form(staff_client):
    TelegramUserFactory(journey_stage=2, language_code="ru")
    TelegramUserFactory(journey_stage=3, language_code="en")
    TelegramUserFactory(journey_stage=3, consent_at=None)
    assert staff_client.post(COMPOSE, form_data()).json()["count"] == 2
    assert staff_client.post(COMPOSE, form_data(segment_consented_only="")).json()["count"] == 3
    assert staff_client.post(COMPOSE, form_data(segment_stages=[stage(3).pk])).json()["count"] == 1
    assert staff_client.post(COMPOSE, form_data(segment_language="ru")).json()["count"] == 1
    # an invalid title does not stop the count (nothing is saved here)
    state = staff_client.post(COMPOSE, form_data(title="")).json()
    assert state["count"] == 2 and state["can_send"] and state["confirm"] == "Отправить 2 участникам?"
    assert not Broadcast.objects.exists()


def test_compose_endpoint_renders_the_preview_and_reports_problems(staff_client):
    data = staff_client.post(COMPOSE, form_data(text="<b>ok</b> <script>x</script>",
                                                **button_rows(("Да", "reply", ""), ("Сайт", "url", "ftp://x")))).json()
    assert "<b>ok</b>" in data["html"] and "<script" not in data["html"]
    assert '<div class="tg-button">Да</div>' in data["html"]
    assert any("script" in e for e in data["errors"]) and any("https://" in e for e in data["errors"])
    assert staff_client.post(COMPOSE, form_data(text="я" * 1100, has_photo="1")).json()["errors"]


def test_zero_recipients_cannot_be_sent(staff_client, fake_telegram, django_capture_on_commit_callbacks):
    TelegramUserFactory(consent_at=None)
    state = staff_client.post(COMPOSE, form_data()).json()
    assert state["count"] == 0 and not state["can_send"] and "Получателей нет" in state["send_refusal"]
    broadcast = broadcast_create(title="Поток", text="Привет")
    page = staff_client.get(change_url(broadcast)).content.decode()
    assert 'id="bc-send"' in page and "Получателей нет" in page
    send_button = page[page.index('id="bc-send"'):page.index(">", page.index('id="bc-send"'))]
    assert "disabled" in send_button

    with django_capture_on_commit_callbacks() as callbacks:  # the server refuses whatever the button says
        response = staff_client.post(change_url(broadcast), form_data(text="Привет", _send_now="1"), follow=True)
    assert "Получателей нет" in response.content.decode()
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DRAFT and broadcast.started_at is None
    assert not BroadcastDelivery.objects.exists() and callbacks == []
    staff_client.post(change_url(broadcast), form_data(text="Привет", scheduled_at_0="2099-01-01",
                                                      scheduled_at_1="10:00:00", _schedule="1"))
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DRAFT


@pytest.mark.clock("2026-12-01 08:30:00+00:00")
def test_compose_endpoint_forecasts_delivery_in_local_time(staff_client):
    for zone in ("Europe/Berlin", "America/New_York", "Europe/Moscow"):
        TelegramUserFactory(timezone=zone)
    state = staff_client.post(COMPOSE, form_data(local_time="10:00")).json()
    # Berlin (09:30) and New York (03:30) still get it today; in Moscow 10:00 has passed.
    assert state["forecast"] == "2 сегодня, 1 завтра"
    assert state["confirm"] == "Отправить 3 участникам в 10:00 по местному времени (2 сегодня, 1 завтра)?"
    state = staff_client.post(COMPOSE, form_data(local_time="23:00")).json()
    assert state["local_errors"] and "с 08:00 до 22:00" in state["local_errors"][0] and not state["forecast"]
    response = staff_client.post(ADD, form_data(local_time="07:30"))
    assert "окна отправки" in str(response.context["adminform"].form.errors["local_time"])


def test_test_send_goes_to_the_staff_members_own_telegram(staff_client, superuser, fake_telegram,
                                                          django_capture_on_commit_callbacks):
    broadcast = broadcast_create(title="Поток", text="<b>Тест</b>")
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(change_url(broadcast), form_data(text="<b>Тест</b>", _test_send="1"))
    assert "Привяжите свой Telegram" in staff_client.get(change_url(broadcast)).content.decode()  # asked first
    assert fake_telegram.sent_messages() == []

    StaffTelegramAccountFactory(user=superuser, telegram_id=777)
    with django_capture_on_commit_callbacks() as queued:
        response = staff_client.post(change_url(broadcast), form_data(text="<b>Тест</b>", _test_send="1"),
                                     follow=True)
    assert "Тест поставлен в очередь" in response.content.decode()
    assert len(queued) == 1 and fake_telegram.sent_messages() == []  # the request did not call Telegram

    queued[0]()  # the worker
    assert [m["text"] for m in fake_telegram.sent_messages(777)] == ["<b>Тест</b>"]
    page = staff_client.get(change_url(broadcast)).content.decode()
    assert "Тест отправлен" in page
    assert "Тест отправлен" not in staff_client.get(change_url(broadcast)).content.decode()  # shown once
    assert not BroadcastDelivery.objects.exists()


def test_send_now_schedule_and_cancel_buttons(staff_client, fake_telegram, django_capture_on_commit_callbacks):
    TelegramUserFactory.create_batch(2)
    broadcast = broadcast_create(title="Поток", text="Привет")
    with django_capture_on_commit_callbacks() as callbacks:
        staff_client.post(change_url(broadcast), form_data(text="Привет", _send_now="1"))
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.SENDING and len(callbacks) == 1  # a worker is enqueued
    assert BroadcastDelivery.objects.filter(broadcast=broadcast).count() == 2

    page = staff_client.get(change_url(broadcast)).content.decode()
    assert 'id="bc-progress"' in page and 'name="_send_now"' not in page
    progress = staff_client.get(reverse("admin:broadcasts_broadcast_progress", args=[broadcast.pk])).json()
    assert progress["counts"]["pending"] == 2 and progress["status"] == "sending"

    staff_client.post(change_url(broadcast), {"_cancel": "1"})
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.CANCELLED
    assert set(BroadcastDelivery.objects.values_list("status", flat=True)) == {"cancelled"}

    later = broadcast_create(title="Позже", text="Привет")
    staff_client.post(change_url(later), form_data(text="Привет", scheduled_at_0="2099-01-01",
                                                  scheduled_at_1="10:00:00", _schedule="1"))
    later.refresh_from_db()
    assert later.status == Broadcast.Status.SCHEDULED and later.scheduled_at.year == 2099


def test_a_started_broadcast_cannot_be_edited(staff_client):
    TelegramUserFactory()
    broadcast = broadcast_create(title="Поток", text="Привет")
    broadcast_send_now(broadcast_id=broadcast.pk, enqueue=False)
    staff_client.post(change_url(broadcast), form_data(text="Изменено"))
    broadcast.refresh_from_db()
    assert broadcast.text == "Привет"


def test_staff_see_only_their_own_telegram_account(client):
    me, other = StaffFactory(), StaffFactory()
    mine = StaffTelegramAccountFactory(user=me)
    theirs = StaffTelegramAccountFactory(user=other)
    client.force_login(me)
    listing = client.get(reverse("admin:broadcasts_stafftelegramaccount_changelist")).content.decode()
    assert str(mine.telegram_id) in listing and str(theirs.telegram_id) not in listing
    url = reverse("admin:broadcasts_stafftelegramaccount_change", args=[theirs.pk])
    assert client.get(url).status_code in (302, 403)
    client.post(reverse("admin:broadcasts_stafftelegramaccount_change", args=[mine.pk]),
                {"telegram_id": "4242"})
    # A typed id is never taken: only the bot sets it, from the account that sent the code.
    assert StaffTelegramAccount.objects.get(pk=mine.pk).telegram_id == mine.telegram_id


def test_the_admin_and_the_api_refuse_the_same_broadcast_with_the_same_messages(staff_client):
    response = staff_client.post(ADD, form_data(text="Tom & <div>Jerry", **button_rows(("Плохая", "url", "ftp://x"))))
    form_errors = response.context["adminform"].form.errors
    api = staff_client.post("/api/v1/broadcasts/", {"title": "x", "text": "Tom & <div>Jerry",
                                                    "buttons": [{"text": "Плохая", "url": "ftp://x"}]},
                            content_type="application/json")
    assert api.status_code == 400
    assert api.json()["text"] == form_errors["text"] and api.json()["buttons"] == form_errors["buttons"]
    assert any("&amp;" in message for message in form_errors["text"])
    assert not Broadcast.objects.exists()
