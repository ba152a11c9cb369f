"""Linking a staff account to its Telegram id by a code sent through the bot.

The admin issues a one-time code (valid LINK_CODE_TTL seconds, kept only in the cache); the
staff member sends ``/staff CODE`` to the bot from their own Telegram, which proves the id.
Test sends go only to ids proven this way, never to one somebody typed.
"""

from __future__ import annotations

import secrets

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from ..models import StaffTelegramAccount

LINK_CODE_TTL = 600
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a screen and typed


def _key(code: str) -> str:
    return f"staff-link:{code.upper()}"


def staff_link_code_issue(*, staff_user) -> str:
    """A fresh single-use code for this staff account."""
    code = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    cache.set(_key(code), staff_user.pk, LINK_CODE_TTL)
    return code


@transaction.atomic
def staff_link_confirm(*, telegram_id: int, code: str) -> StaffTelegramAccount | None:
    """Link the staff account that issued ``code`` to ``telegram_id``; None for an unknown or
    used code. The code is consumed either way it matched."""
    if not code or len(code) > 16:
        return None
    staff_pk = cache.get(_key(code))
    if staff_pk is None or not cache.delete(_key(code)):
        return None  # unknown, expired, or just used by a concurrent confirmation
    account, _ = StaffTelegramAccount.objects.update_or_create(
        user_id=staff_pk, defaults={"telegram_id": telegram_id, "verified_at": timezone.now()})
    return account


def staff_link_command(*, telegram_id: int, args: list[str]) -> str:
    """The bot's ``/staff CODE``."""
    account = staff_link_confirm(telegram_id=telegram_id, code=args[0] if args else "")
    if account is None:
        return "Код не подошёл или устарел. Получите новый в админке: «Telegram сотрудников» → «Привязать Telegram»."
    return "Готово: тестовые рассылки будут приходить сюда."
