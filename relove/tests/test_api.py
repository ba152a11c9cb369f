import pytest
from django.test import override_settings
from django.urls import reverse

from testkit.factories import StaffFactory, TelegramUserFactory


@pytest.mark.django_db
def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"] == {
        "database": {"ok": True}, "cache": {"ok": True}, "broker": {"ok": True},
        "worker": {"ok": True, "skipped": "tasks run eagerly"}, "beat": {"ok": True, "skipped": "tasks run eagerly"}}


@pytest.mark.django_db
def test_healthz_reports_a_broker_that_is_down(client):
    # A real connection attempt to a port where nothing listens.
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


@pytest.mark.django_db
def test_healthz_reports_a_cache_that_is_down(client):
    caches = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0",
                          "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1}}}
    with override_settings(CACHES=caches):  # Django resets its cache handlers on this change
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"]["ok"] is False


def obtain(client, username, password):
    return client.post("/api/v1/auth/token/", {"username": username, "password": password},
                       content_type="application/json")


@pytest.mark.django_db
def test_jwt_obtain_refresh_rotate_and_blacklist(client):
    StaffFactory(username="anna", roles=["Куратор"])
    tokens = obtain(client, "anna", "staff-pass-123").json()
    assert {"access", "refresh"} <= tokens.keys()

    refreshed = client.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]},
                            content_type="application/json")
    assert refreshed.status_code == 200
    assert refreshed.json()["refresh"] != tokens["refresh"]  # rotation on
    reused = client.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]},
                         content_type="application/json")
    assert reused.status_code == 401  # the old refresh token is blacklisted

    users = client.get("/api/v1/users/", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert users.status_code == 200


@pytest.mark.django_db
def test_api_is_staff_only(client):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(username="member", password="member-pass-123")
    assert client.get("/api/v1/users/").status_code == 401
    token = obtain(client, "member", "member-pass-123").json()["access"]
    assert client.get("/api/v1/users/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 403
    assert client.get("/api/schema/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 403


@pytest.mark.django_db
def test_users_api_fields_filter_and_patch(client):
    staff = StaffFactory(roles=["Куратор"])
    client.force_login(staff)
    member = TelegramUserFactory(telegram_id=777, journey_stage=3)
    TelegramUserFactory(telegram_id=778)

    data = client.get("/api/v1/users/?telegram_id=777").json()
    assert data["count"] == 1
    row = data["results"][0]
    for field in ["id", "telegram_id", "username", "first_name", "language_code", "timezone",
                  "proactive_enabled", "is_blocked", "journey_stage", "last_activity_at", "created_at"]:
        assert field in row
    assert row["journey_stage"] == 3

    url = reverse("user-detail", args=[member.pk])
    ok = client.patch(url, {"timezone": "Asia/Novosibirsk", "proactive_enabled": False},
                      content_type="application/json")
    assert ok.status_code == 200
    member.refresh_from_db()
    assert (member.timezone, member.proactive_enabled) == ("Asia/Novosibirsk", False)
    bad = client.patch(url, {"timezone": "Mars/Olympus"}, content_type="application/json")
    assert bad.status_code == 400
    ignored = client.patch(url, {"telegram_id": 1}, content_type="application/json")
    assert ignored.status_code == 200
    member.refresh_from_db()
    assert member.telegram_id == 777


@pytest.mark.django_db
def test_schema_and_docs_render_for_staff(client):
    client.force_login(StaffFactory(roles=["Аналитик"]))
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/users/" in schema.content
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/v1/analytics/summary/").status_code == 200
