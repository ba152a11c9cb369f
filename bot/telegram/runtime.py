"""The python-telegram-bot application: handlers that translate Updates for the orchestrator.

Handlers never touch the ORM. They turn an ``Update`` into an ``Incoming``, run the
orchestrator (its database parts in the bot's bounded database threads, ``run_sync``; its
LLM calls awaited on the event loop), and send what it returns through the shared,
rate-limited sender. Up to ``BOT_MAX_CONCURRENT_TURNS`` updates from different members run
concurrently; one member's updates run in order (``PerMemberUpdateProcessor``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from telegram import BotCommand, Update
from telegram.constants import ChatAction, ChatMemberStatus
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.outbound import Delivery, send_limited
from bot.outbound.watched_request import WatchedRequest
from bot.services import orchestrator
from bot.services.members import TelegramIdentity
from bot.ui import OutgoingMessage
from relove.core.ratelimit import RateLimiter

logger = logging.getLogger(__name__)

BOT_COMMANDS = [
    ("start", "Начать или продолжить путь"), ("progress", "Где я на пути"), ("streams", "Потоки relove.ru"),
    ("settings", "Часовой пояс и сообщения"), ("pause", "Пауза"), ("resume", "Продолжить"),
    ("end", "Завершить разговор"), ("help", "Что умеет Наташа"), ("export", "Мои данные"),
    ("forget", "Удалить мои данные"), ("stop", "Не писать первой"),
]
TYPING_REFRESH_SECONDS = 4.0
REPLY_RETRY_AFTER_ATTEMPTS = 5


_executors: dict[int, ThreadPoolExecutor] = {}


def db_executor() -> ThreadPoolExecutor:
    """The bot process's threads for database work: ``BOT_DB_THREADS``, sized to the database pool.

    Not the event loop's default executor (``min(32, cpu + 4)`` threads, shared with anything
    else): turns in flight are bounded by ``BOT_MAX_CONCURRENT_TURNS``; these threads only run
    the short database parts of turns, never the wait for the LLM.
    """
    size = settings.BOT_DB_THREADS
    executor = _executors.get(size)
    if executor is None:
        executor = _executors[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="bot-db")
    return executor


def _with_connections(fn: Callable[..., Any], *args, **kwargs):
    """Run ``fn`` with a healthy connection, and give the connection back afterwards.

    With the PostgreSQL pool the connection returns to the pool after every part, so a turn
    waiting for the LLM holds none; without it each thread keeps one persistent connection
    (at most ``BOT_DB_THREADS``), closed when stale.
    """
    close_old_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        if "pool" in connection.settings_dict.get("OPTIONS", {}):
            connection.close()
        else:
            close_old_connections()


async def run_sync(fn: Callable[..., Any], *args, **kwargs):
    """Run a sync service in the bot's database threads."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(db_executor(), functools.partial(_with_connections, fn, *args, **kwargs))


class PerMemberUpdateProcessor(BaseUpdateProcessor):
    """Concurrent across members (at most ``BOT_MAX_CONCURRENT_TURNS`` at once), sequential within
    one member's chat.

    The member's lock is taken before a concurrency slot, so a member sending many messages
    in a row waits in their own queue without holding slots other members need.
    """

    def __init__(self, max_concurrent_updates: int | None = None):
        super().__init__(max_concurrent_updates or settings.BOT_MAX_CONCURRENT_TURNS)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiters: dict[int, int] = {}

    @staticmethod
    def chat_key(update: object) -> int | None:
        if not isinstance(update, Update):
            return None
        chat = update.effective_chat
        return chat.id if chat else (update.effective_user.id if update.effective_user else None)

    async def process_update(self, update: object, coroutine) -> None:
        key = self.chat_key(update)
        if key is None:
            async with self._semaphore:
                await coroutine
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiters[key] = self._waiters.get(key, 0) + 1
        try:
            async with lock, self._semaphore:
                await coroutine
        finally:
            self._waiters[key] -= 1
            if not self._waiters[key]:
                del self._waiters[key]
                self._locks.pop(key, None)

    async def do_process_update(self, update: object, coroutine) -> None:
        await coroutine  # process_update above owns ordering and limits

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


# --- translating updates -----------------------------------------------------------------

def _identity(update: Update) -> TelegramIdentity | None:
    user = update.effective_user
    if user is None or user.is_bot:
        return None
    return TelegramIdentity(telegram_id=user.id, username=user.username or "", first_name=user.first_name or "",
                            last_name=user.last_name or "", language_code=user.language_code or "")


def incoming_from_update(update: Update) -> orchestrator.Incoming | None:
    """What the member did, or None for updates that need no answer (channels, groups, bots)."""
    identity = _identity(update)
    chat = update.effective_chat
    if identity is None or chat is None or chat.type != "private":
        return None
    Kind = orchestrator.Kind
    if update.callback_query is not None:
        return orchestrator.Incoming(identity, Kind.CALLBACK, callback_data=update.callback_query.data or "")
    if update.edited_message is not None:
        return orchestrator.Incoming(identity, Kind.EDITED)
    message = update.message
    if message is None:
        return None
    text = message.text
    if text is None:
        return orchestrator.Incoming(identity, Kind.NON_TEXT)
    if text.startswith("/") and len(text) > 1:
        command = text[1:].split()[0].split("@")[0].lower()
        return orchestrator.Incoming(identity, Kind.COMMAND, text=text, command=command)
    return orchestrator.Incoming(identity, Kind.TEXT, text=text)


