"""Admin: the member page (timeline, profile diff, enrolments, actions) and the stream programme editor."""

import json

import pytest
from django.urls import reverse

from journeys.models import JourneyInsight, JourneyProgress, StreamStepDelivery
from journeys.services import journey_start, stream_enroll
from profiles.models import PsychologicalProfile
from testkit.factories import (
    ActivityLogFactory,
    ProfileFactory,
    StaffFactory,
    StreamFactory,
    StreamStepFactory,
    TelegramUserFactory,
    stage,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(db):
    user = TelegramUserFactory(journey_stage=None)
    journey_start(user=user)
    ProfileFactory(user=user, version=1, summary="Боится перемен", data={"interests": ["карьера"]})
    ProfileFactory(user=user, version=2, summary="Решается на перемены", data={"interests": ["карьера", "смелость"]})
    stream = StreamFactory(title="Смелость")
    StreamStepFactory(stream=stream, day_offset=0)
    StreamStepFactory(stream=stream, day_offset=2)
    stream_enroll(user=user, stream=stream)
    return user


def test_member_page_shows_timeline_profile_diff_enrolments_and_actions(client, superuser, member):
    client.force_login(superuser)
    page = client.get(reverse("admin:profiles_telegramuser_change", args=[member.pk])).content.decode()
    assert "начало пути" in page  # the journey timeline
    assert "v1 → v2" in page and "+ смелость" in page and "Решается на перемены" in page  # profile diff
    assert "Смелость" in page and "1/2" in page  # enrolment with steps sent
    for name in ("profiles_member_rotate", "journeys_member_set_stage", "journeys_member_analyse",
                 "journeys_stream_recommendations"):
        assert reverse(f"admin:{name}", args=[member.pk]) in page


def test_staff_without_personal_data_right_do_not_see_the_profile_diff(client, member):
    from django.contrib.auth.models import Permission

    staff = StaffFactory()
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_telegramuser", "change_telegramuser"]))
    client.force_login(staff)
    page = client.get(reverse("admin:profiles_telegramuser_change", args=[member.pk])).content.decode()
    assert "Решается на перемены" not in page


def test_set_stage_by_hand_records_who_and_why(client, superuser, member):
    client.force_login(superuser)
    url = reverse("admin:journeys_member_set_stage", args=[member.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, {"stage": stage(5).pk, "reason": ""}).status_code == 200  # the form again: reason needed
    response = client.post(url, {"stage": stage(5).pk, "reason": "Созвон с куратором"})
    assert response.status_code == 302
    change = JourneyProgress.objects.get(user=member, source="staff")
    assert (change.stage.order, change.changed_by, change.reason) == (5, superuser, "Созвон с куратором")


def test_set_stage_needs_the_right_to_change_members(client, member):
    client.force_login(StaffFactory())
    assert client.post(reverse("admin:journeys_member_set_stage", args=[member.pk]),
                       {"stage": stage(5).pk, "reason": "x"}).status_code == 403


def test_reanalyse_now_runs_the_analysis(client, superuser, member, fake_llm, django_capture_on_commit_callbacks):
    ActivityLogFactory(user=member, content="Я решилась")
    fake_llm.enqueue({"stage": 2, "confidence": 0.9, "evidence": "Я решилась", "insights": ["Решилась"]})
    client.force_login(superuser)
    url = reverse("admin:journeys_member_analyse", args=[member.pk])
    assert client.get(url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url).status_code == 302
    assert JourneyInsight.objects.filter(user=member, kind="insight").count() == 1


def test_rotate_profile_now_button_and_action(client, superuser, member, django_capture_on_commit_callbacks):
    client.force_login(superuser)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("admin:profiles_member_rotate", args=[member.pk])).status_code == 302
    assert PsychologicalProfile.objects.filter(user=member).count() == 3
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:profiles_telegramuser_changelist"),
                    {"action": "rotate_profile_now", "_selected_action": [member.pk]})
    assert PsychologicalProfile.objects.filter(user=member).count() == 4


def test_recommendations_page_shows_the_score_breakdown(client, superuser, member):
    StreamFactory(title="Поток для всех", starts_at=None)
    client.force_login(superuser)
    page = client.get(reverse("admin:journeys_stream_recommendations", args=[member.pk])).content.decode()
    assert "Поток для всех" in page and "подходит на любом этапе" in page and "★" in page


