"""The staff API of journeys, profiles and streams (routes from journeys/tests/urls.py)."""

import pytest
from django.contrib.auth.models import Permission

from journeys.models import JourneyProgress, Stream, StreamStepDelivery
from journeys.services import journey_start, stream_enroll
from testkit.factories import ProfileFactory, StaffFactory, StreamFactory, TelegramUserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("journeys.tests.urls")]


@pytest.fixture
def staff(client):
    # Member and content work without the personal-data rights (granted per test below).
    user = StaffFactory(roles=["Редактор контента"], perms=[
        "profiles.view_telegramuser", "profiles.change_telegramuser", "profiles.view_psychologicalprofile",
        "journeys.view_journeyprogress", "journeys.add_journeyprogress"])
    client.force_login(user)
    return user


def grant_personal_data(user):
    user.user_permissions.add(Permission.objects.get(codename="view_personal_data"))


def test_stages_list_and_detail_by_order(client, staff):
    stages = client.get("/api/v1/journeys/stages/").json()
    assert [s["order"] for s in stages] == list(range(1, 13))
    assert stages[2]["name"] == "Отказ от зова" and stages[2]["quick_replies"]
    assert client.get("/api/v1/journeys/stages/8/").json()["name"] == "Главное испытание"
    assert client.post("/api/v1/journeys/stages/", {}).status_code == 405


def test_member_stage_history_hides_evidence_without_the_personal_data_right(client, staff):
    member = TelegramUserFactory(journey_stage=None)
    journey_start(user=member)
    JourneyProgress.objects.create(user=member, stage_id=JourneyProgress.objects.get(user=member).stage_id,
                                   source="llm", evidence="цитата участника", confidence=0.8)
    TelegramUserFactory()  # someone else's history is filtered out

    rows = client.get(f"/api/v1/journeys/progress/?user={member.pk}").json()["results"]
    assert [r["source"] for r in rows] == ["llm", "initial"]
    assert "evidence" not in rows[0]
    grant_personal_data(staff)  # the profile right is not enough: evidence quotes the member's words
    assert "evidence" not in client.get(f"/api/v1/journeys/progress/?user={member.pk}").json()["results"][0]
    staff.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    rows = client.get(f"/api/v1/journeys/progress/?user={member.pk}").json()["results"]
    assert rows[0]["evidence"] == "цитата участника"


def test_member_journey_set_stage_and_analyse(client, staff):
    member = TelegramUserFactory(journey_stage=None)
    journey_start(user=member)
    StreamFactory(starts_at=None)

    journey = client.get(f"/api/v1/journeys/members/{member.pk}/").json()
    assert (journey["journey_stage"], journey["stage_name"]) == (1, "Обычный мир")
    assert journey["stage_progress"]["percent"] == 0
    assert journey["recommendations"][0]["parts"] == {"stage": 0.5, "topics": 0.0, "profile": 0.0, "start": 0.2}

    bad = client.post(f"/api/v1/journeys/members/{member.pk}/set-stage/", {"stage": 4, "reason": ""},
                      content_type="application/json")
    assert bad.status_code == 400
    done = client.post(f"/api/v1/journeys/members/{member.pk}/set-stage/", {"stage": 4, "reason": "Разговор"
                       " по телефону"}, content_type="application/json")
    assert done.status_code == 201
    assert (done.json()["source"], done.json()["changed_by"], done.json()["previous_stage"]) == (
        "staff", staff.username, 1)
    member.refresh_from_db()
    assert member.journey_stage == 4
    assert client.post(f"/api/v1/journeys/members/{member.pk}/analyse/").status_code == 202


def test_profile_versions_are_read_only_and_content_needs_the_right(client, staff):
    member = TelegramUserFactory()
    ProfileFactory(user=member, version=1, summary="старое", data={"interests": ["карьера"]})
    ProfileFactory(user=member, version=2, summary="новое", data={"interests": ["отношения"]})

    rows = client.get(f"/api/v1/profiles/?user={member.pk}").json()["results"]
    assert [r["version"] for r in rows] == [2, 1] and "summary" not in rows[0]
    assert client.get(f"/api/v1/profiles/{rows[0]['id']}/diff/").status_code == 403
    assert client.delete(f"/api/v1/profiles/{rows[0]['id']}/").status_code == 405

    grant_personal_data(staff)
    assert client.get(f"/api/v1/profiles/?user={member.pk}").json()["results"][0]["summary"] == "новое"
    diff = client.get(f"/api/v1/profiles/{rows[0]['id']}/diff/").json()
    assert diff["changes"] == [{"field": "summary", "before": "старое", "after": "новое"},
                               {"field": "interests", "before": "− карьера", "after": "+ отношения"}]


def test_streams_crud_with_programme(client, staff):
    payload = {"title": "Смелость", "slug": "courage", "description": "Две недели маленьких смелых шагов.",
               "url": "https://relove.ru/courage", "starts_at": "2030-06-01", "tags": ["страх", "смелость"],
               "suitable_stages": [3, 5],
               "steps": [{"day_offset": 0, "text": "Назови страх."},
                         {"day_offset": 2, "text": "Сделай шаг.", "quick_replies": ["Сделал(а)", "Страшно"]}]}
    created = client.post("/api/v1/streams/", payload, content_type="application/json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["suitable_stages"] == [3, 5] and [s["day_offset"] for s in body["steps"]] == [0, 2]

    stream = Stream.objects.get(slug="courage")
    member = TelegramUserFactory()
    enrollment, _ = stream_enroll(user=member, stream=stream)
    payload["steps"].append({"day_offset": 5, "text": "Подведи итог."})
    updated = client.put(f"/api/v1/streams/{stream.pk}/", payload, content_type="application/json")
    assert updated.status_code == 200 and updated.json()["enrolled"] == 1
    assert StreamStepDelivery.objects.filter(enrollment=enrollment).count() == 3  # the new step reached them

    invalid = client.post("/api/v1/streams/", {**payload, "slug": "x", "steps": [
        {"day_offset": 0, "text": "а", "quick_replies": ["1", "2", "3", "4"]}]}, content_type="application/json")
    assert invalid.status_code == 400
    assert client.patch(f"/api/v1/streams/{stream.pk}/", {"is_active": False},
                        content_type="application/json").json()["is_active"] is False
    assert client.delete(f"/api/v1/streams/{stream.pk}/").status_code == 204


def test_the_api_is_staff_only(client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_user(username="m", password="member-pass-123"))
    for url in ("/api/v1/journeys/stages/", "/api/v1/journeys/progress/", "/api/v1/profiles/", "/api/v1/streams/"):
        assert client.get(url).status_code == 403, url
