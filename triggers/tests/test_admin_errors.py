"""«Отправить сейчас» says why nothing went out: a missing token, Telegram's answer, no worker."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from relove.core import liveness
from relove.core.models import Heartbeat
from testkit.factories import TelegramUserFactory, TriggerFactory
from triggers.models import ProactivityConfig

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:triggers_proactivetrigger_changelist")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def due_trigger(db):
    ProactivityConfig.objects.filter(pk=1).update(window_start="00:00", window_end="23:59")
    member = TelegramUserFactory(last_user_message_at=timezone.now() - timedelta(hours=30))
    return TriggerFactory(user=member, kind="morning_checkin", scheduled_for=timezone.now() + timedelta(days=1))


def _send_now(admin_client, trigger, capture):
    with capture(execute=True):
        admin_client.post(CHANGELIST, {"action": "send_now", "_selected_action": [trigger.pk]})
    return admin_client.get(CHANGELIST).content.decode()


def test_a_missing_token_is_named(admin_client, due_trigger, settings, django_capture_on_commit_callbacks):
    settings.TELEGRAM_BOT_TOKEN = ""
    page = _send_now(admin_client, due_trigger, django_capture_on_commit_callbacks)
    assert "повтор позже: 1. Причины: не задан TELEGRAM_BOT_TOKEN: бот не может отправлять сообщения" in page
    assert "RuntimeError" not in page and "MissingSetting" not in page


def test_telegrams_answer_is_quoted(admin_client, due_trigger, tg, django_capture_on_commit_callbacks):
    tg.fail_next("sendMessage", status=400)  # "Bad Request: chat not found"
    page = _send_now(admin_client, due_trigger, django_capture_on_commit_callbacks)
    assert "пропущено или отменено: 1" in page and "Причины: Telegram ответил: Chat not found" in page


def test_queued_without_a_worker_says_it_waits(admin_client, due_trigger, settings,
                                               django_capture_on_commit_callbacks):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    Heartbeat.objects.create(name=liveness.WORKER, seen_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks():  # queued, never run: no worker
        response = admin_client.post(CHANGELIST, {"action": "send_now", "_selected_action": [due_trigger.pk]},
                                     follow=True)
    page = response.content.decode()
    assert "Отправка поставлена в очередь: 1." in page
    assert "Но воркер не запущен — задача ждёт в очереди и выполнится, когда он запустится." in page


def test_the_preview_page_says_no_worker_is_running(admin_client, due_trigger, settings,
                                                    django_capture_on_commit_callbacks):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with django_capture_on_commit_callbacks():
        response = admin_client.get(reverse("admin:triggers_proactivetrigger_preview", args=[due_trigger.pk]))
    page = admin_client.get(response["Location"]).content.decode()
    assert 'id="preview-worker-down"' in page and "Воркер не запущен" in page
