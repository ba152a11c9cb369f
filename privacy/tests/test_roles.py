"""Role × endpoint × admin page: each shipped role sees and changes exactly what it should.

The admin and the API ask the same rules (relove/core/access.py), so one matrix covers both.
"""

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from bot.models import CrisisAlert
from privacy.roles import ROLES
from profiles.models import UserActivityLog
from testkit.factories import (
    ActivityLogFactory,
    BroadcastFactory,
    ProfileFactory,
    StaffFactory,
    StreamFactory,
    TelegramUserFactory,
)

pytestmark = pytest.mark.django_db

CUR, ED, BR, AN, ADM, NONE = "Куратор", "Редактор контента", "Рассылки", "Аналитик", "Администратор", "—"
ALL = (CUR, ED, BR, AN, ADM, NONE)


@pytest.fixture
def world():
    member = TelegramUserFactory(journey_stage=1)
    ProfileFactory(user=member, data={"interests": ["страх"]})
    stream = StreamFactory(tags=["страх"])
    return {"member": member, "broadcast": BroadcastFactory(), "stream": stream,
            "log": ActivityLogFactory(user=member, content="мне страшно"),
            "alert": CrisisAlert.objects.create(user=member, excerpt="не хочу жить")}


def client_for(role):
    staff = StaffFactory(roles=[] if role == NONE else [role])
    client = APIClient()
    client.force_login(staff)
    return client


# (method, url template, payload, {roles allowed}, success status)
API = [
    ("get", "/api/v1/users/", None, {CUR, ADM}, 200),
    ("patch", "/api/v1/users/{member}/", {"is_paused": True}, {CUR, ADM}, 200),
    ("get", "/api/v1/profiles/", None, {CUR, ADM}, 200),
    ("get", "/api/v1/journeys/stages/", None, {CUR, ED, BR, ADM}, 200),
    ("get", "/api/v1/journeys/members/{member}/", None, {CUR, ADM}, 200),
    ("post", "/api/v1/journeys/members/{member}/set-stage/", {"stage": 2, "reason": "сама сказала"}, {CUR, ADM}, 201),
    ("get", "/api/v1/journeys/progress/", None, {CUR, ADM}, 200),
    ("get", "/api/v1/streams/", None, {CUR, ED, BR, ADM}, 200),
    ("post", "/api/v1/streams/", {"title": "Новый", "slug": "new-one", "description": "Описание потока.",
                                  "url": "https://relove.ru/new"}, {ED, ADM}, 201),
    ("get", "/api/v1/broadcasts/", None, {BR, ADM}, 200),
    ("post", "/api/v1/broadcasts/", {"title": "Привет", "text": "Привет!"}, {BR, ADM}, 201),
    ("post", "/api/v1/broadcasts/{broadcast}/cancel/", None, {BR, ADM}, 200),
    ("get", "/api/v1/triggers/", None, {CUR, ADM}, 200),
    ("get", "/api/v1/proactivity-config/", None, {ADM}, 200),
    ("patch", "/api/v1/proactivity-config/", {"max_per_day": 1}, {ADM}, 200),
    ("get", "/api/v1/analytics/summary/", None, {AN, ADM}, 200),
]

ADMIN = [
    ("/admin/profiles/telegramuser/", {CUR, ADM}),
    ("/admin/profiles/telegramuser/{member}/change/", {CUR, ADM}),
    ("/admin/profiles/telegramuser/{member}/export/", {CUR, ADM}),
    ("/admin/profiles/telegramuser/{member}/erase/", {ADM}),
    ("/admin/bot/crisisalert/", {CUR, ADM}),
    ("/admin/profiles/useractivitylog/", {CUR, ADM}),
    ("/admin/bot/personaprompt/", {ED, ADM}),
    ("/admin/journeys/stream/", {CUR, ED, BR, ADM}),
    ("/admin/journeys/stream/add/", {ED, ADM}),
    ("/admin/broadcasts/broadcast/", {BR, ADM}),
    ("/admin/broadcasts/broadcast/add/", {BR, ADM}),
    ("/admin/triggers/proactivityconfig/1/change/", {ADM}),
    ("/admin/analytics/", {AN, ADM}),
    ("/admin/privacy/erasurerecord/", {ADM}),
    ("/admin/auth/user/", {ADM}),
]


def test_every_role_is_shipped_by_migration():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)
    assert Group.objects.get(name=AN).permissions.count() == 1


