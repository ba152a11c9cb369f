"""Why something failed, told to staff in Russian: one place turns exceptions into sentences.

Admin actions, staff tasks and commands call :func:`describe` instead of showing
``type(exc).__name__``: staff need the cause they can act on («не задан TELEGRAM_BOT_TOKEN»,
«Telegram ответил: chat not found»), not a class name. Texts never quote what may hold
secrets or personal data: Telegram's token-related messages, the LLM provider's messages
(they echo keys) and database messages (they echo row values) are replaced by a summary.
"""

from __future__ import annotations

import logging
import re

import anthropic
import openai
from django.core.exceptions import ImproperlyConfigured, ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import DatabaseError, IntegrityError, OperationalError
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from telegram import error as tg

logger = logging.getLogger(__name__)

UNKNOWN = "непредвиденная ошибка на сервере — подробности записаны в журнал"
WORKER_DOWN = "воркер не запущен — задача ждёт в очереди и выполнится, когда он запустится"


class StaffError(Exception):
    """A failure whose text is already written for staff (Russian, no personal data)."""


class MissingSetting(StaffError, RuntimeError):
    """A setting the action needs is empty (a RuntimeError too, for callers that catch that)."""

    def __init__(self, name: str, consequence: str = ""):
        self.setting = name
        text = f"не задан {name}"
        super().__init__(f"{text}: {consequence}" if consequence else text)


# Telegram's own phrases (lower-cased) and what staff should understand from them.
_TELEGRAM_HINTS = {
    "chat not found": "участник не начинал диалог с ботом или удалил чат",
    "bot was blocked by the user": "участник заблокировал бота",
    "user is deactivated": "аккаунт участника удалён",
    "bot can't initiate conversation with a user": "участник ещё не писал боту",
    "message is too long": "сообщение длиннее 4096 символов",
    "can't parse entities": "в тексте ошибка HTML-разметки",
    "message text is empty": "пустой текст сообщения",
    "wrong file identifier": "картинка больше недоступна в Telegram — загрузите её заново",
    "button_data_invalid": "данные кнопки длиннее 64 байт",
}


def _telegram_said(exc: tg.TelegramError) -> str:
    said = str(exc).removeprefix("Forbidden: ").strip()
    lowered = said.lower()
    hint = next((text for phrase, text in _TELEGRAM_HINTS.items() if phrase in lowered), "")
    return f"Telegram ответил: {said}" + (f" ({hint})" if hint else "")


def _describe_telegram(exc: tg.TelegramError) -> str:
    if isinstance(exc, tg.InvalidToken):
        # Its text may quote the token: never shown.
        return "Telegram не принял TELEGRAM_BOT_TOKEN — токен неверный или отозван в @BotFather"
    if isinstance(exc, tg.RetryAfter):
        seconds = getattr(exc.retry_after, "total_seconds", lambda: exc.retry_after)()
        return f"Telegram просит подождать {int(seconds)} с: слишком много сообщений подряд"
    if isinstance(exc, tg.TimedOut):
        return "Telegram не ответил вовремя — попробуйте ещё раз"
    if isinstance(exc, tg.Conflict):
        return "Telegram ответил: бот уже запущен в другом процессе (два опроса одним токеном)"
    if isinstance(exc, tg.ChatMigrated):
        return "Telegram ответил: группа стала супергруппой и сменила номер"
    if isinstance(exc, tg.NetworkError) and not isinstance(exc, tg.BadRequest):
        return "нет связи с Telegram — проверьте сеть сервера или TELEGRAM_API_BASE_URL"
    return _telegram_said(exc)


def _both(name: str) -> tuple[type, type]:
    """The same error class of both LLM SDKs (their hierarchies mirror each other)."""
    return getattr(openai, name), getattr(anthropic, name)


def _llm_setting(kind: str) -> str:
    """The name of the configured provider's key or URL setting (OPENAI_* or ANTHROPIC_*)."""
    from django.conf import settings

    prefix = "ANTHROPIC" if getattr(settings, "LLM_PROVIDER", "openai") == "anthropic" else "OPENAI"
    return f"{prefix}_{kind}"


