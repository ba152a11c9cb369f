"""Talking to the Bot API: one message out, its outcome classified, under the shared rate limit.

Rate limiting (shared through Redis), Telegram error classification and the conversion of
our ``OutgoingMessage`` into Bot API calls live here; what a caller does with an outcome is
``policy.next_step`` and how rows are claimed and swept is ``rows``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from django.conf import settings
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, ReplyKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from relove.core.ratelimit import RateLimiter
from relove.core.staff_errors import MissingSetting, describe

from ..ui import OutgoingMessage
from .watched_request import WatchedRequest

logger = logging.getLogger(__name__)

class Delivery(enum.StrEnum):
    SENT = "sent"
    BLOCKED = "blocked"  # 403: the member blocked the bot
    PERMANENT = "permanent"  # the chat is gone or the message itself is invalid
    RETRY_AFTER = "retry_after"  # 429: everyone waits retry_after seconds
    TRANSIENT = "transient"  # network trouble or a 5xx: try again later
    NOT_SENT = "not_sent"  # the caller's ``should_send`` said no before the request was made


# Errors raised after the request may have reached Telegram (no answer read): retrying could
# deliver the message twice. Connect errors and pool timeouts happen before anything is sent.
_MAYBE_DELIVERED = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class Outcome:
    status: Delivery
    message_id: int | None = None
    retry_after: float | None = None
    error: str = ""
    maybe_delivered: bool = False  # a transient error after the request left: sent or not, nobody knows
    photo_file_id: str | None = None  # Telegram's id of an uploaded photo, to reuse instead of re-uploading

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
    # The rest is stored and shown to staff in Russian (staff_errors.describe): never a class
    # name, and never PTB's InvalidToken text, which quotes the token.
    if isinstance(exc, TimedOut | NetworkError):
        return Outcome(Delivery.TRANSIENT, error=describe(exc)[:255],
                       maybe_delivered=isinstance(exc.__cause__, _MAYBE_DELIVERED))
    return Outcome(Delivery.TRANSIENT, error=describe(exc)[:255])


def reply_markup(message: OutgoingMessage):
    if message.buttons:
        return InlineKeyboardMarkup([
            [InlineKeyboardButton(b.text, callback_data=b.callback_data, url=b.url) for b in row]
            for row in message.buttons
        ])
    if message.reply_keyboard:
        return ReplyKeyboardMarkup(message.reply_keyboard, resize_keyboard=True, is_persistent=True)
    return None


@dataclass
class OutgoingPhoto(OutgoingMessage):
    """A photo with ``text`` as its caption (≤ 1024 characters) and optional inline buttons.

    ``photo`` is ``(filename, content)`` to upload or a Telegram ``file_id`` to reuse.
    """

    photo: tuple[str, bytes] | str | None = None


async def send_message(bot: Bot, chat_id: int, message: OutgoingMessage):
    """One Bot API call for one message (no rate limiting: callers wrap this)."""
    if isinstance(message, OutgoingPhoto) and message.photo:
        photo = message.photo
        if isinstance(photo, tuple):
            photo = InputFile(photo[1], filename=photo[0])
        return await bot.send_photo(chat_id, photo, caption=message.text or None, parse_mode=ParseMode.HTML,
                                    reply_markup=reply_markup(message))
    if message.document:
        filename, content = message.document
        return await bot.send_document(chat_id, InputFile(content, filename=filename),
                                       caption=message.text or None, parse_mode=ParseMode.HTML)
    return await bot.send_message(chat_id, message.text, parse_mode=ParseMode.HTML,
                                  reply_markup=reply_markup(message), disable_web_page_preview=True)


def build_bot(*, connection_pool_size: int = 64) -> Bot:
    """A Bot client; a sender with ``n`` requests in flight needs about ``n`` connections
    (httpcore scans its whole pool for every request, so a bigger pool only costs CPU)."""
    if not settings.TELEGRAM_BOT_TOKEN:
        raise MissingSetting("TELEGRAM_BOT_TOKEN", "бот не может отправлять сообщения")
    request = WatchedRequest(connection_pool_size=connection_pool_size, connect_timeout=5, read_timeout=15,
                           write_timeout=15)
    return Bot(settings.TELEGRAM_BOT_TOKEN, base_url=settings.TELEGRAM_API_BASE_URL, request=request)


# A sender that fires later than its slot squeezes the gap to the next sender, who is on
# time; in a strict sliding window (Telegram counts about 30 sends per second) that is a 429.
# Late by more than this (a slow Redis answer, a busy event loop or GIL), it takes a fresh slot.
# It must stay under the slack the configured rate leaves (29.4/s: 30 slots span 1.020 s).
LATE_TOLERANCE = 0.014
MAX_LATE_RETRIES = 3
# The 429 pause is looked up this long before the slot, so that lookup never delays the send.
PAUSE_CHECK_LEAD = 0.005


async def _wait_for_slot(limiter: RateLimiter, chat_id: int) -> None:
    """Sleep until this sender's reserved slot; honour a 429 pause ordered meanwhile."""
    loop = asyncio.get_running_loop()
    late_retries = 0
    while True:
        asked = loop.time()
        wait, reserved = limiter.try_reserve(chat_id, chat_held=late_retries > 0)
        answered = loop.time()
        if not reserved:  # this chat's previous message was under a second ago
            await asyncio.sleep(wait)
            continue
        slot = answered + max(wait, 0.0)
        if wait > PAUSE_CHECK_LEAD:
            await asyncio.sleep(wait - PAUSE_CHECK_LEAD)
            # The slot was reserved before we slept; if another sender got a 429 meanwhile,
            # honour the pause and take a fresh slot after it instead of firing into it.
            paused = limiter.pause_remaining()
            if paused > 0:
                await asyncio.sleep(paused)
                continue
        if slot > loop.time():
            await asyncio.sleep(slot - loop.time())
        late = (loop.time() - slot) + (answered - asked)
        if late <= LATE_TOLERANCE or late_retries >= MAX_LATE_RETRIES:
            return  # persistently late means an overloaded host: send rather than starve
        late_retries += 1


