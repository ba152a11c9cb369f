"""The one outbound path for everything the bot sends on its own.

Proactive messages, broadcasts, staff alerts and test sends all end here. This module owns
rate limiting (shared through Redis), Telegram error classification and the conversion of
our ``OutgoingMessage`` into Bot API calls. Callers own *claiming*: a row moves
``pending → sending`` with a conditional UPDATE before ``send`` is called, so a message is
never sent twice even with several workers (see ``claim_row``).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.utils import timezone
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, ReplyKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.request import HTTPXRequest

from relove.core.ratelimit import RateLimiter

from .ui import OutgoingMessage

logger = logging.getLogger(__name__)

# Telegram answers these when the chat will never accept a message; retrying is pointless.
PERMANENT_MARKERS = ("chat not found", "user is deactivated", "bot was kicked", "have no rights",
                     "peer_id_invalid", "bot can't initiate conversation", "chat_write_forbidden")


class Delivery(enum.StrEnum):
    SENT = "sent"
    BLOCKED = "blocked"  # 403: the member blocked the bot
    PERMANENT = "permanent"  # the chat is gone or the message itself is invalid
    RETRY_AFTER = "retry_after"  # 429: everyone waits retry_after seconds
    TRANSIENT = "transient"  # network trouble or a 5xx: try again later


@dataclass(frozen=True)
class Outcome:
    status: Delivery
    message_id: int | None = None
    retry_after: float | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is Delivery.SENT


def classify(exc: Exception) -> Outcome:
    """Map a python-telegram-bot error to what the caller should do next."""
    if isinstance(exc, RetryAfter):
        seconds = exc.retry_after.total_seconds() if hasattr(exc.retry_after, "total_seconds") else exc.retry_after
        return Outcome(Delivery.RETRY_AFTER, retry_after=float(seconds), error="429 retry_after")
    if isinstance(exc, Forbidden):
        return Outcome(Delivery.BLOCKED, error=str(exc)[:255])
    if isinstance(exc, BadRequest):
        return Outcome(Delivery.PERMANENT, error=str(exc)[:255])
    if isinstance(exc, TimedOut | NetworkError):
        return Outcome(Delivery.TRANSIENT, error=f"{type(exc).__name__}: {exc}"[:255])
    if isinstance(exc, TelegramError):
        return Outcome(Delivery.TRANSIENT, error=str(exc)[:255])
    return Outcome(Delivery.TRANSIENT, error=type(exc).__name__)


def reply_markup(message: OutgoingMessage):
    if message.buttons:
        return InlineKeyboardMarkup([
            [InlineKeyboardButton(b.text, callback_data=b.callback_data, url=b.url) for b in row]
            for row in message.buttons
        ])
    if message.reply_keyboard:
        return ReplyKeyboardMarkup(message.reply_keyboard, resize_keyboard=True, is_persistent=True)
    return None


async def send_message(bot: Bot, chat_id: int, message: OutgoingMessage):
    """One Bot API call for one message (no rate limiting: callers wrap this)."""
    if message.document:
        filename, content = message.document
        return await bot.send_document(chat_id, InputFile(content, filename=filename),
                                       caption=message.text or None, parse_mode=ParseMode.HTML)
    return await bot.send_message(chat_id, message.text, parse_mode=ParseMode.HTML,
                                  reply_markup=reply_markup(message), disable_web_page_preview=True)


def build_bot() -> Bot:
    if not settings.TELEGRAM_BOT_TOKEN:
        raise RuntimeError("TELEGRAM_BOT_TOKEN is not set: the bot cannot send messages.")
    request = HTTPXRequest(connection_pool_size=64, connect_timeout=5, read_timeout=15, write_timeout=15)
    return Bot(settings.TELEGRAM_BOT_TOKEN, base_url=settings.TELEGRAM_API_BASE_URL, request=request)


async def send_limited(bot: Bot, limiter: RateLimiter, chat_id: int, parts: list[OutgoingMessage]) -> Outcome:
    """Send the parts of one logical message in order under the shared rate limit.

    Stops at the first failure. A 429 pauses every sender sharing the limiter.
    """
    message_id = None
    for part in parts:
        wait = limiter.reserve(chat_id)
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            sent = await send_message(bot, chat_id, part)
        except Exception as exc:  # noqa: BLE001 — classified, never raised to the caller
            outcome = classify(exc)
            if outcome.status is Delivery.RETRY_AFTER:
                limiter.pause_all(outcome.retry_after or 1.0)
            logger.info("send to chat failed: %s", outcome.status)
            return outcome
        message_id = message_id or sent.message_id
    return Outcome(Delivery.SENT, message_id=message_id)


def send(chat_id: int, parts: list[OutgoingMessage], *, limiter: RateLimiter | None = None) -> Outcome:
    """Synchronous send for workers and commands (one short-lived client per call)."""

    async def run() -> Outcome:
        async with build_bot() as bot:
            return await send_limited(bot, limiter or RateLimiter(), chat_id, parts)

    try:
        return asyncio.run(run())
    except Exception as exc:  # noqa: BLE001 — e.g. the API is unreachable during initialize()
        return classify(exc)


def claim_row(model: type[models.Model], pk: int, *, from_status: str = "pending", to_status: str = "sending",
              **extra) -> bool:
    """Move one row ``from_status → to_status`` iff it is still ``from_status``.

    The conditional UPDATE is the lock: exactly one of any number of concurrent callers sees
    one changed row, and only that caller may send.
    """
    return model._default_manager.filter(pk=pk, status=from_status).update(
        status=to_status, claimed_at=timezone.now(), **extra) == 1