def _describe_llm(exc: Exception) -> str:
    if isinstance(exc, _both("APITimeoutError")):
        return "языковая модель не ответила вовремя — попробуйте ещё раз"
    if isinstance(exc, _both("APIConnectionError")):
        return f"нет связи с языковой моделью — проверьте {_llm_setting('BASE_URL')} и сеть сервера"
    if isinstance(exc, _both("AuthenticationError") + _both("PermissionDeniedError")):
        return f"языковая модель не приняла ключ — проверьте {_llm_setting('API_KEY')}"
    if isinstance(exc, _both("RateLimitError")):
        return "языковая модель отказала: превышен лимит запросов или закончились средства на счёте"
    if isinstance(exc, _both("NotFoundError")):
        return f"языковая модель не найдена — проверьте LLM_MODEL и {_llm_setting('BASE_URL')}"
    if isinstance(exc, _both("APIStatusError")):
        return f"языковая модель ответила ошибкой HTTP {exc.status_code}"
    return "языковая модель вернула ответ, который не удалось разобрать"


# OperationalError also covers schema faults (SQLite's "no such table"); only these mean "unavailable".
_UNAVAILABLE = re.compile(r"could not connect|connection|timeout|timed out|locked|server closed|too many clients",
                          re.IGNORECASE)


def _describe_storage(exc: Exception) -> str:
    if isinstance(exc, BrokerError | RedisConnectionError | RedisTimeoutError):
        return "Redis (очередь задач) недоступен — проверьте REDIS_URL и что Redis запущен"
    if isinstance(exc, IntegrityError):
        return "запись конфликтует с уже существующей — обновите страницу и проверьте данные"
    if isinstance(exc, OperationalError) and _UNAVAILABLE.search(str(exc)):
        return "база данных недоступна или перегружена — попробуйте через минуту"
    return "ошибка базы данных — подробности записаны в журнал"


def describe(exc: BaseException) -> str:
    """A Russian sentence for staff saying why ``exc`` happened; never the exception's class name."""
    if isinstance(exc, StaffError):
        return str(exc)
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    if isinstance(exc, ImproperlyConfigured):
        return "сервер настроен неверно — подробности записаны в журнал"
    if isinstance(exc, tg.TelegramError):
        return _describe_telegram(exc)
    if isinstance(exc, openai.OpenAIError | anthropic.AnthropicError):
        return _describe_llm(exc)
    if isinstance(exc, BrokerError | RedisConnectionError | RedisTimeoutError | DatabaseError):
        return _describe_storage(exc)
    if isinstance(exc, ObjectDoesNotExist):
        return "запись уже удалена — обновите страницу"
    if isinstance(exc, PermissionDenied):
        return "недостаточно прав для этого действия"
    if isinstance(exc, TimeoutError):
        return "внешний сервис не ответил вовремя — попробуйте ещё раз"
    if isinstance(exc, ConnectionError):
        return "нет связи с внешним сервисом — проверьте сеть сервера"
    return UNKNOWN


def describe_delivery(status: str, error: str) -> str:
    """Why one Telegram send did not go through, from ``bot.outbound`` Outcome fields."""
    if status == "blocked":
        return _telegram_said(tg.Forbidden(error or "bot was blocked by the user"))
    if status == "retry_after":
        return "Telegram просит подождать: слишком много сообщений подряд — отправка повторится позже"
    if status == "transient":
        return "нет связи с Telegram или Telegram временно недоступен — отправка повторится позже"
    if status == "not_sent":
        return "отправка отменена до обращения к Telegram"
    return _telegram_said(tg.BadRequest(error)) if error else "Telegram не принял сообщение"


def capitalized(text: str) -> str:
    """A sentence for a message on its own (``describe`` returns a clause to embed)."""
    return text[:1].upper() + text[1:]


def tell_staff(request, exc: BaseException, *, failed: str) -> str:
    """Log ``exc`` (with its traceback, for the team) and show staff ``failed`` and the cause in Russian."""
    from django.contrib import messages

    logger.error("staff action failed: %s", type(exc).__name__, exc_info=(type(exc), exc, exc.__traceback__))
    text = f"{failed}: {describe(exc)}."
    messages.error(request, text)
    return text