def _photo_file_id(sent) -> str | None:
    photos = getattr(sent, "photo", None) or ()
    return photos[-1].file_id if photos else None


async def send_limited(bot: Bot, limiter: RateLimiter, chat_id: int, parts: list[OutgoingMessage], *,
                       should_send: Callable[[], bool] | None = None) -> Outcome:
    """Send the parts of one logical message in order under the shared rate limit.

    Stops at the first failure. A 429 pauses every sender sharing the limiter. When given,
    ``should_send`` is asked right before each request (after waiting for the slot); if it
    says no, nothing more is sent and the outcome is ``NOT_SENT`` (or ``SENT`` if an earlier
    part already went out).
    """
    message_id = None
    photo_file_id = None
    for part in parts:
        await _wait_for_slot(limiter, chat_id)
        if should_send is not None and not should_send():
            if message_id is not None:
                return Outcome(Delivery.SENT, message_id=message_id, photo_file_id=photo_file_id)
            return Outcome(Delivery.NOT_SENT)
        try:
            sent = await send_message(bot, chat_id, part)
        except Exception as exc:  # noqa: BLE001 — classified, never raised to the caller
            outcome = classify(exc)
            if outcome.status is Delivery.RETRY_AFTER:
                limiter.pause_all(outcome.retry_after or 1.0)
            logger.info("send to chat failed: %s", outcome.status)
            return outcome
        message_id = message_id or sent.message_id
        photo_file_id = photo_file_id or _photo_file_id(sent)
    return Outcome(Delivery.SENT, message_id=message_id, photo_file_id=photo_file_id)


class BotSession:
    """A synchronous sender that keeps one Bot client and event loop for many sends.

    ``with BotSession() as sender: sender.send(chat_id, parts)``; one per thread. Building a
    client costs ~50 ms (getMe and two HTTP pools), so a delivery pass of hundreds of
    messages keeps one per worker thread. Sending itself is ``send_limited``.
    """

    def __init__(self, *, limiter: RateLimiter | None = None):
        self.limiter = limiter or RateLimiter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bot: Bot | None = None

    def __enter__(self) -> BotSession:
        self._loop = asyncio.new_event_loop()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._bot is not None:
            try:
                self._loop.run_until_complete(self._bot.shutdown())
            except Exception:  # noqa: BLE001, S110 — closing a connection pool; nothing to save
                pass
        self._loop.close()

    def send(self, chat_id: int, parts: list[OutgoingMessage]) -> Outcome:
        """Send one logical message (its parts in order); never raises, see ``classify``."""
        try:
            if self._bot is None:
                bot = build_bot()
                self._loop.run_until_complete(bot.initialize())
                self._bot = bot
            return self._loop.run_until_complete(send_limited(self._bot, self.limiter, chat_id, parts))
        except Exception as exc:  # noqa: BLE001 — e.g. the API is unreachable during initialize()
            return classify(exc)


def send(chat_id: int, parts: list[OutgoingMessage], *, limiter: RateLimiter | None = None) -> Outcome:
    """One-off synchronous send (staff alerts, test sends): a session of one message."""
    with BotSession(limiter=limiter) as session:
        return session.send(chat_id, parts)
