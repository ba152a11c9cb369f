"""Long change forms open in tabs; a trigger's page says what happens to it next, or why it does not move."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from bot.models import CrisisAlert
from journeys.models import JourneyStage
from relove.core import liveness
from relove.core.models import Heartbeat
from testkit.factories import StaffFactory, StreamFactory, TriggerFactory
from triggers.models import ProactivityConfig
from triggers.selectors import trigger_progress

pytestmark = pytest.mark.django_db


def _tabs(page: str) -> list[str]:
    """Titles of unfold's tabs on a change page: fieldset tabs and inline tabs."""
    import re

    pattern = r"x-on:click=\"active(?:Fieldset)?Tab = '[^']+'\"[^>]*>\s*([^<\n]+?)\s*<"
    return re.findall(pattern, page)


@pytest.fixture
def objects(member):
    return {
        "bot_crisisalert": CrisisAlert.objects.create(user=member, excerpt="мне плохо", evidence="плохо"),
        "journeys_journeystage": JourneyStage.objects.get(order=3),
        "journeys_stream": StreamFactory(),
        "triggers_proactivetrigger": TriggerFactory(user=member),
    }


@pytest.mark.parametrize(("name", "tabs"), [
    ("bot_crisisalert", ["Сигнал", "Хронология"]),
    ("journeys_journeystage", ["Этап", "Голос Наташи"]),
    ("journeys_stream", ["Поток", "Кому рекомендовать"]),
    ("triggers_proactivetrigger", ["Триггер", "Доставка", "Данные"]),
])
def test_long_forms_open_in_tabs(client, superuser, objects, name, tabs):
    client.force_login(superuser)
    page = client.get(reverse(f"admin:{name}_change", args=[objects[name].pk])).content.decode()
    assert set(tabs) <= set(_tabs(page)), _tabs(page)


def test_a_curator_without_the_conversation_permission_sees_the_alert_without_the_excerpt(client, member):
    alert = CrisisAlert.objects.create(user=member, excerpt="мне очень плохо", evidence="плохо")
    curator = StaffFactory(perms=["bot.view_crisisalert", "bot.change_crisisalert"])
    client.force_login(curator)
    response = client.get(reverse("admin:bot_crisisalert_change", args=[alert.pk]))
    page = response.content.decode()
    assert response.status_code == 200 and "Хронология" in page and "мне очень плохо" not in page


def test_the_save_bar_sticks_to_the_bottom(client, superuser, objects):
    client.force_login(superuser)
    page = client.get(reverse("admin:journeys_journeystage_change", args=[objects["journeys_journeystage"].pk]))
    assert 'id="submit-row" class="relative lg:sticky lg:bottom-0' in page.content.decode()


class TestTriggerProgress:
    def test_disabled_proactivity_is_named(self, member):
        ProactivityConfig.objects.filter(pk=1).update(enabled=False)
        assert trigger_progress(TriggerFactory(user=member)).startswith(
            "Не будет отправлен: проактивность выключена")

    def test_a_missing_worker_is_named(self, member, settings):
        settings.CELERY_TASK_ALWAYS_EAGER = False
        Heartbeat.objects.all().delete()
        assert trigger_progress(TriggerFactory(user=member)) == (
            "Не отправляется: воркер не запущен — задача ждёт в очереди и выполнится, когда он запустится.")

    def test_a_silent_scan_is_named(self, member, settings):
        settings.CELERY_TASK_ALWAYS_EAGER = False
        Heartbeat.objects.update_or_create(name=liveness.WORKER, defaults={"seen_at": timezone.now()})
        Heartbeat.objects.update_or_create(name=liveness.TRIGGER_SCAN,
                                           defaults={"seen_at": timezone.now() - timedelta(hours=2)})
        assert "поиск триггеров не запускался давно" in trigger_progress(TriggerFactory(user=member))

    @pytest.mark.clock("2026-03-10 09:00:00+00:00")
    def test_a_future_trigger_says_when(self, member):
        trigger = TriggerFactory(user=member, scheduled_for=timezone.now() + timedelta(hours=3))
        assert trigger_progress(trigger).startswith("Ждёт: будет отправлен не раньше 2026-03-10 15:00 МСК")

    def test_a_failed_trigger_shows_its_reason(self, member):
        trigger = TriggerFactory(user=member, status="failed", last_error="Telegram ответил: Chat not found")
        assert trigger_progress(trigger) == "Ошибка: Telegram ответил: Chat not found"

    def test_the_page_shows_it(self, client, superuser, member):
        trigger = TriggerFactory(user=member, status="failed", last_error="подготовка: база данных недоступна")
        client.force_login(superuser)
        page = client.get(reverse("admin:triggers_proactivetrigger_change", args=[trigger.pk])).content.decode()
        assert "Ошибка: подготовка: база данных недоступна" in page
