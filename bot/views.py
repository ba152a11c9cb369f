"""The Telegram webhook, served by Django under ASGI.

Django's ASGI handler has no lifespan events, so there is no startup hook to build the bot
application in. Each event loop (one per uvicorn worker) builds and initialises its own
application lazily on the first webhook request, guarded by a lock so concurrent first
requests share one; it is never ``start()``-ed because the webhook view feeds it updates
directly. Updates go through the application's per-member update processor, so one
member's updates are handled in order within a worker; across workers and hosts a Redis
queue and lock per chat (``telegram/ordering.py``) keeps them one at a time in ``update_id``
order, and the ``update_id`` claim makes a redelivery (or a copy at another worker) a no-op.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from telegram import Update
from telegram.error import InvalidToken
from telegram.ext import Application

from relove.core import liveness

from .telegram.ordering import chat_turn
from .telegram.runtime import PerMemberUpdateProcessor, build_application, webhook_given_back

logger = logging.getLogger(__name__)

# Telegram updates nest a handful of levels (message → reply_to_message → entities …); a body
# nested deeper is an attack on the parser, answered 400 before Update.de_json recurses into it.
MAX_JSON_DEPTH = 32
MAX_UPDATE_ID = 2**63 - 1  # Telegram's update_id is a signed 64-bit integer, never negative

_applications: dict[asyncio.AbstractEventLoop, Application] = {}
_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}


async def webhook_application() -> Application:
    loop = asyncio.get_running_loop()
    application = _applications.get(loop)
    if application is not None:
        return application
    lock = _locks.setdefault(loop, asyncio.Lock())
    async with lock:
        application = _applications.get(loop)
        if application is None:
            application = build_application(updater=False)
            await application.initialize()
            _applications[loop] = application
    return application


def _secret_ok(request) -> bool:
    expected = settings.TELEGRAM_WEBHOOK_SECRET
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def valid_update_id(value) -> bool:
    """A real int (not a bool) in [0, 2^63 - 1]: what Telegram sends and the BigInteger column holds."""
    return type(value) is int and 0 <= value <= MAX_UPDATE_ID


def json_depth(value) -> int:
    """Nesting depth of parsed JSON, computed without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                return deepest
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


@csrf_exempt
async def telegram_webhook(request):
    if request.method != "POST":
        return HttpResponse(status=405)
    if not _secret_ok(request):
        logger.warning("webhook call with a missing or wrong secret token")
        return JsonResponse({"ok": False, "error": "forbidden"}, status=403)
    liveness.note(liveness.BOT, detail="вебхук Telegram")
    try:
        data = json.loads(request.body)
    except (ValueError, RecursionError):
        return JsonResponse({"ok": False, "error": "malformed body"}, status=400)
    if json_depth(data) > MAX_JSON_DEPTH:
        return JsonResponse({"ok": False, "error": "nested too deeply"}, status=400)
    if not isinstance(data, dict) or not valid_update_id(data.get("update_id")):
        return JsonResponse({"ok": False, "error": "not an update"}, status=400)
    try:
        application = await webhook_application()
    except InvalidToken:
        # PTB's message quotes the token: log that it was rejected, never the exception text.
        logger.error("Telegram rejected TELEGRAM_BOT_TOKEN; the webhook cannot answer")
        return JsonResponse({"ok": False, "error": "bot unavailable"}, status=503)
    try:
        update = Update.de_json(data, application.bot)
    except Exception:  # noqa: BLE001 — any undecodable update is the sender's problem
        return JsonResponse({"ok": False, "error": "not an update"}, status=400)
    # Handler errors are caught by the application's error handler; Telegram gets 200 for a
    # well-formed update so it does not redeliver what was handled, 503 for one given back.
    # Across workers and hosts: one chat at a time, in update_id order (bot/telegram/ordering.py).
    async with chat_turn(PerMemberUpdateProcessor.chat_key(update), update.update_id):
        await application.update_processor.process_update(update, application.process_update(update))
    if update.update_id in webhook_given_back:
        # The database failed: a non-200 answer makes Telegram deliver the update again later.
        webhook_given_back.discard(update.update_id)
        return JsonResponse({"ok": False, "error": "database unavailable, retry"}, status=503)
    return JsonResponse({"ok": True})
