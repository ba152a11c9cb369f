"""Logging that never prints a secret, even inside an exception a library raised."""

from __future__ import annotations

import logging
import re

from django.conf import settings

REDACTED = "[redacted]"
# A Telegram bot token anywhere (also one not configured here, e.g. a mistyped one).
_BOT_TOKEN = re.compile(r"(?<!\d)\d{5,}:[A-Za-z0-9_-]{30,}")


def redact(text: str) -> str:
    for secret in (getattr(settings, "TELEGRAM_BOT_TOKEN", ""), getattr(settings, "OPENAI_API_KEY", ""),
                   getattr(settings, "ANTHROPIC_API_KEY", ""), getattr(settings, "TELEGRAM_WEBHOOK_SECRET", "")):
        if secret and len(secret) >= 8:
            text = text.replace(secret, REDACTED)
    return _BOT_TOKEN.sub(REDACTED, text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
