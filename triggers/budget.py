"""The daily budget's rules: how many messages a member may get on their local day, and which day.

The ledger itself is ``bot.models.DailyMessageSlot`` (``bot.services.budget``), shared with
broadcasts; the proactivity settings own the rules and register them with the bot.
"""

from __future__ import annotations

from django.conf import settings

from bot.hooks import DailyBudget
from profiles.models import TelegramUser

from .models import ProactivityConfig


def member_zone(user: TelegramUser, config: ProactivityConfig):
    """The member's zone: their own, else the default from the config."""
    from .services.windows import as_zone  # the services package imports this module

    default = config.default_timezone or settings.TIME_ZONE_DEFAULT
    return as_zone(user.timezone or default, default=default)


def daily_budget_policy(user: TelegramUser) -> DailyBudget:
    """Registered with ``bot.hooks``: the current settings, read fresh (edits apply at once)."""
    config = ProactivityConfig.load()
    return DailyBudget(max_per_day=config.max_per_day, zone=member_zone(user, config))
