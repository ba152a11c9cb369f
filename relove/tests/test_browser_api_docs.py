"""The API documentation renders in a real browser with nothing fetched from outside the site."""

import pytest

from testkit.browser import admin_login
from testkit.factories import SuperuserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff_page(browser_page, live_server):
    SuperuserFactory(username="docs-admin", password="a-long-test-password")
    admin_login(browser_page, live_server.url, "docs-admin", "a-long-test-password")
    return browser_page


def test_swagger_ui_renders_offline_with_the_api_operations(staff_page, live_server):
    staff_page.goto(f"{live_server.url}/api/docs/")
    staff_page.wait_for_selector(".swagger-ui .opblock", timeout=15_000)
    assert staff_page.locator(".opblock-summary-path", has_text="/api/v1/broadcasts/").count() >= 1
    assert staff_page.outside_requests == []


def test_redoc_renders_offline(staff_page, live_server):
    staff_page.goto(f"{live_server.url}/api/redoc/")
    staff_page.wait_for_selector("text=/api/v1/broadcasts/", timeout=15_000)
    # Only Redoc's own "powered by" footer image points outside (refused here, nothing breaks).
    assert [url for url in staff_page.outside_requests if not url.endswith("/logo-mini.svg")] == []


def test_docs_send_a_visitor_who_is_not_logged_in_to_the_staff_login(browser_page, live_server):
    browser_page.goto(f"{live_server.url}/api/docs/")
    assert "/admin/login/" in browser_page.url and "next=/api/docs/" in browser_page.url
    assert browser_page.locator("input[name=username]").is_visible()
