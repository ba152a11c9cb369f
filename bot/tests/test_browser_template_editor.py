"""In a real browser: a content editor types a broken template, the preview follows as they type,
saving is refused with a clear message, and the fixed template saves."""

import pytest

from bot.models import MessageTemplate
from testkit.browser import PHONE, admin_login
from testkit.factories import StaffFactory

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a-long-test-password"


@pytest.fixture
def editor_page(browser_page, live_server):
    StaffFactory(username="content-editor", password=PASSWORD, roles=["Редактор контента"])
    admin_login(browser_page, live_server.url, "content-editor", PASSWORD)
    return browser_page


def test_a_broken_template_is_refused_and_the_preview_follows_the_typing(editor_page, live_server):
    page = editor_page
    row = MessageTemplate.objects.get(key="timezone_set")
    page.goto(f"{live_server.url}/admin/bot/messagetemplate/{row.pk}/change/")
    preview = page.locator("#template-preview")
    # Filled with the sample zone and the limits from the settings, before anything is typed.
    page.wait_for_selector("#template-preview:has-text('Europe/Moscow')")
    assert "с 8 до 22" in preview.inner_text()
    assert "Часовой пояс сохранён" in page.locator("#template-key-info").inner_text()

    page.fill("#id_text", "Пояс: <b>{timezon}")
    page.wait_for_selector("#template-preview-errors li:has-text('неизвестная подстановка {timezon}')")
    errors = page.locator("#template-preview-errors").inner_text()
    assert "в этом шаблоне можно только {timezone}, {window}, {daily_limit}" in errors
    assert "не закрыт <b>" in errors
    assert preview.locator("b").inner_text() == "{timezon}"  # shown as the member would get it

    page.click("button[name=_save]")
    page.wait_for_load_state("networkidle")
    body = page.locator("#content-main").inner_text()
    assert "неизвестная подстановка {timezon}" in body and "не закрыт <b>" in body
    row.refresh_from_db()
    assert "{timezon}" not in row.text

    page.fill("#id_text", "Пояс: <b>{timezone}</b>. Пишу {window}.")
    page.wait_for_selector("#template-preview:has-text('Пояс: Europe/Moscow. Пишу с 8 до 22.')")
    assert page.locator("#template-preview-errors li").count() == 0
    page.click("button[name=_save]")
    page.wait_for_load_state("networkidle")
    row.refresh_from_db()
    assert row.text == "Пояс: <b>{timezone}</b>. Пишу {window}."
    assert page.outside_requests == []


def test_the_editor_works_on_a_phone(editor_page, live_server):
    page = editor_page
    page.set_viewport_size(PHONE)
    row = MessageTemplate.objects.get(key="proactive_avoidance")
    page.goto(f"{live_server.url}/admin/bot/messagetemplate/{row.pk}/change/")
    page.wait_for_selector("#template-preview .tg-button:has-text('Ты права')")
    page.fill("#id_quick_replies", "Да\nНет\nПозже")
    page.wait_for_selector("#template-preview .tg-button:has-text('Позже')")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1  # nothing pushes the page sideways
