import pytest

from testkit.fake_llm import FakeLLM


@pytest.fixture(scope="module")
def llm_server():
    """One loopback OpenAI-compatible server per test module (shutting one down costs ~0.5 s)."""
    with FakeLLM() as llm:
        yield llm


@pytest.fixture
def fake_llm(llm_server, settings):
    """The module's fake LLM, emptied for each test, with the product pointed at it."""
    llm_server.reset()
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_BASE_URL = llm_server.base_url
    yield llm_server
    llm_server.reset()
