import pytest
from django.db import connection

from testkit.fake_telegram import FakeTelegram


@pytest.fixture
def fake_telegram(settings):
    """A fake Bot API with no rate limit of its own; the product's limiter is set high for speed."""
    with FakeTelegram() as fake:
        settings.TELEGRAM_BOT_TOKEN = fake.token
        settings.TELEGRAM_API_BASE_URL = fake.base_url
        settings.TELEGRAM_GLOBAL_RATE = 1000.0
        settings.TELEGRAM_PER_CHAT_INTERVAL = 0.05  # retries to one chat need not wait a second here
        yield fake


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks, several connections)")
