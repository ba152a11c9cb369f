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
from telegram.ext import Application

from .telegram.ordering import chat_turn
from .telegram.runtime import PerMemberUpdateProcessor, build_application

logger = logging.getLogger(__name__)

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


@csrf_exempt
async def telegram_webhook(request):
    if request.method != "POST":
        return HttpResponse(status=405)
    if not _secret_ok(request):
        logger.warning("webhook call with a missing or wrong secret token")
        return JsonResponse({"ok": False, "error": "forbidden"}, status=403)
    try:
        data = json.loads(request.body)
    except ValueError:
        return JsonResponse({"ok": False, "error": "malformed body"}, status=400)
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return JsonResponse({"ok": False, "error": "not an update"}, status=400)
    application = await webhook_application()
    try:
        update = Update.de_json(data, application.bot)
    except Exception:  # noqa: BLE001 — any undecodable update is the sender's problem
        return JsonResponse({"ok": False, "error": "not an update"}, status=400)
    # Handler errors are caught by the application's error handler; Telegram always gets 200
    # for a well-formed update so it does not redeliver what was already claimed.
    # Across workers and hosts: one chat at a time, in update_id order (bot/telegram/ordering.py).
    async with chat_turn(PerMemberUpdateProcessor.chat_key(update), update.update_id):
        await application.update_processor.process_update(update, application.process_update(update))
    return JsonResponse({"ok": True})
