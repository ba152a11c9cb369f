"""Staff read the real cause of a failure in Russian, never an exception class name.

The errors come from the real client libraries talking to the loopback fakes (python-telegram-bot
to the fake Bot API, ``openai`` to the fake LLM) and from the real database.
"""

import asyncio
import socket

import openai
import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, transaction
from telegram import Bot

from bot.outbound.transport import build_bot
from relove.core.staff_errors import MissingSetting, describe, describe_delivery

CLASS_NAMES = ("Error", "BadRequest", "Forbidden", "InvalidToken", "RetryAfter", "TimedOut", "Exception")


def _no_class_name(text: str) -> bool:
    return not any(name in text for name in CLASS_NAMES)


def _telegram_failure(fake, *, status, description=None, retry_after=None) -> Exception:
    fake.fail_next("sendMessage", status=status, description=description, retry_after=retry_after)
    bot = Bot(fake.token, base_url=fake.base_url)
    with pytest.raises(Exception) as caught:
        asyncio.run(bot.send_message(42, "привет"))
    return caught.value


@pytest.mark.parametrize(("status", "description", "expected"), [
    (400, None, "Telegram ответил: Chat not found (участник не начинал диалог с ботом или удалил чат)"),
    (403, None, "Telegram ответил: bot was blocked by the user (участник заблокировал бота)"),
    (401, None, "Telegram не принял TELEGRAM_BOT_TOKEN — токен неверный или отозван в @BotFather"),
    (400, "Bad Request: can't parse entities: unclosed tag",
     "Telegram ответил: Can't parse entities: unclosed tag (в тексте ошибка HTML-разметки)"),
    (502, "Bad Gateway", "нет связи с Telegram — проверьте сеть сервера или TELEGRAM_API_BASE_URL"),
])
def test_telegram_answers_are_told_in_russian(fake_telegram, status, description, expected):
    text = describe(_telegram_failure(fake_telegram, status=status, description=description))
    assert text == expected and _no_class_name(text)


def test_a_telegram_flood_wait_names_the_pause(fake_telegram):
    text = describe(_telegram_failure(fake_telegram, status=429, retry_after=17))
    assert text == "Telegram просит подождать 17 с: слишком много сообщений подряд"


def test_the_token_is_never_quoted(fake_telegram):
    exc = _telegram_failure(fake_telegram, status=401, description=f"Unauthorized {fake_telegram.token}")
    assert fake_telegram.token not in describe(exc)


def test_a_missing_token_names_the_setting(settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    with pytest.raises(MissingSetting) as caught:
        build_bot()
    assert describe(caught.value) == "не задан TELEGRAM_BOT_TOKEN: бот не может отправлять сообщения"
    assert isinstance(caught.value, RuntimeError)  # callers that catch RuntimeError still do


def _llm_failure(fake_llm, *, status=None, base_url=None) -> Exception:
    if status is not None:
        fake_llm.enqueue(status)
    client = openai.OpenAI(api_key="test-key", base_url=base_url or fake_llm.base_url, max_retries=0, timeout=5)
    with pytest.raises(openai.OpenAIError) as caught:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "привет"}])
    return caught.value


@pytest.mark.parametrize(("status", "expected"), [
    (401, "языковая модель не приняла ключ — проверьте OPENAI_API_KEY"),
    (429, "языковая модель отказала: превышен лимит запросов или закончились средства на счёте"),
    (404, "языковая модель не найдена — проверьте LLM_MODEL и OPENAI_BASE_URL"),
    (503, "языковая модель ответила ошибкой HTTP 503"),
])
def test_llm_answers_are_told_in_russian(fake_llm, status, expected):
    assert describe(_llm_failure(fake_llm, status=status)) == expected


def test_an_unreachable_llm_says_so(fake_llm):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exc = _llm_failure(fake_llm, base_url=f"http://127.0.0.1:{port}/v1")
    assert describe(exc) == "нет связи с языковой моделью — проверьте OPENAI_BASE_URL и сеть сервера"


@pytest.mark.django_db
def test_a_database_conflict_does_not_quote_the_row():
    Group.objects.create(name="Секретное имя")
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        Group.objects.create(name="Секретное имя")
    text = describe(caught.value)
    assert text == "запись конфликтует с уже существующей — обновите страницу и проверьте данные"
    assert "Секретное" not in text


def test_validation_errors_are_their_messages():
    assert describe(ValidationError(["Слишком длинно", "Нет текста"])) == "Слишком длинно; Нет текста"


def test_anything_else_is_a_plain_sentence_without_its_details():
    text = describe(KeyError("member@example.com"))
    assert text == "непредвиденная ошибка на сервере — подробности записаны в журнал"
    assert "member" not in text and _no_class_name(text)


@pytest.mark.parametrize(("status", "error", "expected"), [
    ("permanent", "Chat not found",
     "Telegram ответил: Chat not found (участник не начинал диалог с ботом или удалил чат)"),
    ("blocked", "Forbidden: bot was blocked by the user",
     "Telegram ответил: bot was blocked by the user (участник заблокировал бота)"),
    ("transient", "TimedOut: Timed out",
     "нет связи с Telegram или Telegram временно недоступен — отправка повторится позже"),
])
def test_delivery_outcomes_are_told_in_russian(status, error, expected):
    assert describe_delivery(status, error) == expected


@pytest.mark.django_db
def test_an_unreachable_database_says_so():
    from django.db.utils import ConnectionHandler

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handler = ConnectionHandler({"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "relove",
                                             "HOST": "127.0.0.1", "PORT": port, "USER": "nobody"}})
    with pytest.raises(OperationalError) as caught:
        handler["default"].ensure_connection()
    assert describe(caught.value) == "база данных недоступна или перегружена — попробуйте через минуту"