def test_programme_editor_inline_reaches_enrolled_members(client, superuser, member):
    stream = member.enrollments.get().stream
    steps = list(stream.steps.order_by("day_offset"))
    client.force_login(superuser)
    data = {"title": stream.title, "slug": stream.slug, "description": stream.description, "url": stream.url,
            "tags": "[]", "is_active": "on",
            "steps-TOTAL_FORMS": "3", "steps-INITIAL_FORMS": "2", "steps-MIN_NUM_FORMS": "0",
            "steps-MAX_NUM_FORMS": "1000"}
    for i, step in enumerate(steps):
        data.update({f"steps-{i}-id": step.pk, f"steps-{i}-stream": stream.pk, f"steps-{i}-day_offset": step.day_offset,
                     f"steps-{i}-order": step.order, f"steps-{i}-text": step.text, f"steps-{i}-quick_replies": "[]"})
    data.update({"steps-2-stream": stream.pk, "steps-2-day_offset": 9, "steps-2-order": 0,
                 "steps-2-text": "Новый шаг", "steps-2-quick_replies": "[]"})
    response = client.post(reverse("admin:journeys_stream_change", args=[stream.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert StreamStepDelivery.objects.filter(enrollment__user=member, step__day_offset=9).count() == 1


BAD_STEP_REPLIES = ["1", "2", "3", "4"]


def test_the_programme_editor_and_the_api_refuse_the_same_step_with_the_same_message(client, superuser):
    stream = StreamFactory()
    client.force_login(superuser)
    data = {"title": stream.title, "slug": stream.slug, "description": stream.description, "url": stream.url,
            "tags": "[]", "is_active": "on", "steps-TOTAL_FORMS": "1", "steps-INITIAL_FORMS": "0",
            "steps-MIN_NUM_FORMS": "0", "steps-MAX_NUM_FORMS": "1000", "steps-0-stream": stream.pk,
            "steps-0-day_offset": 0, "steps-0-order": 0, "steps-0-text": "Шаг",
            "steps-0-quick_replies": json.dumps(BAD_STEP_REPLIES)}
    response = client.post(reverse("admin:journeys_stream_change", args=[stream.pk]), data)
    assert response.status_code == 200
    admin_errors = response.context["inline_admin_formsets"][0].formset.forms[0].errors["quick_replies"]

    api = client.patch(f"/api/v1/streams/{stream.pk}/", {"steps": [
        {"day_offset": 0, "text": "Шаг", "quick_replies": BAD_STEP_REPLIES}]}, content_type="application/json")
    assert api.status_code == 400
    assert api.json()["steps"] == admin_errors
    assert "Не больше 3 быстрых ответов" in admin_errors[0]
    assert not stream.steps.exists()

    tags = client.patch(f"/api/v1/streams/{stream.pk}/", {"tags": ["", "x" * 65]}, content_type="application/json")
    data.update({"tags": json.dumps(["", "x" * 65]), "steps-0-quick_replies": "[]"})
    form_errors = client.post(reverse("admin:journeys_stream_change", args=[stream.pk]), data).context[
        "adminform"].form.errors["tags"]
    assert tags.status_code == 400 and tags.json()["tags"] == form_errors


def test_the_stream_list_counts_clicks_enrolments_and_steps_per_stream(client, superuser):
    from profiles.models import UserInteraction

    first, second = StreamFactory(), StreamFactory()
    StreamStepFactory(stream=first)
    member = TelegramUserFactory()
    stream_enroll(user=member, stream=first)
    for stream_id in (first.pk, first.pk, second.pk):
        UserInteraction.objects.create(user=member, kind=UserInteraction.Kind.STREAM_CLICKED,
                                       metadata={"stream_id": stream_id})
    UserInteraction.objects.create(user=member, kind=UserInteraction.Kind.STREAM_ENROLLED,
                                   metadata={"stream_id": second.pk})  # not a click
    client.force_login(superuser)
    rows = {s.pk: s for s in client.get(reverse("admin:journeys_stream_changelist")).context["cl"].result_list}
    assert (rows[first.pk]._clicks, rows[first.pk]._enrolled, rows[first.pk]._steps) == (2, 1, 1)
    assert (rows[second.pk]._clicks, rows[second.pk]._enrolled, rows[second.pk]._steps) == (1, 0, 0)


def test_set_stage_previews_the_congratulation_only_for_forward_moves(client, superuser, member):
    client.force_login(superuser)
    page = client.get(reverse("admin:journeys_member_set_stage", args=[member.pk])).content.decode()
    previews = json.loads(page.split('id="stage-congratulations" type="application/json">')[1].split("</script>")[0])
    assert str(stage(1).pk) not in previews  # the current stage: nothing to congratulate
    text = previews[str(stage(3).pk)]
    assert stage(3).name in text and "3/12" in text and "<" not in text
    assert 'name="notify"' in page and "checked" not in page.split('name="notify"')[1].split(">")[0]
    assert "Ничего: «Сообщить участнику» не отмечено" in page


def test_set_stage_says_when_the_member_would_not_get_the_congratulation(client, superuser, member):
    client.force_login(superuser)
    url = reverse("admin:journeys_member_set_stage", args=[member.pk])
    assert 'id="stage-preview-blocked"' not in client.get(url).content.decode()
    member.is_paused = True
    member.save()
    assert 'id="stage-preview-blocked"' in client.get(url).content.decode()
