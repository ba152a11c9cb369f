"""API: the proactivity rules and the trigger queue, at their final routes under /api/v1/."""

from datetime import timedelta

import pytest
from django.utils import timezone

from testkit.factories import StaffFactory, TelegramUserFactory, TriggerFactory
from triggers.models import ProactivityConfig

from .helpers import local, silent_member

pytestmark = pytest.mark.django_db
CONFIG_URL = "/api/v1/proactivity-config/"
TRIGGERS_URL = "/api/v1/triggers/"


@pytest.fixture
def staff(db):
    return StaffFactory(roles=["Администратор"])


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_config_reads_with_the_spec_field_formats(staff_client):
    data = staff_client.get(CONFIG_URL).json()
    assert data | {"updated_at": None} == data | {
        "enabled": True, "max_per_day": 2, "window_start": "08:00", "window_end": "22:00",
        "default_timezone": "Europe/Moscow", "inactivity_after": "1 00:00:00", "updated_at": None}
    assert data["inactivity_enabled"] and data["morning_checkin_enabled"]


def test_config_patch_applies_to_the_next_scan_and_is_recorded_in_history(staff_client, staff, tg):
    noon = local("Europe/Moscow", 2026, 11, 26, 12, 0)
    member = silent_member(now=noon, silent_for=timedelta(hours=13))
    response = staff_client.patch(CONFIG_URL, {"inactivity_after": "12:00:00", "window_start": "09:30",
                                               "max_per_day": 3, "stream_invite_enabled": False},
                                  content_type="application/json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["inactivity_after"], body["window_start"], body["max_per_day"]) == ("12:00:00", "09:30", 3)
    config = ProactivityConfig.load()
    assert config.inactivity_after == timedelta(hours=12) and not config.stream_invite_enabled
    change = config.history.first()
    assert (change.max_per_day, change.history_user) == (3, staff)

    from triggers.services import triggers_run_scan

    assert triggers_run_scan(now=noon)["sent"] == 1
    assert len(tg.sent_messages(member.telegram_id)) == 1


@pytest.mark.parametrize("payload", [
    {"window_start": "23:00"},  # later than the stored window_end
    {"window_start": "10:00", "window_end": "09:00"},
    {"max_per_day": 11},
    {"default_timezone": "Mars/Olympus"},
    {"inactivity_after": "bogus"},
    {"inactivity_after": "00:00:10"},
    {"fatigue_multiplier": 0},
])
def test_config_patch_rejects_bad_values_with_400(staff_client, payload):
    before = ProactivityConfig.load().updated_at
    response = staff_client.patch(CONFIG_URL, payload, content_type="application/json")
    assert response.status_code == 400
    assert ProactivityConfig.load().updated_at == before


def test_config_is_staff_only(client):
    assert client.get(CONFIG_URL).status_code == 401
    client.force_login(StaffFactory(is_staff=False))
    assert client.patch(CONFIG_URL, {"enabled": False}, content_type="application/json").status_code == 403
    assert ProactivityConfig.load().enabled


def test_triggers_list_filters_by_member_and_status(staff_client):
    first, second = TelegramUserFactory(), TelegramUserFactory()
    now = timezone.now()
    sent = TriggerFactory(user=first, status="sent", sent_at=now, attempts=1)
    TriggerFactory(user=first, status="pending", scheduled_for=now + timedelta(hours=1))
    TriggerFactory(user=second, status="sent")
    data = staff_client.get(TRIGGERS_URL, {"user": first.pk, "status": "sent"}).json()
    assert data["count"] == 1
    row = data["results"][0]
    assert {k: row[k] for k in ("id", "user", "kind", "status", "attempts")} == {
        "id": sent.pk, "user": first.pk, "kind": "inactivity", "status": "sent", "attempts": 1}
    assert row["scheduled_for"] and row["sent_at"]
    assert staff_client.get(TRIGGERS_URL, {"user": first.pk}).json()["count"] == 2
    assert staff_client.get(TRIGGERS_URL, {"status": "nonsense"}).status_code == 400
    assert staff_client.get(f"{TRIGGERS_URL}{sent.pk}/").json()["id"] == sent.pk
    assert staff_client.post(TRIGGERS_URL, {}).status_code == 405


def test_member_time_zone_and_opt_out_are_patched_on_the_users_endpoint(staff_client):
    member = TelegramUserFactory()
    response = staff_client.patch(f"/api/v1/users/{member.pk}/", {"timezone": "Asia/Tokyo", "proactive_enabled": False},
                                  content_type="application/json")
    assert response.status_code == 200
    member.refresh_from_db()
    assert (member.timezone, member.proactive_enabled) == ("Asia/Tokyo", False)
