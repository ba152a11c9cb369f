"""End to end through the real python-telegram-bot application and a fake Bot API server.

Both sides are real HTTP on loopback: the fake Telegram server validates like Telegram
(HTML entities, 4096 characters, 64-byte callback data) and the fake LLM speaks the OpenAI
protocol, so the real client libraries, encodings and error paths run.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from bot.models import CrisisAlert, OutboundMessage, ProcessedUpdate, UserSession
from bot.services.sessions import session_history
from profiles.models import TelegramUser
from testkit.bot_runner import PollingBot

# Transactional: the bot works in other threads and processes, which must see committed data.
pytestmark = pytest.mark.django_db(transaction=True)

CHAT = 4242
ANALYSIS = {"stage": 1, "confidence": 0.2, "evidence": "", "insights": [], "breakthroughs": [],
            "avoidance": "", "contradiction": ""}


@pytest.fixture
def fake_llm(fake_llm):
    """Background stage analysis gets its own answer, so tests script only the conversation."""
    fake_llm.route("Проанализируй разговор", ANALYSIS)
    return fake_llm


def persona_prompts(fake_llm):
    return [p for p in fake_llm.prompts() if "Проанализируй разговор" not in p]
ROOT = Path(__file__).resolve().parents[2]


def texts(fake, chat=CHAT):
    return [m["text"] for m in fake.sent_messages(chat)]


def converse(fake, update, count, chat=CHAT, timeout=10):
    before = len(fake.sent_messages(chat))
    fake.push_update(update)
    return fake.wait_for_messages(before + count, chat_id=chat, timeout=timeout)[before:]


def start_and_consent(fake, chat=CHAT):
    out = converse(fake, fake.message_update(chat, "/start"), 1, chat)
    keyboard = json.loads(out[0]["reply_markup"]) if isinstance(out[0]["reply_markup"], str) else out[0][
        "reply_markup"]
    first = keyboard["inline_keyboard"][0][0]
    assert first["callback_data"] == "c:y"
    return converse(fake, fake.callback_update(chat, first["callback_data"]), 2, chat)


def rejected(fake):
    """Calls the Bot API refused (getUpdates may see a 409 when polling stops: not a send)."""
    return [(c.method, c.status, c.response) for c in fake.calls if c.status != 200 and c.method != "getUpdates"]


def markup(message):
    value = message.get("reply_markup")
    return json.loads(value) if isinstance(value, str) else value


def test_start_consent_first_question_and_a_turn_with_history(fake_telegram, fake_llm):
    fake_llm.enqueue({"reply": "Что держит тебя на месте?", "quick_replies": ["Страх", "Привычка"]})
    with PollingBot(fake_telegram):
        out = start_and_consent(fake_telegram)
        assert out[-1]["text"].endswith("?")
        assert markup(out[0])["keyboard"][0][0]["text"] == "📊 Моя сессия"
        out = converse(fake_telegram, fake_telegram.message_update(CHAT, "Я хочу сменить профессию"), 1)
        assert out[0]["text"] == "Что держит тебя на месте?"
        buttons = markup(out[0])["inline_keyboard"]
        assert [b[0]["text"] for b in buttons] == ["Страх", "Привычка"]

        converse(fake_telegram, fake_telegram.callback_update(CHAT, buttons[0][0]["callback_data"]), 1)
    prompt = persona_prompts(fake_llm)[-1]
    assert "Я хочу сменить профессию" in prompt and "<<<MEMBER>>>\nСтрах\n<<<END>>>" in prompt
    assert "Аня" not in prompt and str(CHAT) not in prompt
    # Nothing the bot sent was rejected by the Bot API.
    assert rejected(fake_telegram) == []


def test_odd_input_gets_friendly_answers(fake_telegram, fake_llm):
    fake_llm.enqueue({"reply": "Я вижу: <u>тег</u> и & — это просто символы.", "quick_replies": []},
                     {"reply": "Длинно! " * 1200, "quick_replies": ["Да"]})
    with PollingBot(fake_telegram):
        start_and_consent(fake_telegram)
        assert "текстом" in converse(fake_telegram, fake_telegram.sticker_update(CHAT), 1)[0]["text"]
        assert "текстом" in converse(fake_telegram, fake_telegram.photo_update(CHAT), 1)[0]["text"]
        assert converse(fake_telegram, fake_telegram.edited_message_update(CHAT, "исправила"), 1)[0]["text"]
        out = converse(fake_telegram, fake_telegram.message_update(CHAT, "<b>не жирный</b> & точка"), 1)
        assert out[0]["text"] == "Я вижу: тег и &amp; — это просто символы."
        out = converse(fake_telegram, fake_telegram.message_update(CHAT, "я" * 10_000), 3, timeout=15)
        assert len(out) >= 3
        assert "я" * 4000 in persona_prompts(fake_llm)[-1]
        unknown = converse(fake_telegram, fake_telegram.callback_update(CHAT, "forged:data"), 1)
        assert unknown[0]["text"]
    assert rejected(fake_telegram) == []


def test_llm_returning_500s_falls_back_to_a_template(fake_telegram, fake_llm, settings):
    settings.LLM_TOTAL_BUDGET = 1.5
    with PollingBot(fake_telegram):
        start_and_consent(fake_telegram)
        fake_llm.responder = lambda body: 500
        out = converse(fake_telegram, fake_telegram.message_update(CHAT, "Привет, Наташа"), 1)
    assert out[0]["text"]
    assert len(fake_llm.requests) >= 2


def test_duplicate_update_id_gets_one_reply(fake_telegram, fake_llm):
    with PollingBot(fake_telegram):
        start_and_consent(fake_telegram)
        update = fake_telegram.message_update(CHAT, "Один раз")
        converse(fake_telegram, update, 1)
        before = len(fake_telegram.sent_messages(CHAT))
        fake_telegram.push_update(dict(update))  # Telegram delivers the same update again
        converse(fake_telegram, fake_telegram.message_update(CHAT, "Следующее"), 1)
    assert len(fake_telegram.sent_messages(CHAT)) == before + 1
    assert ProcessedUpdate.objects.filter(update_id=update["update_id"]).count() == 1


def test_crisis_phrase_support_flag_and_staff_alert_without_persona_call(fake_telegram, fake_llm, settings):
    settings.TELEGRAM_STAFF_CHAT_ID = 999
    with PollingBot(fake_telegram):
        start_and_consent(fake_telegram)
        calls = len(persona_prompts(fake_llm))
        out = converse(fake_telegram, fake_telegram.message_update(CHAT, "Я хочу покончить с собой"), 1)
        staff = fake_telegram.wait_for_messages(1, chat_id=999)
    assert "8-800-2000-122" in out[0]["text"]
    assert len(persona_prompts(fake_llm)) == calls
    member = TelegramUser.objects.get(telegram_id=CHAT)
    assert member.crisis_flag
    assert CrisisAlert.objects.filter(user=member).exists()
    assert "Кризисный сигнал" in staff[0]["text"] and "покончить" not in staff[0]["text"]
    assert OutboundMessage.objects.get(kind="crisis_alert").status == "sent"


def test_members_are_isolated_and_served_concurrently(fake_telegram, fake_llm):
    def slow_for_first(body):
        text = "\n".join(m["content"] for m in body["messages"])
        if "медленный вопрос" in text:
            time.sleep(2)
        return {"reply": "Ответ", "quick_replies": []}

    with PollingBot(fake_telegram):
        start_and_consent(fake_telegram, chat=1)
        start_and_consent(fake_telegram, chat=2)
        fake_llm.responder = slow_for_first
        fake_telegram.push_update(fake_telegram.message_update(1, "медленный вопрос про мой секрет"))
        started = time.monotonic()
        converse(fake_telegram, fake_telegram.message_update(2, "быстрый вопрос"), 1, chat=2)
        fast = time.monotonic() - started
        fake_telegram.wait_for_messages(3, chat_id=1, timeout=10)
    assert fast < 1.5  # member 2 did not wait behind member 1's slow answer
    second = next(p for p in persona_prompts(fake_llm) if "быстрый вопрос" in p)
    assert "мой секрет" not in second


def test_replies_share_the_applications_one_rate_limiter(fake_telegram, fake_llm, monkeypatch):
    """Building a limiter connects a Redis client and registers its scripts: once per application,
    never per reply."""
    from relove.core import ratelimit

    built = []
    original = ratelimit.RateLimiter.__init__

    def counting_init(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ratelimit.RateLimiter, "__init__", counting_init)
    with PollingBot(fake_telegram):
        for chat in (1, 2):
            start_and_consent(fake_telegram, chat=chat)
            converse(fake_telegram, fake_telegram.message_update(chat, "Мне трудно решиться"), 1, chat=chat)
    assert len(fake_telegram.sent_messages(1)) >= 4 and len(fake_telegram.sent_messages(2)) >= 4
    assert len(built) == 1


def test_blocked_member_is_marked(fake_telegram, fake_llm):
    with PollingBot(fake_telegram):
        start_and_consent(fake_telegram)
        fake_telegram.block(CHAT)
        fake_telegram.push_update(fake_telegram.message_update(CHAT, "Ты тут?"))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not TelegramUser.objects.get(telegram_id=CHAT).is_blocked:
            time.sleep(0.05)
    assert TelegramUser.objects.get(telegram_id=CHAT).is_blocked


# --- webhook -----------------------------------------------------------------------------

@pytest.fixture
def webhook(settings, fake_telegram):
    settings.TELEGRAM_WEBHOOK_SECRET = "s3cret-token"
    return "/telegram/webhook/"


def post(client, url, body, secret="s3cret-token"):
    headers = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret} if secret is not None else {}
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(url, data, content_type="application/json", **headers)


def test_webhook_rejects_missing_or_wrong_secret(client, webhook, fake_telegram):
    update = fake_telegram.message_update(CHAT, "/start")
    assert post(client, webhook, update, secret=None).status_code == 403
    assert post(client, webhook, update, secret="wrong").status_code == 403
    assert fake_telegram.sent_messages(CHAT) == []


def test_webhook_answers_malformed_bodies_without_a_5xx(client, webhook):
    for body in ["{not json", "[]", json.dumps({"update_id": "x"}), json.dumps({"no": "update"}), ""]:
        assert post(client, webhook, body).status_code == 400
    assert client.get(webhook).status_code == 405


def test_webhook_conversation_and_duplicate_delivery(client, webhook, fake_telegram, fake_llm):
    assert post(client, webhook, fake_telegram.message_update(CHAT, "/start")).status_code == 200
    assert post(client, webhook, fake_telegram.callback_update(CHAT, "c:y")).status_code == 200
    update = fake_telegram.message_update(CHAT, "Через вебхук")
    assert post(client, webhook, update).status_code == 200
    sent = len(fake_telegram.sent_messages(CHAT))
    assert post(client, webhook, update).status_code == 200  # redelivered: claimed already
    assert len(fake_telegram.sent_messages(CHAT)) == sent
    assert "Через вебхук" in persona_prompts(fake_llm)[-1]
    assert fake_telegram.sent_messages(CHAT)[-1]["text"]


def test_a_failing_update_gets_an_apology_and_the_bot_keeps_going(client, webhook, fake_telegram, fake_llm,
                                                                   settings):
    post(client, webhook, fake_telegram.message_update(CHAT, "/start"))
    post(client, webhook, fake_telegram.callback_update(CHAT, "c:y"))
    # A genuine failure inside the turn: the member's stored data cannot be decrypted (a value
    # written under a key this process does not have). Swapping the process's keys instead
    # would not fail: the member would simply not be found under the other key's digest.
    member_pk = TelegramUser.objects.get(telegram_id=CHAT).pk
    with connection.cursor() as cursor:
        cursor.execute("SELECT username FROM profiles_telegramuser WHERE id = %s", [member_pk])
        stored = cursor.fetchone()[0]
        foreign = Fernet(Fernet.generate_key()).encrypt(b"someone").decode()
        cursor.execute("UPDATE profiles_telegramuser SET username = %s WHERE id = %s", [foreign, member_pk])
    assert post(client, webhook, fake_telegram.message_update(CHAT, "привет")).status_code == 200
    assert "сбилось" in fake_telegram.sent_messages(CHAT)[-1]["text"]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE profiles_telegramuser SET username = %s WHERE id = %s", [stored, member_pk])
    post(client, webhook, fake_telegram.message_update(CHAT, "снова привет"))
    assert "снова привет" in persona_prompts(fake_llm)[-1]
    session = UserSession.objects.get(user__telegram_id=CHAT, status="active")
    assert [t["content"] for t in session_history(session) if t["role"] == "user"][-1] == "снова привет"


# --- a real process, restarted -------------------------------------------------------------

def _bot_env(fake_telegram, fake_llm):
    db = connection.settings_dict
    # relove.settings_test drops TELEGRAM_*/OPENAI_* from the environment, so the child reads these.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "relove.settings_test", "FAKE_TG_TOKEN": fake_telegram.token,
           "FAKE_TG_URL": fake_telegram.base_url, "FAKE_LLM_URL": fake_llm.base_url}
    if connection.vendor == "postgresql":
        env["DATABASE_URL"] = (f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
                               f"{db['NAME']}")
    else:
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    return env


def run_bot_process(fake_telegram, fake_llm):
    code = ("import os, sys; os.environ['DJANGO_SETTINGS_MODULE']='relove.settings_test'; import django; "
            "from django.conf import settings; django.setup(); "
            "settings.TELEGRAM_BOT_TOKEN=os.environ['FAKE_TG_TOKEN']; "
            "settings.TELEGRAM_API_BASE_URL=os.environ['FAKE_TG_URL']; "
            "settings.OPENAI_API_KEY='test-key'; settings.OPENAI_BASE_URL=os.environ['FAKE_LLM_URL']; "
            "settings.DATABASES['default']['NAME']=os.environ['BOT_DB_NAME']; "
            "from django.core.management import call_command; call_command('runbot')")
    env = _bot_env(fake_telegram, fake_llm)
    env["BOT_DB_NAME"] = connection.settings_dict["NAME"]
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_restarted_bot_process_continues_the_conversation(fake_telegram, fake_llm):
    fake_llm.enqueue({"reply": "Запомнила. Что дальше?", "quick_replies": []})
    process = run_bot_process(fake_telegram, fake_llm)
    try:
        start_and_consent(fake_telegram)
        converse(fake_telegram, fake_telegram.message_update(CHAT, "Моя цель — открыть студию"), 1)
    except AssertionError:
        process.kill()
        raise AssertionError(process.communicate(timeout=20)[0]) from None
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert "Bot stopped" in output

    process = run_bot_process(fake_telegram, fake_llm)
    try:
        converse(fake_telegram, fake_telegram.message_update(CHAT, "Я вернулась"), 1)
    except AssertionError:
        process.send_signal(signal.SIGTERM)
        raise AssertionError(process.communicate(timeout=20)[0]) from None
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    prompt = persona_prompts(fake_llm)[-1]
    assert "Моя цель — открыть студию" in prompt and "Запомнила. Что дальше?" in prompt
    assert UserSession.objects.filter(user__telegram_id=CHAT).count() == 1


# --- the webhook behind a real ASGI server ------------------------------------------------

def test_webhook_served_by_uvicorn(fake_telegram, fake_llm):
    """The production path: uvicorn → Django ASGI → lazily initialised bot application."""
    import socket
    import urllib.error
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = _bot_env(fake_telegram, fake_llm)
    env["BOT_DB_NAME"] = connection.settings_dict["NAME"]
    code = ("import os, sys, uvicorn; os.environ['DJANGO_SETTINGS_MODULE']='relove.settings_test'; import django; "
            "from django.conf import settings; django.setup(); "
            "settings.TELEGRAM_BOT_TOKEN=os.environ['FAKE_TG_TOKEN']; "
            "settings.TELEGRAM_API_BASE_URL=os.environ['FAKE_TG_URL']; settings.TELEGRAM_WEBHOOK_SECRET='uv-secret'; "
            "settings.OPENAI_API_KEY='test-key'; settings.OPENAI_BASE_URL=os.environ['FAKE_LLM_URL']; "
            "settings.DATABASES['default']['NAME']=os.environ['BOT_DB_NAME']; "
            "from relove.asgi import application; "
            f"uvicorn.run(application, host='127.0.0.1', port={port}, lifespan='off', log_level='warning')")
    server = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)

    def call(update, secret="uv-secret"):
        request = urllib.request.Request(f"http://127.0.0.1:{port}/telegram/webhook/", method="POST",
                                         data=json.dumps(update).encode(),
                                         headers={"Content-Type": "application/json",
                                                  "X-Telegram-Bot-Api-Secret-Token": secret})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, server.stdout.read()
                time.sleep(0.1)
        assert call(fake_telegram.message_update(CHAT, "/start"), secret="wrong") == 403
        assert call(fake_telegram.message_update(CHAT, "/start")) == 200
        assert call(fake_telegram.callback_update(CHAT, "c:y")) == 200
        assert call(fake_telegram.message_update(CHAT, "Через настоящий сервер")) == 200
    finally:
        server.terminate()
        server.communicate(timeout=20)
    assert "Через настоящий сервер" in persona_prompts(fake_llm)[-1]
    assert fake_telegram.sent_messages(CHAT)[0]["text"].startswith("Привет")
    assert rejected(fake_telegram) == []
