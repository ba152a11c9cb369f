"""PostgreSQL going away and coming back while the bot works: no member message is lost.

The bot runs as a real process (long polling, its own connection pool) whose database
connections go through a loopback TCP proxy (``testkit/tcp_proxy.py``); cutting the proxy is a
database restart as the bot sees it — every connection reset, new ones refused — without
stopping the PostgreSQL server that other test runs share.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection

from bot.models import ProcessedUpdate, UserSession
from bot.services.sessions import session_history
from bot.tests.test_telegram_e2e import ANALYSIS, CHAT, ROOT, converse
from testkit.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

RETRY_SECONDS = 5


def bot_process(fake_telegram, fake_llm, proxy):
    db = connection.settings_dict
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "relove.settings_test", "FAKE_TG_TOKEN": fake_telegram.token,
           "FAKE_TG_URL": fake_telegram.base_url, "FAKE_LLM_URL": fake_llm.base_url,
           "DATABASE_URL": f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}",
           "BOT_DB_RETRY_SECONDS": str(RETRY_SECONDS), "DATABASE_POOL_TIMEOUT": "1"}
    code = ("import os; os.environ['DJANGO_SETTINGS_MODULE']='relove.settings_test'; import django; "
            "from django.conf import settings; django.setup(); "
            "settings.TELEGRAM_BOT_TOKEN=os.environ['FAKE_TG_TOKEN']; "
            "settings.TELEGRAM_API_BASE_URL=os.environ['FAKE_TG_URL']; "
            "settings.OPENAI_API_KEY='test-key'; settings.OPENAI_BASE_URL=os.environ['FAKE_LLM_URL']; "
            "from django.core.management import call_command; call_command('runbot')")
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def consent(fake):
    converse(fake, fake.message_update(CHAT, "/start"), 1, timeout=30)
    converse(fake, fake.callback_update(CHAT, "c:y"), 2, timeout=30)


def test_postgresql_stopped_and_restarted_mid_turn_loses_no_message(fake_telegram, fake_llm):
    fake_llm.route("Проанализируй разговор", ANALYSIS)
    thinking = threading.Event()

    def slow_reply(body):
        thinking.set()
        time.sleep(1.5)  # within LLM_TIMEOUT (2 s in tests)
        text = body["messages"][-1]["content"]
        return {"reply": f"Слышу: {text.split(chr(10))[1]}", "quick_replies": [], "risk": "none"}

    with TcpProxy(connection.settings_dict["HOST"] or "127.0.0.1",
                  int(connection.settings_dict["PORT"] or 5432)) as proxy:
        process = bot_process(fake_telegram, fake_llm, proxy)
        try:
            consent(fake_telegram)
            fake_llm.responder = slow_reply

            # 1. The database goes away while Natasha is thinking (the member's turn is stored)
            # and is back only after she answered: storing the reply waits for it.
            before = len(fake_telegram.sent_messages(CHAT))
            fake_telegram.push_update(fake_telegram.message_update(CHAT, "Первое сообщение"))
            assert thinking.wait(15)
            proxy.cut()
            time.sleep(3)  # the LLM answers after 1.5 s: storing the reply waits ~1.5 s for the database
            proxy.restore()
            first = fake_telegram.wait_for_messages(before + 1, chat_id=CHAT, timeout=30)[before:]

            # 2. Down for longer than the bot waits (RETRY_SECONDS): the update is given back,
            # not lost, and handled once the database is back.
            proxy.cut()
            before = len(fake_telegram.sent_messages(CHAT))
            fake_telegram.push_update(fake_telegram.message_update(CHAT, "Второе сообщение"))
            time.sleep(RETRY_SECONDS * 2)
            assert len(fake_telegram.sent_messages(CHAT)) == before  # nothing answered without a database
            proxy.restore()
            second = fake_telegram.wait_for_messages(before + 1, chat_id=CHAT, timeout=60)[before:]
            refused = proxy.refused
        except AssertionError:
            process.kill()
            raise AssertionError(process.communicate(timeout=20)[0][-6000:]) from None
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=60)

    assert first[0]["text"] == "Слышу: Первое сообщение"
    assert second[0]["text"] == "Слышу: Второе сообщение"
    assert refused > 0  # the bot really met a database it could not reach
    assert "given back" in output and "database unreachable" in output
    session = UserSession.objects.get(user__telegram_id=CHAT)
    turns = [(t["role"], t["content"]) for t in session_history(session)]
    assert [c for r, c in turns if r == "user"][-2:] == ["Первое сообщение", "Второе сообщение"]
    assert sum(c == "Второе сообщение" for _r, c in turns) == 1  # stored once, not once per attempt
    assert turns[-1] == ("assistant", "Слышу: Второе сообщение")
    assert not ProcessedUpdate.objects.filter(done=False).exists(), output[-8000:]
    assert json.dumps(turns, ensure_ascii=False).count("Первое сообщение") == 2  # the turn and the reply


def test_webhook_answers_503_while_the_database_is_down_and_the_redelivery_is_handled(fake_telegram, fake_llm):
    """Telegram keeps an update it got no 200 for and delivers it again: that is the give-back."""
    import socket
    import urllib.error
    import urllib.request

    fake_llm.route("Проанализируй разговор", ANALYSIS)
    fake_llm.responder = lambda body: {"reply": "Слышу тебя.", "quick_replies": [], "risk": "none"}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = connection.settings_dict
    with TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)) as proxy:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "relove.settings_test", "FAKE_TG_TOKEN": fake_telegram.token,
               "FAKE_TG_URL": fake_telegram.base_url, "FAKE_LLM_URL": fake_llm.base_url,
               "DATABASE_URL": f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}",
               "BOT_DB_RETRY_SECONDS": "2", "DATABASE_POOL_TIMEOUT": "1"}
        code = ("import os, uvicorn; os.environ['DJANGO_SETTINGS_MODULE']='relove.settings_test'; import django; "
                "from django.conf import settings; django.setup(); "
                "settings.TELEGRAM_BOT_TOKEN=os.environ['FAKE_TG_TOKEN']; "
                "settings.TELEGRAM_API_BASE_URL=os.environ['FAKE_TG_URL']; settings.TELEGRAM_WEBHOOK_SECRET='s'; "
                "settings.OPENAI_API_KEY='test-key'; settings.OPENAI_BASE_URL=os.environ['FAKE_LLM_URL']; "
                "from relove.asgi import application; "
                f"uvicorn.run(application, host='127.0.0.1', port={port}, lifespan='off', log_level='warning')")
        server = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)

        def call(update):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/telegram/webhook/", method="POST", data=json.dumps(update).encode(),
                headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "s"})
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return response.status
            except urllib.error.HTTPError as exc:
                return exc.code

        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline and server.poll() is None
                    time.sleep(0.1)
            assert call(fake_telegram.message_update(CHAT, "/start")) == 200
            assert call(fake_telegram.callback_update(CHAT, "c:y")) == 200
            update = fake_telegram.message_update(CHAT, "Пока базы нет")
            sent_before = len(fake_telegram.sent_messages(CHAT))
            proxy.cut()
            assert call(update) == 503
            proxy.restore()
            statuses = [call(update)]  # Telegram's redelivery
            while statuses[-1] == 503:  # the claim is released in the background once the database answers
                assert len(statuses) < 20
                time.sleep(1)
                statuses.append(call(update))
            assert statuses[-1] == 200
            assert call(update) == 200  # a further copy is a duplicate: skipped
        except AssertionError:
            server.kill()
            raise AssertionError(server.communicate(timeout=20)[0][-6000:]) from None
        finally:
            server.terminate()
            server.communicate(timeout=30)
    replies = [m["text"] for m in fake_telegram.sent_messages(CHAT)[sent_before:]]
    assert replies == ["Слышу тебя."]  # answered once, after the database came back
    session = UserSession.objects.get(user__telegram_id=CHAT)
    assert [t["content"] for t in session_history(session) if t["role"] == "user"] == ["Пока базы нет"]
    assert ProcessedUpdate.objects.get(update_id=update["update_id"]).done

