"""The python-telegram-bot application: handlers that translate Updates for the orchestrator.

Handlers never touch the ORM. They turn an ``Update`` into an ``Incoming``, run the
orchestrator (its database parts in the bot's bounded database threads, ``run_sync``; its
LLM calls awaited on the event loop), and send what it returns through the shared,
rate-limited sender. Up to ``BOT_MAX_CONCURRENT_TURNS`` updates from different members run
concurrently; one member's updates run in order (``PerMemberUpdateProcessor``).

Each update is taken once (``handled_once``). A database that cannot be reached is waited for
with backoff (``BOT_DB_RETRY_SECONDS``) before each database part; if it is still down, or
fails inside a part, the update is given back instead of lost: the webhook answers 503 so
Telegram delivers it again, polling puts it back in the queue, and it is handled once the
database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from telegram import BotCommand, Update
from telegram.constants import ChatAction, ChatMemberStatus
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
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
TYPING_DELAY_SECONDS = 0.5
REPLY_RETRY_AFTER_ATTEMPTS = 5
LIMITER = "limiter"  # bot_data key of the application's shared outbound rate limiter


_executors: dict[int, ThreadPoolExecutor] = {}


def db_executor() -> ThreadPoolExecutor:
    """The bot process's threads for database work: ``BOT_DB_THREADS`` (at most the database pool).

    Not the event loop's default executor (``min(32, cpu + 4)`` threads, shared with anything
    else): turns in flight are bounded by ``BOT_MAX_CONCURRENT_TURNS``; these threads only run
    the short database parts of turns, never the wait for the LLM.
    """
    size = settings.BOT_DB_THREADS
    executor = _executors.get(size)
    if executor is None:
        executor = _executors[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="bot-db")
    return executor


# Connection refused or reset, server restarting, pool timeout: the database is not there.
DATABASE_ERRORS = (OperationalError, InterfaceError)


def _connect() -> None:
    """A healthy connection for this thread, waiting for the database with backoff and jitter
    for up to ``BOT_DB_RETRY_SECONDS`` (a pool wait counts in full); then its error is raised.

    Safe to retry: nothing of the part has run yet.
    """
    deadline = time.monotonic() + settings.BOT_DB_RETRY_SECONDS
    pause = 0.25
    while True:
        if connection.connection is not None:  # a persistent connection (no pool): closed when stale
            close_old_connections()
        try:
            connection.ensure_connection()
            return
        except DATABASE_ERRORS as exc:
            connection.close()
            if time.monotonic() + pause >= deadline:
                raise
            logger.warning("database unreachable (%s); retrying in up to %.1fs", type(exc).__name__, pause)
            time.sleep(random.uniform(pause / 2, pause))
            pause = min(pause * 2, 4.0)


def _with_connections(fn: Callable[..., Any], *args, **kwargs):
    """Run ``fn`` with a healthy connection, and give the connection back afterwards.

    With the PostgreSQL pool the connection returns to the pool after every part, so a turn
    waiting for the LLM holds none; without it each thread keeps one persistent connection
    (at most ``BOT_DB_THREADS``), closed when stale.
    """
    _connect()
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

# Updates this process gave back after a database failure (id -> times), so it may take their
# claims again at once; and those the webhook view must answer 503 (Telegram redelivers them).
_given_back: dict[int, int] = {}
webhook_given_back: set[int] = set()
_releasing: dict[int, asyncio.Task] = {}  # webhook: claims waiting for the database to be released
_background: set[asyncio.Task] = set()
GIVEN_BACK_MAX_DELAY = 30.0


def _in_background(coroutine) -> asyncio.Task:
    task = asyncio.get_running_loop().create_task(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


async def _when_database_is_back(fn: Callable[..., Any], update_id: int) -> None:
    """Run ``fn(update_id=…)`` as soon as the database answers (for at most the claim lease,
    after which an unfinished claim is free anyway)."""
    deadline = time.monotonic() + settings.UPDATE_CLAIM_LEASE_SECONDS
    while time.monotonic() < deadline:
        try:
            await run_sync(fn, update_id=update_id)
            return
        except DATABASE_ERRORS:
            await asyncio.sleep(1.0)
    logger.warning("update %s: database still unavailable, claim left to expire", update_id)


def _forget_release(update_id: int, task: asyncio.Task) -> None:
    if _releasing.get(update_id) is task:
        del _releasing[update_id]


async def _queue_again(application: Application, update: Update, delay: float) -> None:
    await asyncio.sleep(delay)
    await application.update_queue.put(update)


def _give_back(update: Update, application: Application, reason: str) -> None:
    """The update is not lost: handled again when the database is back (see the module docstring)."""
    times = _given_back[update.update_id] = _given_back.get(update.update_id, 0) + 1
    logger.warning("update %s given back (%s, %d time(s)); it is handled when the database is back",
                   update.update_id, reason, times)
    if application.updater is None:  # webhook: Telegram keeps it until it gets a 200
        from bot.services.updates import update_release

        webhook_given_back.add(update.update_id)
        # Deleting the claim lets the redelivery (maybe at another worker) take it at once.
        task = _releasing[update.update_id] = _in_background(_when_database_is_back(update_release, update.update_id))
        task.add_done_callback(functools.partial(_forget_release, update.update_id))
    else:
        _in_background(_queue_again(application, update, min(GIVEN_BACK_MAX_DELAY, 2.0**times)))


async def _finish(update_id: int) -> None:
    from bot.services.updates import update_done

    _given_back.pop(update_id, None)
    try:
        await run_sync(update_done, update_id=update_id)
    except DATABASE_ERRORS:
        # Answered already: marked as soon as the database is back, so no redelivery repeats it.
        logger.warning("update %s handled; marked done when the database is back", update_id)
        _in_background(_when_database_is_back(update_done, update_id))


def handled_once(handler: Callable) -> Callable:
    """Take the update's id first (a redelivered or parallel copy stops there), run ``handler``,
    mark it done; on a database failure give it back instead of losing it."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        from bot.services.updates import Claim, update_claim

        update_id = update.update_id
        if (releasing := _releasing.pop(update_id, None)) is not None:
            releasing.cancel()  # the redelivery came here: this process takes the claim again itself
        try:
            claim = await run_sync(update_claim, update_id=update_id, retake=update_id in _given_back)
        except DATABASE_ERRORS as exc:
            return _give_back(update, context.application, type(exc).__name__)
        if claim is Claim.DONE:
            logger.info("update %s already processed; skipped", update_id)
            return None
        if claim is Claim.BUSY:
            return _give_back(update, context.application, "being handled elsewhere")
        try:
            await handler(update, context)
        except DATABASE_ERRORS as exc:
            return _give_back(update, context.application, type(exc).__name__)
        except Exception:
            await _finish(update_id)
            raise  # to on_error: logged, staff told, the member gets an apology
        await _finish(update_id)
        return None

    return wrapper


