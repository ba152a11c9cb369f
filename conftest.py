import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _clean_cache():
    """Each test starts with an empty cache (Redis in CI), so no state leaks between tests."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def superuser(db):
    from relove.testing.factories import SuperuserFactory

    return SuperuserFactory(username="root")


@pytest.fixture
def member(db):
    from relove.testing.factories import TelegramUserFactory

    return TelegramUserFactory()


@pytest.fixture
def fake_llm(settings):
    """A real OpenAI-compatible server on loopback; the product talks to it through `openai`."""
    from relove.testing.fake_llm import FakeLLM

    with FakeLLM() as llm:
        settings.OPENAI_API_KEY = "test-key"
        settings.OPENAI_BASE_URL = llm.base_url
        yield llm
