"""Staff authentication: lockout, throttling, revocation, logout, absolute lifetimes, TOTP."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from testkit.factories import ProfileFactory, StaffFactory, TelegramUserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "staff-pass-123"


def obtain(client, username, password=PASSWORD, **extra):
    return client.post("/api/v1/auth/token/", {"username": username, "password": password, **extra}, format="json")


def refresh(client, token):
    return client.post("/api/v1/auth/token/refresh/", {"refresh": token}, format="json")


def bearer(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_token_endpoint_locks_out_after_failures_and_staff_can_unlock():
    StaffFactory(username="anna", roles=["Куратор"])
    client = APIClient()
    for _ in range(4):
        assert obtain(client, "anna", "wrong").status_code == 401
    assert obtain(client, "anna", "wrong").status_code == 429  # the 5th failure locks
    locked = obtain(client, "anna")  # even the right password
    assert locked.status_code == 429
    assert "заблокирован" in locked.json()["detail"]
    AccessAttempt.objects.filter(username="anna").delete()  # admin → «Axes» → «Попытки доступа» → delete
    assert obtain(client, "anna").status_code == 200


def test_admin_login_locks_out_with_a_clear_page(client):
    StaffFactory(username="boris")
    for _ in range(4):
        page = client.post("/admin/login/", {"username": "boris", "password": "wrong"})
        assert page.status_code == 200  # the form again, with an error
    assert client.post("/admin/login/", {"username": "boris", "password": "wrong"}).status_code == 429
    locked = client.post("/admin/login/", {"username": "boris", "password": PASSWORD})
    assert locked.status_code == 429
    assert "Слишком много неудачных попыток" in locked.content.decode()


def test_token_obtain_is_throttled():
    client = APIClient()
    statuses = [obtain(client, f"nobody{i}", "x").status_code for i in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429


def test_password_change_revokes_refresh_and_access_tokens():
    staff = StaffFactory(username="vera", roles=["Куратор"])
    tokens = obtain(APIClient(), "vera").json()
    assert bearer(tokens["access"]).get("/api/v1/users/").status_code == 200
    staff.set_password("a-new-long-password-1")
    staff.save()
    assert refresh(APIClient(), tokens["refresh"]).status_code == 401
    assert bearer(tokens["access"]).get("/api/v1/users/").status_code == 401


def test_deactivation_revokes_refresh_tokens():
    staff = StaffFactory(username="gleb", roles=["Куратор"])
    tokens = obtain(APIClient(), "gleb").json()
    staff.is_active = False
    staff.save()
    staff.is_active = True  # even reactivated, the old refresh token stays dead
    staff.save()
    assert refresh(APIClient(), tokens["refresh"]).status_code == 401


def test_logout_blacklists_the_refresh_token():
    StaffFactory(username="dina")
    client = APIClient()
    tokens = obtain(client, "dina").json()
    assert client.post("/api/v1/auth/logout/", {"refresh": tokens["refresh"]}, format="json").status_code == 200
    assert refresh(client, tokens["refresh"]).status_code == 401


@pytest.mark.clock("2030-03-01 09:00:00+00:00")
def test_refresh_rotation_never_outlives_the_absolute_lifetime(_clock, settings):
    StaffFactory(username="egor")
    client = APIClient()
    token = obtain(client, "egor").json()["refresh"]
    for _ in range(3):  # refreshed every 2 days: each rotation would otherwise add 7 days
        _clock.shift(timedelta(days=2))
        response = refresh(client, token)
        assert response.status_code == 200
        token = response.json()["refresh"]
    _clock.shift(timedelta(days=1, minutes=1))  # 7 days after the password login
    assert refresh(client, token).status_code == 401


@pytest.mark.clock("2030-03-01 09:00:00+00:00")
def test_admin_session_ends_after_the_absolute_lifetime(_clock, client, settings):
    settings.ADMIN_SESSION_MAX_HOURS = 12
    client.force_login(StaffFactory(roles=["Куратор"]))
    for _ in range(5):  # active all along
        _clock.shift(timedelta(hours=2))
        assert client.get("/admin/").status_code == 200
    _clock.shift(timedelta(hours=2, minutes=1))
    assert client.get("/admin/").status_code == 302


def _totp(device) -> str:
    return TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()


def test_personal_data_needs_the_second_factor_when_required(settings, client):
    settings.STAFF_2FA_REQUIRED = True
    staff = StaffFactory(username="zhanna", roles=["Куратор"])
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    ProfileFactory(user=TelegramUserFactory(), summary="боится перемен")

    plain = obtain(APIClient(), "zhanna").json()
    row = bearer(plain["access"]).get("/api/v1/profiles/").json()["results"][0]
    assert "summary" not in row  # password only: the rows, not the personal data

    assert obtain(APIClient(), "zhanna", otp_token="000000").status_code == 400
    device.refresh_from_db()
    device.throttle_reset()  # django-otp slows down guessing after a wrong code
    verified = obtain(APIClient(), "zhanna", otp_token=f"{_totp(device):06d}").json()
    row = bearer(verified["access"]).get("/api/v1/profiles/").json()["results"][0]
    assert row["summary"] == "боится перемен"
    # The second factor survives a refresh.
    refreshed = refresh(APIClient(), verified["refresh"]).json()
    assert bearer(refreshed["access"]).get("/api/v1/profiles/").json()["results"][0]["summary"]

    # The admin: the login form takes the code; without it the profile stays hidden.
    client.post("/admin/login/", {"username": "zhanna", "password": PASSWORD})
    member_page = client.get(f"/admin/profiles/psychologicalprofile/{row['id']}/change/").content.decode()
    assert "боится перемен" not in member_page
    client.logout()
    device.refresh_from_db()
    device.last_t = -1  # the same code may not be used twice; take the next window's freshly
    device.save()
    client.post("/admin/login/", {"username": "zhanna", "password": PASSWORD, "otp_token": f"{_totp(device):06d}"})
    assert "боится перемен" in client.get(
        f"/admin/profiles/psychologicalprofile/{row['id']}/change/").content.decode()

    settings.STAFF_2FA_REQUIRED = False  # off: the permission alone is enough
    assert bearer(plain["access"]).get("/api/v1/profiles/").json()["results"][0]["summary"]
