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
