"""The member pages in a real browser: a quiet manual stage change, the crisis banner, the timeline."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from bot.models import CrisisAlert
from journeys.models import JourneyProgress
from journeys.services import journey_start
from testkit.browser import PHONE, admin_login
from testkit.concurrency import in_threads
from testkit.factories import SuperuserFactory, TelegramUserFactory, UserSessionFactory, stage
from triggers.models import ProactiveTrigger
from triggers.services import triggers_run_scan

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a-long-test-password"


@pytest.fixture
def curator_page(browser_page, live_server):
    SuperuserFactory(username="curator", password=PASSWORD)
    admin_login(browser_page, live_server.url, "curator", PASSWORD)
    return browser_page


def _next_noon_in_moscow() -> datetime:
    """Tomorrow 12:00 in Moscow: inside every sending window, outside the morning check-in."""
    zone = ZoneInfo("Europe/Moscow")
    tomorrow = timezone.localdate(timezone.now(), zone) + timedelta(days=1)
    return datetime.combine(tomorrow, time(12), zone)


def _member_on_stage_one(scan_at: datetime):
    # Wrote an hour before the scan: no inactivity nudge can be due, only a stage congratulation.
    member = TelegramUserFactory(journey_stage=None, last_user_message_at=scan_at - timedelta(hours=1),
                                 last_activity_at=scan_at - timedelta(hours=1))
    journey_start(user=member)
    return member


def _scan(moment: datetime) -> dict:
    """One trigger-engine tick, as beat runs it: in its own thread, since the Telegram client runs
    its own event loop and Playwright's is running in this one."""
    [result] = in_threads(1, lambda: triggers_run_scan(now=moment))
    return result


def _set_stage(page, base_url, member, *, notify: bool) -> str:
    target = stage(3)
    page.goto(f"{base_url}/admin/journeys/journeyprogress/member/{member.pk}/set-stage/")
    page.select_option("#id_stage", label=str(target))
    page.fill("#id_reason", "Созвон с куратором")
    preview = page.locator("#stage-preview")
    assert "Ничего" in preview.inner_text()  # notify is off by default
    page.check("#id_notify")
    shown = page.locator("#stage-preview-text").inner_text()
    assert target.name in shown and "3/12" in shown  # the congratulation with the stage indicator
    if not notify:
        page.uncheck("#id_notify")
        assert page.locator("#stage-preview-text").is_hidden()
    page.click("input[type=submit]")
    page.wait_for_load_state("networkidle")
    assert f"/admin/profiles/telegramuser/{member.pk}/change/" in page.url
    return target.name


def test_a_manual_stage_change_with_notify_off_sends_nothing(curator_page, live_server, fake_telegram):
    scan_at = _next_noon_in_moscow()
    member = _member_on_stage_one(scan_at)
    _set_stage(curator_page, live_server.url, member, notify=False)

    change = JourneyProgress.objects.get(user=member, source="staff")
    assert (change.stage.order, change.changed_by.username, change.announced_at is not None) == (3, "curator", True)
    timeline = curator_page.locator("#timeline").inner_text()
    assert "вручную сотрудником" in timeline and "сотрудник: curator" in timeline

    _scan(scan_at)
    assert not ProactiveTrigger.objects.filter(user=member).exists()
    assert fake_telegram.sent_messages() == []


def test_with_notify_on_the_member_gets_the_previewed_congratulation(curator_page, live_server, fake_telegram):
    scan_at = _next_noon_in_moscow()
    member = _member_on_stage_one(scan_at)
    name = _set_stage(curator_page, live_server.url, member, notify=True)

    _scan(scan_at)
    [sent] = fake_telegram.sent_messages(member.telegram_id)
    assert name in sent["text"] and "3/12" in sent["text"]


def test_the_crisis_banner_and_the_timeline_on_a_member_page(curator_page, live_server):
    member = TelegramUserFactory(crisis_flag=True)
    UserSessionFactory(user=member, turns=[{"role": "user", "content": "<script>alert(1)</script> мне плохо"},
                                           {"role": "assistant", "content": "Я рядом."}])
    CrisisAlert.objects.create(user=member, excerpt="мне плохо", signals=2)
    for viewport in (None, PHONE):
        if viewport:
            curator_page.set_viewport_size(viewport)
        curator_page.goto(f"{live_server.url}/admin/profiles/telegramuser/{member.pk}/change/")
        banner = curator_page.get_by_text("Открытый кризисный сигнал")
        assert banner.is_visible()
        box = banner.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= curator_page.viewport_size["width"]
        color = banner.evaluate("node => getComputedStyle(node.closest('div')).backgroundColor")
        assert color == "rgb(186, 33, 33)"
        bubble = curator_page.locator(".relove-tl-member", has_text="мне плохо")
        assert bubble.inner_text().endswith("<script>alert(1)</script> мне плохо")  # shown as text, not run
        assert curator_page.locator(".relove-tl-crisis").count() >= 1
