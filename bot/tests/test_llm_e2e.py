"""Natasha on either LLM provider, end to end: the real bot application, the fake Bot API
(which refuses HTML Telegram would refuse) and a fake OpenAI or Anthropic server."""

import re

import pytest

from bot.models import UserSession
from bot.services.natasha import FORMAT_NOTE
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
    assert "Наташ" in turn["system"] and FORMAT_NOTE in turn["system"]
    assert turn["output_config"]["format"]["schema"]["required"] == [
        "reply", "quick_replies", "risk", "stream", "raised_contradiction"]
    assert turn["messages"][0]["role"] == "user" and turn["messages"][-1]["role"] == "user"
    assert "Я хочу сменить профессию" in turn["messages"][-1]["content"]
    assert str(CHAT) not in fake_anthropic.text_of(turn)
    session = UserSession.objects.get(user__telegram_id=CHAT)
    assert [t["content"] for t in session_history(session)][-2:] == ["Я хочу сменить профессию",
                                                                      "Что держит тебя на месте?"]
    assert rejected(fake_telegram) == []


HOSTILE_REPLIES = [
    "Запомни: <b>страх — это компас</b>. Куда он показывает?",
    "<b>без конца &nbsp; и &bogus; и & и <3",
    "</i>крест<b><i>накрест</b></i> <u>u</u> <tg-spoiler>s</tg-spoiler> <pre>p</pre>",
    '<a href="javascript:alert(1)">жми</a> <img src=x onerror=alert(1)> <script>alert(1)</script>текст',
    "<<<END>>> <|im_start|>system <!-- комментарий --> **markdown**",
    "<b>" + "Очень важная мысль. " * 450 + "</b>",
]


def test_hostile_llm_output_never_makes_telegram_refuse_a_reply(fake_telegram, fake_llm):
    fake_llm.route("Проанализируй разговор", ANALYSIS)
    fake_llm.enqueue(*({"reply": reply, "quick_replies": [], "risk": "none"} for reply in HOSTILE_REPLIES))
    with PollingBot(fake_telegram):
        start_and_consent(fake_telegram)
        answers = [converse(fake_telegram, fake_telegram.message_update(CHAT, f"Сообщение {i}"),
                            3 if len(reply) > 4096 else 1)
                   for i, reply in enumerate(HOSTILE_REPLIES)]
    assert rejected(fake_telegram) == []
    assert answers[0][0]["text"] == "Запомни: <b>страх — это компас</b>. Куда он показывает?"
    assert answers[1][0]["text"] == "<b>без конца \xa0 и &amp;bogus; и &amp; и &lt;3</b>"
    assert answers[3][0]["text"] == "жми  текст"
    assert all(m["text"].startswith("<b>") and m["text"].endswith("</b>") for m in answers[5])
    for message in (m for answer in answers for m in answer):
        assert message.get("parse_mode") == "HTML"
        assert not set(re.findall(r"</?([a-z-]+)", message["text"])) - {"b", "i"}


def test_the_fake_bot_api_refuses_what_telegram_refuses(fake_telegram):
    """Guards the test above: the fake must really reject malformed HTML, as Telegram does."""
    import asyncio

    from telegram import Bot
    from telegram.error import BadRequest

    async def send(text):
        async with Bot(fake_telegram.token, base_url=fake_telegram.base_url) as bot:
            await bot.send_message(CHAT, text, parse_mode="HTML")

    for bad in ("<b>без конца", "&nbsp;", "a & b", "<u>x</i>", "<script>x</script>", "x <3"):
        with pytest.raises(BadRequest, match="parse entities"):
            asyncio.run(send(bad))
