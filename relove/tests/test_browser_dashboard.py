"""In a real browser: staff log in to the dashboard, read the counts and the system status, watch a
number change without reloading, follow it to the list behind it, and work a crisis alert."""

from datetime import timedelta

import pytest
from django.utils import timezone

from bot.models import CrisisAlert, CrisisNote
from relove.core import liveness
from relove.core.models import Heartbeat
from testkit.browser import PHONE, admin_login
from testkit.factories import SuperuserFactory, TelegramUserFactory, TriggerFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff_page(browser_page, live_server, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # as in production: the worker's heartbeat matters
    SuperuserFactory(username="ops", password="a-long-test-password")
    admin_login(browser_page, live_server.url, "ops", "a-long-test-password")
    return browser_page


def _metric(page, key):
    return page.locator(f'[data-metric="{key}"] .ops-value').inner_text()


def test_dashboard_shows_counts_status_and_refreshes_live(staff_page, live_server):
    member = TelegramUserFactory(last_activity_at=timezone.now())
    CrisisAlert.objects.create(user=member, status="new", acute=True)
    TriggerFactory(user=member, scheduled_for=timezone.now() - timedelta(minutes=1))
    Heartbeat.objects.create(name=liveness.WORKER, seen_at=timezone.now())
    Heartbeat.objects.create(name=liveness.BEAT, seen_at=timezone.now() - timedelta(hours=1))

    staff_page.goto(f"{live_server.url}/admin/")
    assert _metric(staff_page, "crisis.new") == "1" and _metric(staff_page, "crisis.acute") == "1"
    assert "ops-card-danger" in staff_page.locator("#ops-crisis").get_attribute("class")
    assert _metric(staff_page, "proactive.due") == "1" and _metric(staff_page, "members.today") == "1"
    assert staff_page.locator('[data-status="status.worker"]').get_attribute("data-tone") == "ok"
    assert staff_page.locator('[data-status="status.beat"]').get_attribute("data-tone") == "danger"
    assert "Не работает: Расписание (Celery beat)" in staff_page.locator(".ops-summary").inner_text()

    CrisisAlert.objects.create(user=TelegramUserFactory(), status="new")
    staff_page.evaluate("window.reloveDashboard.refresh()")
    staff_page.wait_for_function(
        "document.querySelector('[data-metric=\"crisis.new\"] .ops-value').textContent.trim() === '2'")

    staff_page.locator('[data-metric="crisis.new"]').click()
    staff_page.wait_for_load_state("networkidle")
    assert "/admin/bot/crisisalert/" in staff_page.url and "status__exact=new" in staff_page.url
    assert staff_page.locator("#result_list tbody tr").count() == 2
    assert staff_page.outside_requests == []


def test_dashboard_fits_a_phone(staff_page, live_server):
    CrisisAlert.objects.create(user=TelegramUserFactory(), status="new")
    staff_page.set_viewport_size(PHONE)
    staff_page.goto(f"{live_server.url}/admin/")
    assert staff_page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    crisis, broadcasts = (staff_page.locator(f"#ops-{key}").bounding_box() for key in ("crisis", "broadcasts"))
    assert crisis["width"] < PHONE["width"] and broadcasts["y"] > crisis["y"] + crisis["height"]  # one column


def test_a_crisis_alert_is_taken_with_a_note_from_its_page(staff_page, live_server):
    alert = CrisisAlert.objects.create(user=TelegramUserFactory(), status="new", acute=True)
    staff_page.goto(f"{live_server.url}/admin/bot/crisisalert/{alert.pk}/change/")
    assert "да — свяжитесь немедленно" in staff_page.locator("body").inner_text()
    staff_page.fill("#crisis-workflow textarea[name=note]", "Позвонила, договорились о встрече")
    staff_page.click("#crisis-workflow button[value=take]")
    staff_page.wait_for_load_state("networkidle")
    assert "Сигнал в работе." in staff_page.locator("body").inner_text()
    alert.refresh_from_db()
    assert alert.status == "in_progress"
    assert CrisisNote.objects.get(alert=alert).text == "Позвонила, договорились о встрече"
