import pytest

from triggers.models import ProactivityConfig


@pytest.fixture
def tg(fake_telegram, settings):
    """The fake Bot API with the client-side rate limits lifted (tests need no real waiting)."""
    settings.TELEGRAM_GLOBAL_RATE = 10_000
    settings.TELEGRAM_PER_CHAT_INTERVAL = 0
    return fake_telegram


@pytest.fixture
def config(db):
    return ProactivityConfig.load()


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.postgres`` tests need row locks and real concurrency: skip on SQLite."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if "postgres" in item.keywords and str(item.path).startswith(here):
            item.add_marker(skip)
