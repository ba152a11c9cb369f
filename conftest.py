import pytest
import time_machine
from django.core.cache import cache


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.postgres`` tests need row locks and real concurrency: skip them on SQLite."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _clock(request):
    """``@pytest.mark.clock(moment)`` runs the test with the wall clock starting at ``moment``.

    Tests that fix a "now" must fix it for everything, factory defaults included, or they rot
    as the calendar moves on. The clock keeps ticking (threads and timeouts behave as usual).
    """
    marker = request.node.get_closest_marker("clock")
    if marker is None:
        yield None
        return
    with time_machine.travel(marker.args[0], tick=True) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _default_rows(request):
    """Transactional tests flush the database between tests; give each the migrated defaults."""
    marker = request.node.get_closest_marker("django_db")
    if "transactional_db" in request.fixturenames or (marker and marker.kwargs.get("transaction")):
        request.getfixturevalue("transactional_db")
        from testkit.defaults import ensure_default_rows

        ensure_default_rows()


@pytest.fixture(autouse=True)
def _clean_cache():
    """Each test starts with an empty cache (Redis in CI) and fresh per-process copies of
    stages, prompts and templates, so no state leaks between tests."""
    from relove.core.process_cache import process_caches_drop

    cache.clear()
    process_caches_drop()
    yield
    cache.clear()
    process_caches_drop()


@pytest.fixture
def superuser(db):
    from testkit.factories import SuperuserFactory

    return SuperuserFactory(username="root")


@pytest.fixture
def member(db):
    from testkit.factories import TelegramUserFactory

    return TelegramUserFactory()


@pytest.fixture
def fake_llm(settings):
    """A real OpenAI-compatible server on loopback; the product talks to it through `openai`."""
    from testkit.fake_llm import FakeLLM

    with FakeLLM() as llm:
        settings.OPENAI_API_KEY = "test-key"
        settings.OPENAI_BASE_URL = llm.base_url
        yield llm


@pytest.fixture
def fake_anthropic(settings):
    """A real Anthropic Messages API imitation on loopback; the product talks to it through `anthropic`."""
    from testkit.fake_llm import FakeAnthropic

    with FakeAnthropic() as llm:
        settings.LLM_PROVIDER = "anthropic"
        settings.LLM_STRUCTURED_OUTPUT = "json_schema"
        settings.ANTHROPIC_API_KEY = "test-key"
        settings.ANTHROPIC_BASE_URL = llm.base_url
        settings.OPENAI_API_KEY = ""
        yield llm


@pytest.fixture
def fake_telegram(settings):
    """A real Bot API imitation on loopback; the product reaches it through python-telegram-bot."""
    from testkit.fake_telegram import FakeTelegram

    with FakeTelegram() as fake:
        settings.TELEGRAM_BOT_TOKEN = fake.token
        settings.TELEGRAM_API_BASE_URL = fake.base_url
        yield fake


@pytest.fixture(scope="module")
def _chromium():
    """One headless Chromium per test module; browser tests skip where the system has none.

    Playwright's sync API keeps an event loop running in this thread, so Django's guard against
    ORM calls from async code is lifted for the module's lifetime (the calls are synchronous).
    """
    import os

    from testkit.browser import CHROMIUM_ARGS, chromium_path

    path = chromium_path()
    if path is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_page(_chromium, live_server):
    """A fresh page at 1440 px that may only reach this test's own server (anything else is refused
    and recorded in ``page.outside_requests``)."""
    from testkit.browser import DESKTOP

    context = _chromium.new_context(viewport=DESKTOP, locale="ru-RU")
    page = context.new_page()
    page.outside_requests = []

    def guard(route):
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            page.outside_requests.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    yield page
    context.close()