async def _keep_typing(bot, chat_id: int) -> None:
    """«печатает…» while a turn takes a while; a turn answered within ``TYPING_DELAY_SECONDS`` sends
    none (one request less per fast turn: templates, commands, a quick LLM)."""
    with contextlib.suppress(Exception):
        await asyncio.sleep(TYPING_DELAY_SECONDS)
        while True:
            await bot.send_chat_action(chat_id, ChatAction.TYPING)
            await asyncio.sleep(TYPING_REFRESH_SECONDS)


async def deliver(context: ContextTypes.DEFAULT_TYPE, chat_id: int, parts: list[OutgoingMessage],
                  telegram_id: int) -> None:
    if not parts:
        return
    limiter = context.bot_data[LIMITER]
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


@handled_once
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


@handled_once
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


# Connections for replies, «печатает…» and button answers. Replies leave at Telegram's ~30/s, a
# request takes well under a second, so 16 is ample; more would only lengthen httpcore's walk over
# its pool on every request (see WatchedRequest).
REPLY_CONNECTIONS = 16


def build_application(*, token: str | None = None, base_url: str | None = None, updater: bool = True) -> Application:
    """The bot application with every handler and the global error handler registered."""
    from bot.safety import gate

    gate.warm_up()  # the first burst of members must not each load the morphology dictionaries
    builder = (
        ApplicationBuilder()
        .token(token or settings.TELEGRAM_BOT_TOKEN)
        .base_url(base_url or settings.TELEGRAM_API_BASE_URL)
        .request(WatchedRequest(connection_pool_size=REPLY_CONNECTIONS, read_timeout=20, write_timeout=20,
                                connect_timeout=5))
        .get_updates_request(WatchedRequest(read_timeout=40, connect_timeout=5))
        .concurrent_updates(PerMemberUpdateProcessor())
        .post_init(post_init)
    )
    if not updater:
        builder = builder.updater(None)
    application = builder.build()
    # One limiter per application: building one connects a Redis client and registers three scripts.
    application.bot_data[LIMITER] = RateLimiter()
    application.add_handler(ChatMemberHandler(on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_handler(CallbackQueryHandler(on_update))
    application.add_handler(MessageHandler(filters.UpdateType.MESSAGES, on_update))
    application.add_error_handler(on_error)
    return application
