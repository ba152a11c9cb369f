from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from broadcasts.models import Broadcast
from testkit.factories import StaffFactory, TelegramUserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/broadcasts/"


@pytest.fixture
def api(superuser):
    client = APIClient()
    client.force_authenticate(superuser)
    return client


def create(api, **overrides):
    body = {"title": "Новый поток", "text": "<b>Старт</b> в понедельник",
            "buttons": [{"text": "Сайт", "url": "https://relove.ru"}], "segment_stages": [1, 2]}
    body.update(overrides)
    return api.post(URL, body, format="json")


def test_create_validates_like_telegram(api):
    response = create(api, text="<b>не закрыт", buttons=[{"text": "x", "url": "ftp://x"}])
    assert response.status_code == 400
    assert set(response.json()) == {"text", "buttons"}

    response = create(api)
    assert response.status_code == 201, response.json()
    data = response.json()
    assert {k: data[k] for k in ("title", "status", "scheduled_at", "total", "sent", "failed", "blocked",
                                 "pending")} == {
        "title": "Новый поток", "status": "draft", "scheduled_at": None, "total": 0, "sent": 0, "failed": 0,
        "blocked": 0, "pending": 0}
    assert data["segment_stages"] == [1, 2]


def test_send_now_then_counts_then_cancel(api, django_capture_on_commit_callbacks):
    TelegramUserFactory.create_batch(3, journey_stage=1)
    TelegramUserFactory(journey_stage=7)
    broadcast_id = create(api).json()["id"]
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(f"{URL}{broadcast_id}/send/")
    assert response.status_code == 202
    assert len(callbacks) == 1
    assert response.json()["status"] == "sending"

    data = api.get(f"{URL}{broadcast_id}/").json()
    assert set(data) >= {"id", "title", "text", "status", "scheduled_at", "total", "sent", "failed", "blocked",
                         "pending"}
    assert (data["total"], data["pending"], data["sent"]) == (3, 3, 0)

    assert api.post(f"{URL}{broadcast_id}/send/").status_code == 409
    assert api.patch(f"{URL}{broadcast_id}/", {"title": "Другое"}, format="json").status_code == 409
    response = api.post(f"{URL}{broadcast_id}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert api.post(f"{URL}{broadcast_id}/cancel/").status_code == 409


def test_schedule_through_send_and_list_filter(api):
    TelegramUserFactory()
    broadcast_id = create(api).json()["id"]
    at = timezone.now() + timedelta(hours=2)
    response = api.post(f"{URL}{broadcast_id}/send/", {"scheduled_at": at.isoformat()}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "scheduled"
    assert Broadcast.objects.get(pk=broadcast_id).scheduled_at == at
    past = timezone.now() - timedelta(hours=1)
    other = create(api).json()["id"]
    assert api.post(f"{URL}{other}/send/", {"scheduled_at": past.isoformat()}, format="json").status_code == 409
    assert [b["id"] for b in api.get(URL, {"status": "scheduled"}).json()["results"]] == [broadcast_id]


def test_drafts_can_be_edited(api):
    broadcast_id = create(api).json()["id"]
    response = api.patch(f"{URL}{broadcast_id}/", {"text": "<i>Новый текст</i>", "segment_stages": [3]},
                         format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["text"] == "<i>Новый текст</i>" and response.json()["segment_stages"] == [3]


def test_only_staff():
    client = APIClient()
    assert client.get(URL).status_code == 401
    client.force_authenticate(StaffFactory(is_staff=False))
    assert client.get(URL).status_code == 403


def test_nobody_to_send_to_is_refused(api):
    broadcast_id = create(api).json()["id"]
    response = api.post(f"{URL}{broadcast_id}/send/", {}, format="json")
    assert response.status_code == 409 and "Получателей нет" in str(response.json())
    assert Broadcast.objects.get(pk=broadcast_id).status == Broadcast.Status.DRAFT


def test_local_time_is_checked_against_the_sending_window(api):
    assert create(api, local_time="23:30").status_code == 400
    response = create(api, local_time="10:00", local_date="2099-03-01")
    assert response.status_code == 201 and response.json()["local_time"] == "10:00:00"
