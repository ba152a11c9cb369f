"""Natasha on either LLM provider, end to end: the real bot application, the fake Bot API
(which refuses HTML Telegram would refuse) and a fake OpenAI or Anthropic server."""

import pytest

from bot.models import UserSession
from bot.services.sessions import session_history
from bot.tests.test_telegram_e2e import ANALYSIS, CHAT, converse, markup, rejected, start_and_consent
from testkit.bot_runner import PollingBot

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_anthropic_fake_answers_a_full_conversation_turn(fake_telegram, fake_anthropic, settings):
    settings.LLM_MODEL = "claude-test"
    fake_anthropic.route("Проанализируй разговор", ANALYSIS)
    fake_anthropic.enqueue({"reply": "Что держит тебя на месте?", "quick_replies": ["Страх", "Привычка"],
                            "risk": "none"})
    with PollingBot(fake_telegram):
        start_and_consent(fake_telegram)
        out = converse(fake_telegram, fake_telegram.message_update(CHAT, "Я хочу сменить профессию"), 1)
    assert out[0]["text"] == "Что держит тебя на месте?"
    assert [row[0]["text"] for row in markup(out[0])["inline_keyboard"]] == ["Страх", "Привычка"]
    turn = next(b for b in fake_anthropic.requests if "Проанализируй разговор" not in fake_anthropic.text_of(b))
    assert turn["model"] == "claude-test"
    assert "Наташ" in turn["system"] and turn["output_config"]["format"]["schema"]["required"] == [
        "reply", "quick_replies", "risk"]
    assert turn["messages"][0]["role"] == "user" and turn["messages"][-1]["role"] == "user"
    assert "Я хочу сменить профессию" in turn["messages"][-1]["content"]
    assert str(CHAT) not in fake_anthropic.text_of(turn)
    session = UserSession.objects.get(user__telegram_id=CHAT)
    assert [t["content"] for t in session_history(session)][-2:] == ["Я хочу сменить профессию",
                                                                      "Что держит тебя на месте?"]
    assert rejected(fake_telegram) == []