# --- handlers ----------------------------------------------------------------------------

async def claim_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Group -1: take the update_id first; a redelivered or parallel copy stops here."""
    from bot.services.updates import update_claim

    if not await run_sync(update_claim, update_id=update.update_id):
        logger.info("update %s already processed; skipped", update.update_id)
        raise ApplicationHandlerStop


async def _keep_typing(bot, chat_id: int) -> None:
    with contextlib.suppress(Exception):
        while True:
            await bot.send_chat_action(chat_id, ChatAction.TYPING)
            await asyncio.sleep(TYPING_REFRESH_SECONDS)


async def deliver(context: ContextTypes.DEFAULT_TYPE, chat_id: int, parts: list[OutgoingMessage],
                  telegram_id: int) -> None:
    if not parts:
        return
    limiter = context.bot_data.setdefault("limiter", RateLimiter())
    for part in parts:
        # Part by part, so a 429 retries only what did not go out (the limiter already paused
        # every sender for retry_after); a burst must not cost a member their answer.
        for _attempt in range(REPLY_RETRY_AFTER_ATTEMPTS):
            outcome = await send_limited(context.bot, limiter, chat_id, [part])
            if outcome.status is not Delivery.RETRY_AFTER:
                break
        if outcome.status is Delivery.BLOCKED:
            from bot.services.members import member_mark_blocked

            await run_sync(member_mark_blocked, telegram_id=telegram_id)
            return
        if not outcome.ok:
            logger.warning("reply to chat not delivered: %s", outcome.status)
            return


async def on_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every member message, command and button goes through the orchestrator."""
    incoming = incoming_from_update(update)
    if incoming is None:
        return
    chat_id = update.effective_chat.id
    if update.callback_query is not None:
        with contextlib.suppress(Exception):
            await update.callback_query.answer()
    typing = None
    if incoming.kind in (orchestrator.Kind.TEXT, orchestrator.Kind.CALLBACK):
        typing = asyncio.create_task(_keep_typing(context.bot, chat_id))
    try:
        parts = await orchestrator.handle_async(incoming, run_db=run_sync)
    finally:
        if typing:
            typing.cancel()
    await deliver(context, chat_id, parts, incoming.identity.telegram_id)


async def on_my_chat_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The member blocked or unblocked the bot."""
    change = update.my_chat_member
    if change is None or change.chat.type != "private":
        return
    from bot.services.members import member_mark_blocked, member_mark_unblocked

    if change.new_chat_member.status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT):
        await run_sync(member_mark_blocked, telegram_id=change.from_user.id)
    elif change.new_chat_member.status == ChatMemberStatus.MEMBER:
        await run_sync(member_mark_unblocked, telegram_id=change.from_user.id)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One global error handler: log without personal data, apologise, keep running."""
    update_id = getattr(update, "update_id", None)
    logger.error("update %s failed: %s", update_id, type(context.error).__name__,
                 exc_info=(type(context.error), context.error, context.error.__traceback__))
    from bot.services.failures import failure_report

    with contextlib.suppress(Exception):
        await run_sync(failure_report, source="бот: обработка сообщения", error=context.error)
    if isinstance(update, Update) and update.effective_chat and update.effective_chat.type == "private":
        from bot.services.natasha import template_html

        try:
            text = await run_sync(template_html, "error_apology")
        except Exception:  # noqa: BLE001 — the database itself may be the problem
            text = "Прости, у меня что-то сбилось. Напиши ещё раз, и продолжим."
        with contextlib.suppress(Exception):
            await context.bot.send_message(update.effective_chat.id, text or "Прости, у меня что-то сбилось.")


async def post_init(application: Application) -> None:
    with contextlib.suppress(Exception):
        await application.bot.set_my_commands([BotCommand(c, d) for c, d in BOT_COMMANDS])


def build_application(*, token: str | None = None, base_url: str | None = None, updater: bool = True) -> Application:
    """The bot application with every handler and the global error handler registered."""
    builder = (
        ApplicationBuilder()
        .token(token or settings.TELEGRAM_BOT_TOKEN)
        .base_url(base_url or settings.TELEGRAM_API_BASE_URL)
        .request(WatchedRequest(connection_pool_size=128, read_timeout=20, write_timeout=20, connect_timeout=5))
        .get_updates_request(WatchedRequest(read_timeout=40, connect_timeout=5))
        .concurrent_updates(PerMemberUpdateProcessor())
        .post_init(post_init)
    )
    if not updater:
        builder = builder.updater(None)
    application = builder.build()
    application.add_handler(TypeHandler(Update, claim_update), group=-1)
    application.add_handler(ChatMemberHandler(on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_handler(CallbackQueryHandler(on_update))
    application.add_handler(MessageHandler(filters.UpdateType.MESSAGES, on_update))
    application.add_error_handler(on_error)
    return application
