"""The LLM client against loopback fakes of both APIs: providers, structured-output modes,
the 400 downgrade, separate models, JSON parsing and the foreign-endpoint guard."""

import logging

import pytest

from relove import llm
from relove.tests.test_settings import run_settings

SCHEMA = llm.object_schema(reply=llm.STRING, quick_replies=llm.STRING_LIST)
ANSWER = {"reply": "Что для тебя сейчас важно?", "quick_replies": ["Страх"]}
ANSWER_TEXT = '{"reply": "Что для тебя сейчас важно?", "quick_replies": ["Страх"]}'
MESSAGES = [{"role": "system", "content": "Ты Наташа."}, {"role": "user", "content": "<<<MEMBER>>>\nПривет\n<<<END>>>"}]


def ask(**kwargs):
    return llm.complete_json(MESSAGES, validate=lambda data: data, schema=SCHEMA, **kwargs)


def warnings(caplog, needle):
    return [r for r in caplog.records if r.levelno >= logging.WARNING and needle in r.getMessage()]


# --- OpenAI-compatible ------------------------------------------------------------------------

def test_openai_default_is_json_mode_with_the_schema_in_words(fake_llm, settings):
    fake_llm.enqueue(ANSWER)
    assert ask() == ANSWER
    body = fake_llm.requests[-1]
    assert body["response_format"] == {"type": "json_object"}
    system = body["messages"][0]["content"]
    assert system.startswith("Ты Наташа.") and "JSON" in system and '"quick_replies"' in system


def test_openai_json_schema_sends_the_schema(fake_llm, settings):
    settings.LLM_STRUCTURED_OUTPUT = "json_schema"
    fake_llm.enqueue(ANSWER)
    assert ask(purpose="reply") == ANSWER
    fmt = fake_llm.requests[-1]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == SCHEMA
    assert fmt["json_schema"]["name"] == "reply"


def test_a_server_refusing_json_mode_is_asked_in_words_and_logged_once(fake_llm, settings, caplog):
    """Today's failure: a 400 for response_format turned the LLM off for everyone, silently."""
    fake_llm.refuse("response_format")
    fake_llm.enqueue(ANSWER, ANSWER, ANSWER)
    with caplog.at_level(logging.WARNING):
        results = [ask(), ask(), ask()]
    assert results == [ANSWER, ANSWER, ANSWER]
    sent = ["response_format" in body for body in fake_llm.requests]
    assert sent == [True, False, False, False]  # refused once, then asked in words from then on
    refused = warnings(caplog, "refused json_object output")
    assert len(refused) == 1 and "response_format: this server does not support it" in refused[0].getMessage()
    assert "JSON" in fake_llm.requests[-1]["messages"][0]["content"]


def test_json_schema_steps_down_through_json_object_to_prompt(fake_llm, settings):
    settings.LLM_STRUCTURED_OUTPUT = "json_schema"
    fake_llm.refuse("response_format")
    fake_llm.enqueue(f"Вот ответ:\n```json\n{{\"reply\": \"{ANSWER['reply']}\", \"quick_replies\": [\"Страх\"]}}\n```")
    assert ask() == ANSWER
    kinds = [body.get("response_format", {}).get("type") for body in fake_llm.requests]
    assert kinds == ["json_schema", "json_object", None]


def test_another_400_fails_only_its_call_and_is_logged_once(fake_llm, settings, caplog):
    settings.LLM_STRUCTURED_OUTPUT = "prompt"
    fake_llm.enqueue(400, 400, ANSWER)
    with caplog.at_level(logging.WARNING):
        assert ask() is None
        assert ask() is None
        assert ask() == ANSWER  # the LLM is not switched off for anyone
    assert len(fake_llm.requests) == 3  # a 400 is not retried
    assert len(warnings(caplog, "refused the request (400: fake status 400)")) == 1


def test_a_400_that_every_mode_gets_is_not_blamed_on_the_mode(fake_llm, settings):
    fake_llm.enqueue(400, 400, ANSWER)
    assert ask() is None
    assert ask() == ANSWER
    assert "response_format" in fake_llm.requests[-1]  # still asks in JSON mode


def test_plain_text_calls_ask_for_no_json(fake_llm):
    fake_llm.enqueue("Краткая сводка.")
    assert llm.complete(MESSAGES, json_mode=False) == "Краткая сводка."
    body = fake_llm.requests[-1]
    assert "response_format" not in body and body["messages"][0]["content"] == "Ты Наташа."


def test_odd_answers_of_a_compatible_server_never_reach_the_member_as_text(fake_llm, settings, caplog):
    """The answer is read from its bytes (no SDK model): no choice, a content that is not text and a
    body that is not JSON are handled as the SDK's model would have them."""
    settings.LLM_TOTAL_BUDGET = 10
    fake_llm.enqueue(b'{"choices": []}', b'{"choices": [{"message": {"content": [{"type": "text"}]}}]}', ANSWER)
    assert ask() == ANSWER  # two empty completions, then the answer
    assert len(fake_llm.requests) == 3
    assert len(warnings(caplog, "empty completion")) == 2

    fake_llm.enqueue(b"<html>502 Bad Gateway</html>")
    assert llm.complete(MESSAGES, json_mode=False) is None  # not retried: the server is not speaking the API
    assert len(fake_llm.requests) == 4
    assert warnings(caplog, "permanent error JSONDecodeError")


def test_analysis_uses_its_own_model(fake_llm, settings):
    settings.LLM_MODEL, settings.LLM_ANALYSIS_MODEL = "chat-small", "analysis-large"
    ask()
    ask(analysis=True)
    assert [body["model"] for body in fake_llm.requests] == ["chat-small", "analysis-large"]


