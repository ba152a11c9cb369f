"""The broadcast composer in a real browser: compose, live preview and count, send, zero refused."""

import pytest

from broadcasts.models import Broadcast, BroadcastDelivery, SavedSegment
from testkit.browser import PHONE, admin_login
from testkit.factories import SuperuserFactory, TelegramUserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff_page(browser_page, live_server):
    SuperuserFactory(username="composer-admin", password="a-long-test-password")
    admin_login(browser_page, live_server.url, "composer-admin", "a-long-test-password")
    return browser_page


def dialogs_accepted(page) -> list[str]:
    """Accept every confirm() and remember what it asked."""
    asked = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    return asked


def test_compose_preview_count_and_send(staff_page, live_server, fake_telegram):
    for zone in ("Europe/Moscow", "Asia/Vladivostok", ""):
        TelegramUserFactory(timezone=zone, language_code="ru")
    page = staff_page
    asked = dialogs_accepted(page)
    page.goto(f"{live_server.url}/admin/broadcasts/broadcast/add/")

    # the preview follows the typing, before the first save
    page.fill("#id_title", "Эфир в четверг")
    page.fill("#id_text", "<b>Привет!</b> В четверг эфир")
    page.wait_for_selector("#bc-preview .tg-text b:text('Привет!')")
    page.click(".bc-button-add")
    page.fill("input[name=buttons_text]", "Приду")
    page.wait_for_selector("#bc-preview .tg-button:text('Приду')")
    page.fill("#id_text", "<b>Привет!</b> <i>незакрытый")
    page.wait_for_selector("#bc-preview-errors li")
    page.fill("#id_text", "<b>Привет!</b> В четверг эфир")
    page.wait_for_function("document.querySelectorAll('#bc-preview-errors li').length === 0")

    # the count follows the audience; nobody matching disables sending and says why
    assert page.text_content("#bc-audience") == "3"
    page.fill("#id_segment_language", "en")
    page.wait_for_function("document.getElementById('bc-audience').textContent === '0'")
    assert page.is_disabled("#bc-send")
    assert "Получателей нет" in page.text_content("#bc-send-refusal")
    page.fill("#id_segment_language", "ru")
    page.wait_for_function("document.getElementById('bc-audience').textContent === '3'")
    assert page.is_enabled("#bc-send") and page.text_content("#bc-send-refusal").strip() == ""

    page.click("#bc-send")
    page.wait_for_selector("text=Рассылка запущена: 3 участникам.")
    assert asked == ["Отправить 3 участникам?"]
    broadcast = Broadcast.objects.get()
    assert broadcast.buttons == [{"text": "Приду", "reply": "Приду"}]
    fake_telegram.wait_for_messages(3)
    assert BroadcastDelivery.objects.filter(broadcast=broadcast, status="sent").count() == 3
    # once sending, the buttons show as buttons
    page.wait_for_selector(".bc-shown-button:text('Приду')")


def test_zero_recipients_cannot_be_sent_and_segments_fill_the_audience(staff_page, live_server, fake_telegram):
    TelegramUserFactory(language_code="en")
    page = staff_page
    asked = dialogs_accepted(page)
    page.goto(f"{live_server.url}/admin/broadcasts/broadcast/add/")
    page.fill("#id_title", "Только по-русски")
    page.fill("#id_text", "Привет")
    page.fill("#id_segment_language", "ru")
    page.wait_for_function("document.getElementById('bc-audience').textContent === '0'")
    assert page.is_disabled("#bc-send") and page.is_disabled("#bc-schedule")

    # keep this audience as a segment, then pick it on a fresh composer
    page.fill("#bc-segment-name", "Русскоязычные")
    page.click("#bc-segment-save")
    page.wait_for_selector("text=Сегмент «Русскоязычные» сохранён.")
    assert SavedSegment.objects.get().language == "ru"
    page.goto(f"{live_server.url}/admin/broadcasts/broadcast/add/")
    page.wait_for_function("document.getElementById('bc-audience').textContent === '1'")
    page.select_option("#id_saved_segment", label="Русскоязычные")
    assert page.input_value("#id_segment_language") == "ru"
    page.wait_for_function("document.getElementById('bc-audience').textContent === '0'")
    assert page.is_disabled("#bc-send")
    page.fill("#id_segment_language", "")
    page.locator("#id_segment_language").dispatch_event("change")
    page.wait_for_function("document.getElementById('bc-audience').textContent === '1'")
    assert page.input_value("#id_saved_segment") == ""  # edited by hand: no longer that segment
    assert asked == [] and fake_telegram.sent_messages() == []


def test_local_time_forecast_and_the_phone_layout(staff_page, live_server):
    for zone in ("Europe/Moscow", "America/New_York", "Asia/Vladivostok"):
        TelegramUserFactory(timezone=zone)
    page = staff_page
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/admin/broadcasts/broadcast/add/")
    page.fill("#id_text", "Доброе утро")
    page.fill("#id_local_time", "10:00")
    page.wait_for_selector("#bc-forecast:not(.bc-hidden)")
    assert "сегодня" in page.text_content("#bc-forecast") or "завтра" in page.text_content("#bc-forecast")
    # stacked: the fields come first, the preview column below them, nothing wider than the screen
    fields, side = page.locator(".bc-fields").bounding_box(), page.locator("#bc-side").bounding_box()
    assert side["y"] >= fields["y"] + fields["height"] - 1 and side["width"] <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
