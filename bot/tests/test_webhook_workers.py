"""Webhook across processes: the image's command (two uvicorn workers) gets one member's burst
in parallel; every update is handled once and the member is answered in update_id order.
Long polling refuses a second instance for the same token."""

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from bot.models import ProcessedUpdate
from bot.telegram.instance import polling_claim
from relove.tests.test_image_command import SECRET, image_env
from testkit.factories import TelegramUserFactory
from testkit.image_server import ImageServer

pytestmark = pytest.mark.django_db(transaction=True)

MEMBER_TEXT = re.compile(r"<<<MEMBER>>>\n(.*?)\n<<<END>>>", re.DOTALL)


def echo_slowly(body):
    time.sleep(0.3)
    said = MEMBER_TEXT.findall(body["messages"][-1]["content"])
    return {"reply": f"Ответ на: {said[-1] if said else '?'}", "quick_replies": []}


@pytest.mark.skipif(not settings.REDIS_URL, reason="ordering across processes needs Redis (as in production)")
def test_two_workers_answer_one_members_burst_once_each_in_order(fake_telegram, fake_llm):
    member = TelegramUserFactory(telegram_id=6161)
    fake_llm.responder = echo_slowly
    burst = [fake_telegram.message_update(member.telegram_id, f"сообщение {i}") for i in range(6)]
    # Parallel arrivals are put in update_id order if they reach the workers within the grace;
    # on a loaded CI machine the twelve requests of this burst spread over more than 0.2 s.
    env = {**image_env(fake_telegram, fake_llm), "TELEGRAM_ORDER_GRACE_SECONDS": "0.6"}
    with ImageServer(env) as server:
        def post(update):
            return server.request("/telegram/webhook/", data=json.dumps(update).encode(),
                                  headers={"Content-Type": "application/json",
                                           "X-Telegram-Bot-Api-Secret-Token": SECRET})[0]

        with ThreadPoolExecutor(len(burst) * 2) as pool:
            # Every update twice, all at once: a redelivery racing the original.
            statuses = list(pool.map(post, burst + burst))
        answers = fake_telegram.wait_for_messages(len(burst), chat_id=member.telegram_id, timeout=30)
        time.sleep(0.5)  # a duplicate answer would arrive now
    assert statuses == [200] * len(burst) * 2
    assert [m["text"] for m in fake_telegram.sent_messages(member.telegram_id)] == [
        f"Ответ на: сообщение {i}" for i in range(6)]
    assert len(answers) == len(burst)
    assert ProcessedUpdate.objects.filter(update_id__in=[u["update_id"] for u in burst]).count() == len(burst)


def test_long_polling_refuses_a_second_instance_for_the_same_token(fake_telegram):
    with polling_claim(fake_telegram.token):  # the first instance
        with pytest.raises(CommandError, match="already long-polling"):
            call_command("runbot")
    with polling_claim(fake_telegram.token):  # released: a new instance may start
        pass
