from profiles.tests.conftest import fake_llm, llm_server  # noqa: F401 — one fake LLM server per module