@pytest.mark.parametrize("role", ALL)
def test_api_matrix(role, world):
    client = client_for(role)
    ids = {"member": world["member"].pk, "broadcast": world["broadcast"].pk}
    for method, url, payload, allowed, ok in API:
        response = getattr(client, method)(url.format(**ids), payload, format="json")
        expected = ok if role in allowed else 403
        assert response.status_code == expected, (role, method, url, response.content[:300])


@pytest.mark.parametrize("role", ALL)
def test_admin_matrix(role, world):
    client = client_for(role)
    ids = {"member": world["member"].pk}
    for url, allowed in ADMIN:
        response = client.get(url.format(**ids))
        if role in allowed:
            assert response.status_code == 200, (role, url, response.status_code)
        else:
            assert response.status_code in (302, 403), (role, url, response.status_code)


def test_member_data_is_filtered_field_by_field(world):
    # Member work without the personal-data rights: the rows, never the words or the profile.
    staff = StaffFactory(perms=["profiles.view_telegramuser", "profiles.view_useractivitylog",
                                "bot.view_crisisalert", "profiles.view_psychologicalprofile",
                                "journeys.view_journeyprogress"])
    client = APIClient()
    client.force_login(staff)
    member, log, alert = world["member"], world["log"], world["alert"]
    for url, secret in [(f"/admin/profiles/useractivitylog/{log.pk}/change/", "мне страшно"),
                        (f"/admin/bot/crisisalert/{alert.pk}/change/", "не хочу жить")]:
        page = client.get(url)
        assert page.status_code == 200 and secret not in page.content.decode()
    assert "summary" not in client.get("/api/v1/profiles/").json()["results"][0]
    journey = client.get(f"/api/v1/journeys/members/{member.pk}/").json()
    assert all("темы профиля" not in r for rec in journey["recommendations"] for r in rec["reasons"])
    assert client.get(f"/admin/profiles/telegramuser/{member.pk}/export/").status_code == 403

    # The profile right shows profile topics, not the member's words.
    staff.user_permissions.add(*_perms("view_personal_data"))
    staff = type(staff).objects.get(pk=staff.pk)
    client.force_login(staff)
    journey = client.get(f"/api/v1/journeys/members/{member.pk}/").json()
    assert any("темы профиля: страх" in r for rec in journey["recommendations"] for r in rec["reasons"])
    assert "мне страшно" not in client.get(f"/admin/profiles/useractivitylog/{log.pk}/change/").content.decode()

    # The conversation right shows activity-log content and crisis excerpts.
    staff.user_permissions.add(*_perms("view_conversation"))
    client.force_login(type(staff).objects.get(pk=staff.pk))
    assert "мне страшно" in client.get(f"/admin/profiles/useractivitylog/{log.pk}/change/").content.decode()
    assert "не хочу жить" in client.get(f"/admin/bot/crisisalert/{alert.pk}/change/").content.decode()
    assert UserActivityLog.objects.count() == 1


def test_no_delete_in_the_admin_but_erasure(world):
    client = client_for(ADM)
    member = world["member"]
    assert client.get(f"/admin/profiles/telegramuser/{member.pk}/delete/").status_code == 403
    response = client.post(f"/admin/profiles/telegramuser/{member.pk}/erase/")
    assert response.status_code == 302
    from privacy.models import ErasureRecord
    from profiles.models import TelegramUser

    assert not TelegramUser.objects.filter(pk=member.pk).exists()
    record = ErasureRecord.objects.get()
    assert record.initiator == "staff" and record.staff.groups.filter(name=ADM).exists()


def test_erase_action_asks_for_confirmation_first(world):
    client = client_for(ADM)
    member = world["member"]
    from profiles.models import TelegramUser

    page = client.post("/admin/profiles/telegramuser/", {"action": "erase_members", "_selected_action": [member.pk]})
    assert page.status_code == 200 and "безвозвратно" in page.content.decode()
    assert TelegramUser.objects.filter(pk=member.pk).exists()
    client.post("/admin/profiles/telegramuser/", {"action": "erase_members", "_selected_action": [member.pk],
                                                  "confirmed": "yes"})
    assert not TelegramUser.objects.filter(pk=member.pk).exists()


def _perms(codename):
    from django.contrib.auth.models import Permission

    return list(Permission.objects.filter(codename=codename))
