"""Admin: the rules edited in place, the queue with its filters and actions, the preview."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from journeys.models import JourneyInsight
from relove.core.models import StaffTask
from testkit.factories import JourneyInsightFactory, StaffFactory, TelegramUserFactory, TriggerFactory
from triggers.models import ProactiveTrigger, ProactivityConfig

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:triggers_proactivetrigger_changelist")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def test_the_config_form_saves_the_new_rules(admin_client):
    url = reverse("admin:triggers_proactivityconfig_change", args=[1])
    form = admin_client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("on" if v is True else v) for k, v in data.items() if v not in (False, None)}
    data.update(max_per_day="3", window_start="09:00", min_interval="02:00:00")
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    config = ProactivityConfig.load()
    assert (config.max_per_day, str(config.window_start), config.min_interval) == (3, "09:00:00",
                                                                                  timedelta(hours=2))


def test_the_queue_filters_by_member_kind_and_status(admin_client):
    member, other = TelegramUserFactory(), TelegramUserFactory()
    mine = TriggerFactory(user=member, kind="avoidance")
    TriggerFactory(user=other)
    by_member = admin_client.get(CHANGELIST, {"member": member.telegram_id})
    assert list(by_member.context["cl"].queryset) == [mine]
    assert list(admin_client.get(CHANGELIST, {"member": member.pk}).context["cl"].queryset) == [mine]
    assert admin_client.get(CHANGELIST, {"kind__exact": "avoidance", "status__exact": "pending"}).context[
        "cl"].result_count == 1
    assert b'name="member"' in by_member.content


def test_cancel_and_send_now_actions(admin_client, tg, django_capture_on_commit_callbacks):
    # The actions run on the real clock: open the window round the clock for this test.
    ProactivityConfig.objects.filter(pk=1).update(window_start="00:00", window_end="23:59")
    now = timezone.now()
    member = TelegramUserFactory(last_user_message_at=now - timedelta(hours=30))
    tomorrow = now + timedelta(days=1)
    to_cancel = TriggerFactory(user=member, scheduled_for=tomorrow)
    to_send = TriggerFactory(user=member, kind="morning_checkin", scheduled_for=tomorrow)
    admin_client.post(CHANGELIST, {"action": "cancel_selected", "_selected_action": [to_cancel.pk]})
    to_cancel.refresh_from_db()
    assert to_cancel.status == "cancelled"

    # The request only queues the work: nothing reaches Telegram until the worker runs it.
    with django_capture_on_commit_callbacks() as queued:
        response = admin_client.post(CHANGELIST, {"action": "send_now", "_selected_action": [to_send.pk]},
                                     follow=True)
    assert "поставлена в очередь: 1" in response.content.decode()
    assert len(queued) == 1 and tg.sent_messages() == []
    to_send.refresh_from_db()
    assert to_send.status == "pending"
    task = StaffTask.objects.get(kind="triggers.send_now")
    assert task.status == "queued"

    queued[0]()  # the worker (Celery runs eagerly in tests)
    to_send.refresh_from_db()
    assert to_send.status == "sent"
    assert len(tg.sent_messages(member.telegram_id)) == 1
    page = admin_client.get(CHANGELIST).content.decode()
    assert "Отправлено: 1" in page
    assert "Отправлено: 1" not in admin_client.get(CHANGELIST).content.decode()  # announced once

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(CHANGELIST, {"action": "send_now", "_selected_action": [to_send.pk]})
    assert "Отправлено: 0" in admin_client.get(CHANGELIST).content.decode()
    assert len(tg.sent_messages(member.telegram_id)) == 1


def test_preview_is_written_by_a_worker_and_neither_sent_nor_stored(admin_client, tg,
                                                                    django_capture_on_commit_callbacks):
    member = TelegramUserFactory()
    insight = JourneyInsightFactory(user=member, kind=JourneyInsight.Kind.AVOIDANCE, text="обходишь <тему> денег")
    trigger = TriggerFactory(user=member, kind="avoidance", payload={"insight_id": insight.pk})
    with django_capture_on_commit_callbacks() as queued:
        response = admin_client.get(reverse("admin:triggers_proactivetrigger_preview", args=[trigger.pk]))
    assert response.status_code == 302 and len(queued) == 1
    waiting = admin_client.get(response["Location"]).content.decode()
    assert 'id="preview-queued"' in waiting and 'http-equiv="refresh"' in waiting

    queued[0]()
    page = admin_client.get(response["Location"]).content.decode()
    assert "обходишь &lt;тему&gt; денег" in page
    assert "Ты права" in page  # the template's quick replies
    assert 'http-equiv="refresh"' not in page
    assert tg.sent_messages() == []
    assert not member.sessions.exists()
    trigger.refresh_from_db()
    assert trigger.status == "pending"
    with django_capture_on_commit_callbacks(execute=True):
        listing = admin_client.post(CHANGELIST, {"action": "preview_selected", "_selected_action": [trigger.pk]})
    assert "обходишь &lt;тему&gt; денег" in admin_client.get(listing["Location"]).content.decode()


def test_a_preview_shows_links_as_telegram_does(admin_client, django_capture_on_commit_callbacks):
    from bot.models import MessageTemplate

    for row in MessageTemplate.objects.filter(key="proactive_avoidance"):  # saved as staff would (caches follow)
        row.text = 'Посмотри <a href="https://relove.ru/x">сюда</a>: {pattern}'
        row.save()
    insight = JourneyInsightFactory(kind=JourneyInsight.Kind.AVOIDANCE, text="тема")
    trigger = TriggerFactory(user=insight.user, kind="avoidance", payload={"insight_id": insight.pk})
    with django_capture_on_commit_callbacks(execute=True):
        queued = admin_client.get(reverse("admin:triggers_proactivetrigger_preview", args=[trigger.pk]))
    page = admin_client.get(queued["Location"])
    assert '<a href="https://relove.ru/x" target="_blank" rel="noopener noreferrer">сюда</a>' in page.content.decode()


def test_preview_needs_the_personal_data_permission(client):
    staff = StaffFactory()
    staff.user_permissions.add(Permission.objects.get(codename="view_proactivetrigger"))
    client.force_login(staff)
    trigger = TriggerFactory()
    assert client.get(CHANGELIST).status_code == 200
    assert client.get(reverse("admin:triggers_proactivetrigger_preview", args=[trigger.pk])).status_code == 403
    assert ProactiveTrigger.objects.count() == 1


def test_a_preview_is_only_for_who_asked_and_says_when_no_worker_answers(admin_client, client, time_machine):
    from django.contrib.auth.models import Permission

    trigger = TriggerFactory()
    response = admin_client.get(reverse("admin:triggers_proactivetrigger_preview", args=[trigger.pk]))
    result_url = response["Location"]  # no worker ran: the task stays queued
    assert "Воркер не отвечает" not in admin_client.get(result_url).content.decode()
    time_machine.move_to(timezone.now() + timedelta(minutes=3))
    assert "Воркер не отвечает" in admin_client.get(result_url).content.decode()

    colleague = StaffFactory()
    colleague.user_permissions.add(Permission.objects.get(codename="view_proactivetrigger"),
                                   Permission.objects.get(codename="view_personal_data"))
    client.force_login(colleague)
    assert client.get(result_url).status_code == 404


def test_an_llm_preview_calls_the_llm_in_the_worker_not_in_the_request(admin_client, fake_llm,
                                                                        django_capture_on_commit_callbacks):
    fake_llm.enqueue({"reply": "Я замечаю <паузу>. Что там?", "quick_replies": ["Давай"]})
    trigger = TriggerFactory(kind="inactivity")
    with django_capture_on_commit_callbacks() as queued:
        response = admin_client.get(reverse("admin:triggers_proactivetrigger_preview", args=[trigger.pk]))
    assert fake_llm.requests == []
    queued[0]()
    assert len(fake_llm.requests) == 1
    page = admin_client.get(response["Location"]).content.decode()
    assert "Я замечаю &lt;паузу&gt;. Что там?" in page and "Давай" in page
