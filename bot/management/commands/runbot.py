"""Run the Telegram bot: long polling by default, or register the webhook with --webhook."""

import asyncio
import contextlib
import signal
import sys
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from telegram import Update
from telegram.error import TelegramError

from bot.telegram.instance import PollingAlreadyRunning, polling_claim
from bot.telegram.runtime import build_application
from relove.core.crypto import verify_keys
from relove.core.staff_errors import capitalized, describe


class Command(BaseCommand):
    help = ("Run the bot with long polling (default). --webhook registers TELEGRAM_WEBHOOK_URL with "
            "TELEGRAM_WEBHOOK_SECRET and exits; updates are then served by POST /telegram/webhook/.")

    def add_arguments(self, parser):
        parser.add_argument("--webhook", action="store_true", help="register the webhook and exit")
        parser.add_argument("--optional", action="store_true",
                            help="without TELEGRAM_BOT_TOKEN, wait quietly instead of failing (make run)")

    def handle(self, *args, webhook, optional, **options):
        if not settings.TELEGRAM_BOT_TOKEN:
            if not optional:
                raise CommandError("TELEGRAM_BOT_TOKEN is not set. Without Telegram, use `manage.py chat`.")
            self.stdout.write("No TELEGRAM_BOT_TOKEN: the bot is not started. Talk to Natasha with "
                              "`.venv/bin/python manage.py chat`.")
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            stop.wait()
            return
        verify_keys()
        if webhook:
            self._register_webhook()
            return
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(polling_claim(settings.TELEGRAM_BOT_TOKEN))
            except PollingAlreadyRunning:
                raise CommandError(
                    "Another bot process is already long-polling with this TELEGRAM_BOT_TOKEN. Telegram allows "
                    "one getUpdates client per bot: stop the other process, or serve several processes through "
                    "the webhook (runbot --webhook, then uvicorn).") from None
            application = build_application()
            # The event loop (sends, their rate-limit slots, the LLM) shares the GIL with the
            # database threads; at the default 5 ms a busy thread delays every send due meanwhile,
            # and late sends arrive at Telegram in a bunch (429). 1 ms, as the broadcast sender.
            sys.setswitchinterval(0.001)
            self.stdout.write("Bot started (long polling). SIGTERM or Ctrl+C stops it cleanly.")
            try:
                application.run_polling(allowed_updates=Update.ALL_TYPES,
                                        stop_signals=(signal.SIGINT, signal.SIGTERM), close_loop=True)
            except TelegramError as exc:  # e.g. a revoked token: the cause, never PTB's text quoting it
                raise CommandError(capitalized(describe(exc))) from None
        self.stdout.write("Bot stopped.")

    def _register_webhook(self):
        if not (settings.TELEGRAM_WEBHOOK_URL and settings.TELEGRAM_WEBHOOK_SECRET):
            raise CommandError("--webhook needs TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET.")

        async def register():
            application = build_application(updater=False)
            async with application:
                await application.bot.set_webhook(settings.TELEGRAM_WEBHOOK_URL,
                                                  secret_token=settings.TELEGRAM_WEBHOOK_SECRET,
                                                  allowed_updates=Update.ALL_TYPES)
                await application.post_init(application)

        try:
            asyncio.run(register())
        except TelegramError as exc:
            raise CommandError(capitalized(describe(exc))) from None
        self.stdout.write(self.style.SUCCESS(f"Webhook registered: {settings.TELEGRAM_WEBHOOK_URL}"))
