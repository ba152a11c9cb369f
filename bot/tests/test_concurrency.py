"""Turns in flight are bounded by BOT_MAX_CONCURRENT_TURNS, not by a handful of threads.

The LLM is slow (2 s) and the turns of 30 members overlap while one member's messages are
answered strictly in order. Real bot application, fake Bot API and fake LLM on loopback.
"""

import re
import threading
import time

import pytest
from django.db import connections

from testkit.bot_runner import PollingBot
from testkit.factories import TelegramUserFactory

pytestmark = pytest.mark.django_db(transaction=True)

LLM_DELAY = 2.0
MEMBER_TEXT = re.compile(r"<<<MEMBER>>>\n(.*?)\n<<<END>>>", re.DOTALL)
ANALYSIS = {"stage": 1, "confidence": 0.2, "evidence": "", "insights": [], "breakthroughs": [],
            "avoidance": "", "contradiction": ""}


def slow_echo(body):
    """Answer after LLM_DELAY with the member's last message quoted."""
    time.sleep(LLM_DELAY)
    said = MEMBER_TEXT.findall(body["messages"][-1]["content"])
    return {"reply": f"Ответ на: {said[-1] if said else '?'}", "quick_replies": []}


def test_thirty_members_overlap_while_one_members_messages_stay_in_order(fake_telegram, fake_llm, settings):
    settings.LLM_TIMEOUT, settings.LLM_TOTAL_BUDGET = 10.0, 15.0  # the test settings time out at 2 s
    settings.BOT_DB_THREADS = 4  # far fewer threads than turns in flight: the LLM wait holds none
    fake_llm.route("Проанализируй разговор", ANALYSIS)
    fake_llm.responder = slow_echo
    others = [TelegramUserFactory(telegram_id=7000 + i) for i in range(29)]
    ordered = TelegramUserFactory(telegram_id=8000)
    with PollingBot(fake_telegram):
        for member in others:
            fake_telegram.push_update(fake_telegram.message_update(member.telegram_id, f"я {member.telegram_id}"))
        for word in ("раз", "два", "три"):
            fake_telegram.push_update(fake_telegram.message_update(ordered.telegram_id, word))
        for member in others:
            fake_telegram.wait_for_messages(1, chat_id=member.telegram_id, timeout=30)
        answers = fake_telegram.wait_for_messages(3, chat_id=ordered.telegram_id, timeout=30)
    assert fake_llm.max_in_flight >= 25
    assert [m["text"] for m in answers] == ["Ответ на: раз", "Ответ на: два", "Ответ на: три"]
    for member in others:
        assert fake_telegram.sent_messages(member.telegram_id)[0]["text"] == f"Ответ на: я {member.telegram_id}"
    # Each of the ordered member's turns saw the previous one: the second prompt holds the first reply.
    prompts = [p for p in fake_llm.prompts() if "Ответ на: раз" in p and "два" in p]
    assert prompts


def test_the_sync_entry_point_still_answers_with_the_llm(fake_llm, member):
    """manage.py chat, Celery and tests use orchestrator.handle: the LLM is waited for in-thread."""
    from bot.services import orchestrator
    from bot.services.members import TelegramIdentity

    fake_llm.route("Проанализируй разговор", ANALYSIS)
    fake_llm.enqueue({"reply": "Синхронно", "quick_replies": ["Да"]})
    identity = TelegramIdentity(telegram_id=member.telegram_id, username="", first_name="", last_name="",
                                language_code="ru")
    done = []

    def chat():
        try:
            done.append(orchestrator.handle(orchestrator.Incoming(identity, orchestrator.Kind.TEXT, text="привет")))
        finally:
            connections.close_all()

    thread = threading.Thread(target=chat)
    thread.start()
    thread.join(15)
    assert done and done[0][0].text == "Синхронно"
