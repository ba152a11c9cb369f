"""Safety end to end: the real bot application against the fake Bot API and fake OpenAI
servers on loopback, a restarted bot process, and staff alerts from concurrent workers."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from bot.models import CrisisAlert, OutboundMessage
from bot.safety.gate import Decision
from bot.services import safety
from bot.services.notify import outbound_deliver
from profiles.models import TelegramUser
from testkit.bot_runner import PollingBot
from testkit.concurrency import in_threads
from testkit.factories import TelegramUserFactory

from .test_telegram_e2e import CHAT, converse, persona_prompts, rejected, run_bot_process, start_and_consent

pytestmark = pytest.mark.django_db(transaction=True)
STAFF = 999
NO_KEYWORD_CRISIS = "кажется, я всем только мешаю. тихо уйду, и никто не заметит"


@pytest.fixture
def fake_llm(fake_llm):
    fake_llm.route("Проанализируй разговор", {"stage": 1, "confidence": 0.1, "evidence": "", "insights": [],
                                              "breakthroughs": [], "avoidance": "", "contradiction": ""})
    return fake_llm


def test_llm_judged_crisis_gets_helplines_and_no_persona_text(fake_telegram, fake_llm, settings):
    settings.TELEGRAM_STAFF_CHAT_ID = STAFF
    with PollingBot(fake_telegram):
        start_and_consent(fake_telegram)
        fake_llm.enqueue({"risk": "crisis", "reply": "А ты проверь, заметят ли. Что выберешь?",
                          "quick_replies": ["Проверю"]})
        out = converse(fake_telegram, fake_telegram.message_update(CHAT, NO_KEYWORD_CRISIS), 1)
        staff = fake_telegram.wait_for_messages(1, chat_id=STAFF)
    assert "8-800-2000-122" in out[0]["text"] and "+7 495 989-50-50" in out[0]["text"]
    assert "Что выберешь" not in str(fake_telegram.sent_messages(CHAT))
    assert "мешаю" not in staff[0]["text"] and "#" in staff[0]["text"]
    assert CrisisAlert.objects.get().detected_by == "llm"
    assert rejected(fake_telegram) == []


def test_llm_answering_500_leaves_the_offline_verdict(fake_telegram, fake_llm, settings):
    settings.LLM_TOTAL_BUDGET = 1.0
    with PollingBot(fake_telegram):
        start_and_consent(fake_telegram)
        fake_llm.responder = lambda body: 500
        out = converse(fake_telegram, fake_telegram.message_update(CHAT, "я наглоталась таблеток"), 1)
        idiom = converse(fake_telegram, fake_telegram.message_update(CHAT, "дедлайны убивают, умираю от смеха"), 1)
    assert "8-800-2000-122" in out[0]["text"]
    assert CrisisAlert.objects.get().acute
    assert "8-800-2000-122" not in idiom[0]["text"]  # crisis mode: a gentle template, not helplines again


def test_dark_idiom_gets_an_ordinary_reply(fake_telegram, fake_llm):
    with PollingBot(fake_telegram):
        start_and_consent(fake_telegram)
        fake_llm.enqueue({"risk": "none", "reply": "Смех — хороший знак. Что тебя так рассмешило?",
                          "quick_replies": []})
        out = converse(fake_telegram, fake_telegram.message_update(CHAT, "умираю от смеха, дедлайны убивают"), 1)
    assert out[0]["text"] == "Смех — хороший знак. Что тебя так рассмешило?"
    assert not TelegramUser.objects.get(telegram_id=CHAT).crisis_flag


def test_crisis_mode_persists_across_a_bot_restart(fake_telegram, fake_llm):
    process = run_bot_process(fake_telegram, fake_llm)
    try:
        start_and_consent(fake_telegram)
        out = converse(fake_telegram, fake_telegram.message_update(CHAT, "не хочу жить"), 1)
        assert "8-800-2000-122" in out[0]["text"]
    finally:
        process.terminate()
        process.communicate(timeout=20)
    fake_llm.enqueue({"risk": "none", "reply": "Я рядом. Как ты сейчас?", "quick_replies": []})
    process = run_bot_process(fake_telegram, fake_llm)
    try:
        out = converse(fake_telegram, fake_telegram.message_update(CHAT, "привет, я тут"), 1, timeout=20)
    finally:
        process.terminate()
        process.communicate(timeout=20)
    assert out[0]["text"] == "Я рядом. Как ты сейчас?"
    prompt = persona_prompts(fake_llm)[-1]
    assert "бережном режиме" in prompt and "Стиль на этом этапе" not in prompt
    assert TelegramUser.objects.get(telegram_id=CHAT).crisis_flag


@pytest.mark.postgres
def test_two_workers_send_the_staff_alert_exactly_once(fake_telegram, settings):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    settings.TELEGRAM_STAFF_CHAT_ID = STAFF
    settings.CELERY_TASK_ALWAYS_EAGER = False  # deliver by hand, from two workers at once
    member = TelegramUserFactory()
    # Two bot workers see two crisis messages of one member at the same moment.
    decision = Decision(True, detected_by="keywords", category="explicit", evidence=("x",))
    in_threads(2, lambda: safety.crisis_signal(user=TelegramUser.objects.get(pk=member.pk), text="…",
                                                decision=decision))
    assert CrisisAlert.objects.filter(user=member).count() == 1
    row = OutboundMessage.objects.get(kind="crisis_alert")
    # Two Celery workers got the delivery task (a redelivered message): one claims, one sends.
    results = in_threads(2, lambda: outbound_deliver(outbound_id=row.pk))
    assert sorted(str(r.next) if r else "not-claimed" for r in results) == ["not-claimed", "sent"]
    assert len(fake_telegram.sent_messages(STAFF)) == 1
    # Two beat runs find the alert unresolved after two hours: one re-alert, once.
    CrisisAlert.objects.filter(user=member).update(
        staff_alerted_at=timezone.now() - timedelta(hours=3))
    assert sorted(in_threads(2, safety.crisis_realert_due)) == [0, 1]
    realert = OutboundMessage.objects.exclude(pk=row.pk).get()
    assert realert.dedupe_key.endswith(":realert:2")
    in_threads(2, lambda: outbound_deliver(outbound_id=realert.pk))
    sent = fake_telegram.sent_messages(STAFF)
    assert len(sent) == 2 and "не разобран" in sent[1]["text"]
