"""The dashboard's system status is fed by the parts themselves: Bot API answers, webhook hits,
trigger scans and LLM calls each record a heartbeat (through the real clients and fakes)."""

import asyncio
import json
import time

import pytest
from telegram import Bot
from telegram.error import InvalidToken

from bot.outbound.watched_request import WatchedRequest
from relove.core import liveness
from relove.core.models import Heartbeat
from relove.llm import LLMCall, call_sync

# Writes from an event loop go to another thread: the rows must be visible to it.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh(settings):
    settings.HEARTBEATS_FROM_EVENT_LOOPS = True  # off elsewhere in tests (relove/settings_test.py)
    Heartbeat.objects.all().delete()
    liveness.forget_throttle()
    yield
    liveness.forget_throttle()


def _row(name, *, ok=None, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = Heartbeat.objects.filter(name=name).first()
        if row is not None and (ok is None or row.ok is ok):
            return row
        time.sleep(0.05)
    raise AssertionError(f"no heartbeat {name} (ok={ok})")


def _bot(fake):
    return Bot(fake.token, base_url=fake.base_url, request=WatchedRequest(), get_updates_request=WatchedRequest())


def test_an_accepted_token_and_a_poll_are_recorded(fake_telegram):
    async def run():
        async with _bot(fake_telegram) as bot:  # initialize() calls getMe
            await bot.get_updates(timeout=0)

    asyncio.run(run())
    assert _row(liveness.TELEGRAM, ok=True).detail == "Telegram принимает токен"
    assert _row(liveness.BOT).detail == "опрос Telegram (getUpdates)"


def test_a_rejected_token_turns_the_status_red_at_once(fake_telegram, settings):
    settings.HEARTBEAT_SECONDS = 3600  # a change of state is written anyway
    asyncio.run(_bot(fake_telegram).get_me())
    _row(liveness.TELEGRAM, ok=True)
    fake_telegram.fail_next("sendMessage", status=401)

    async def send():
        with pytest.raises(InvalidToken):
            await _bot(fake_telegram).send_message(1, "привет")

    asyncio.run(send())
    assert _row(liveness.TELEGRAM, ok=False).detail == "Telegram ответил 401: токен не принят"
    assert liveness.snapshot()[liveness.TELEGRAM].alive is False


def test_a_webhook_hit_is_the_bots_sign_of_life(client, settings, fake_telegram):
    settings.TELEGRAM_WEBHOOK_SECRET = "s3cret-token"
    body = json.dumps({"update_id": 1})
    client.post("/telegram/webhook/", body, content_type="application/json",
                HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="s3cret-token")
    assert _row(liveness.BOT).detail == "вебхук Telegram"


def test_a_webhook_call_with_a_wrong_secret_is_not(client, settings):
    settings.TELEGRAM_WEBHOOK_SECRET = "s3cret-token"
    client.post("/telegram/webhook/", "{}", content_type="application/json",
                HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="wrong")
    time.sleep(0.3)
    assert not Heartbeat.objects.filter(name=liveness.BOT).exists()


def test_each_trigger_scan_is_recorded_with_what_it_did():
    from triggers.tasks import scan_triggers

    scan_triggers()
    row = _row(liveness.TRIGGER_SCAN)
    assert row.ok and row.detail.startswith(("отправлено 0", "проактивность выключена"))


def test_llm_answers_and_failures_are_recorded(fake_llm, settings):
    settings.LLM_MAX_ATTEMPTS = 1
    call = LLMCall(messages=[{"role": "user", "content": "привет"}], json_mode=False)
    assert call_sync(call)
    assert _row(liveness.LLM, ok=True).detail == "отвечает"
    fake_llm.enqueue(401)
    assert call_sync(call) is None
    assert _row(liveness.LLM, ok=False).detail == "языковая модель не приняла ключ — проверьте OPENAI_API_KEY"


def test_async_llm_calls_record_without_waiting_for_the_database(fake_llm):
    from relove.llm import call_async

    call = LLMCall(messages=[{"role": "user", "content": "привет"}], json_mode=False)
    assert asyncio.run(call_async(call))
    assert _row(liveness.LLM, ok=True).detail == "отвечает"