def test_stage_analysis_and_profiles_ask_the_analysis_model(fake_llm, settings, member):
    from journeys.analysis import journey_analyse
    from journeys.services import journey_start
    from profiles.rotation import profile_rotate_member
    from testkit.factories import ActivityLogFactory

    settings.LLM_MODEL, settings.LLM_ANALYSIS_MODEL = "chat-small", "analysis-large"
    journey_start(user=member)
    ActivityLogFactory(user=member, kind="message_in", content="Мне страшно, но я решила")
    journey_analyse(user_id=member.pk)
    profile_rotate_member(user_id=member.pk, force=True)
    assert {body["model"] for body in fake_llm.requests} == {"analysis-large"}
    assert len(fake_llm.requests) == 2


# --- Anthropic --------------------------------------------------------------------------------

def test_anthropic_gets_system_apart_and_the_schema_as_output_config(fake_anthropic):
    fake_anthropic.enqueue(ANSWER)
    assert ask() == ANSWER
    body = fake_anthropic.requests[-1]
    assert body["system"] == "Ты Наташа."
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}


def test_anthropic_turns_alternate_and_end_with_the_member(fake_anthropic):
    messages = [{"role": "system", "content": "Ты Наташа."}, {"role": "system", "content": "Причина: тишина"},
                {"role": "assistant", "content": "Как ты?"}, {"role": "user", "content": "a"},
                {"role": "user", "content": "b"}, {"role": "assistant", "content": "Слышу."}]
    fake_anthropic.enqueue(ANSWER)
    assert llm.complete_json(messages, validate=lambda d: d, schema=SCHEMA) == ANSWER
    body = fake_anthropic.requests[-1]
    assert body["system"] == "Ты Наташа.\n\nПричина: тишина"
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    assert body["messages"][2]["content"] == "a\n\nb"


def test_anthropic_refusing_structured_output_is_asked_in_words(fake_anthropic, caplog):
    fake_anthropic.refuse("output_config")
    fake_anthropic.enqueue(f"```json\n{ANSWER_TEXT}\n```", ANSWER)
    with caplog.at_level(logging.WARNING):
        assert ask() == ANSWER
        assert ask() == ANSWER
    assert ["output_config" in body for body in fake_anthropic.requests] == [True, False, False]
    assert "JSON" in fake_anthropic.requests[-1]["system"]
    assert len(warnings(caplog, "anthropic refused json_schema output")) == 1


def test_anthropic_prompt_mode_and_retries_on_overload(fake_anthropic, settings):
    settings.LLM_STRUCTURED_OUTPUT = "prompt"
    fake_anthropic.enqueue(529, 500, f"Конечно! {ANSWER_TEXT}")
    assert ask() == ANSWER
    assert len(fake_anthropic.requests) == 3
    assert all("output_config" not in body for body in fake_anthropic.requests)


def test_anthropic_down_gives_up_within_the_budget(fake_anthropic, settings):
    settings.LLM_TOTAL_BUDGET = 1.0
    fake_anthropic.responder = lambda body: 529
    assert ask() is None
    assert len(fake_anthropic.requests) >= 1


def test_anthropic_analysis_model(fake_anthropic, settings):
    settings.LLM_MODEL, settings.LLM_ANALYSIS_MODEL = "claude-small", "claude-large"
    ask()
    ask(analysis=True)
    assert [body["model"] for body in fake_anthropic.requests] == ["claude-small", "claude-large"]


# --- parsing ----------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [
    '{"a": 1}',
    '```json\n{"a": 1}\n```',
    '```\n{"a": 1}\n```',
    'Вот JSON: {"a": 1} — готово {не json}',
    'Мысли {вслух} и потом {"a": 1}',
])
def test_json_is_found_in_prose_and_fences(content):
    assert llm.parse_json_object(content) == {"a": 1}


@pytest.mark.parametrize("content", [None, "", "просто текст", "[1, 2]", "{" * 5000])
def test_no_object_means_none(content):
    assert llm.parse_json_object(content) is None


# --- the foreign-endpoint guard ---------------------------------------------------------------

def test_anthropic_key_without_endpoint_refuses_to_start_unless_foreign_is_allowed(tmp_path):
    env = {"LLM_PROVIDER": "anthropic", "ANTHROPIC_API_KEY": "sk-ant-test"}
    refused = run_settings(env, tmp_path)
    assert refused.returncode != 0 and "ANTHROPIC_BASE_URL" in refused.stderr and "152-FZ" in refused.stderr

    allowed = run_settings({**env, "LLM_ALLOW_FOREIGN_ENDPOINT": "true"}, tmp_path)
    assert allowed.returncode == 0, allowed.stderr
    assert "LLM endpoint host: api.anthropic.com (foreign endpoint allowed" in allowed.stderr

    local = run_settings({**env, "ANTHROPIC_BASE_URL": "https://claude.relove.ru"}, tmp_path)
    assert local.returncode == 0, local.stderr
    assert "LLM endpoint host: claude.relove.ru" in local.stderr and "sk-ant-test" not in local.stderr


@pytest.mark.parametrize(("env", "error"), [
    ({"LLM_PROVIDER": "gemini"}, "LLM_PROVIDER must be openai or anthropic"),
    ({"LLM_STRUCTURED_OUTPUT": "xml"}, "LLM_STRUCTURED_OUTPUT must be"),
    ({"LLM_PROVIDER": "anthropic", "LLM_STRUCTURED_OUTPUT": "json_object"}, "json_object is OpenAI's JSON mode"),
])
def test_wrong_llm_settings_refuse_to_start(tmp_path, env, error):
    out = run_settings(env, tmp_path)
    assert out.returncode != 0 and error in out.stderr
