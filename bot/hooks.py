"""Extension points of the bot for the apps above it (triggers, broadcasts).

The bot never imports those apps: they register plain functions here from their
``AppConfig.ready``. One registry style for every hook.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DailyBudget:
    max_per_day: int
    zone: tzinfo  # the member's local day is counted in this zone


QuickReplyResolver = Callable[..., str | None]  # resolver(user=..., data=...) -> the text the button stands for
MessageListener = Callable[..., None]  # listener(user=..., at=...) after a member's message is stored
BudgetPolicy = Callable[..., DailyBudget]  # policy(user) -> that member's daily budget
StaffCommand = Callable[..., str]  # handler(telegram_id=..., args=[...]) -> safe Telegram HTML

_quick_reply_sources: dict[str, QuickReplyResolver] = {}
_message_listeners: dict[str, MessageListener] = {}
_budget_policy: list[BudgetPolicy] = []
_commands: dict[str, StaffCommand] = {}


def register_quick_reply_source(prefix: str, resolver: QuickReplyResolver) -> None:
    """Buttons whose callback data starts with ``prefix:`` are resolved by ``resolver``."""
    _quick_reply_sources[prefix] = resolver


def quick_reply_source(prefix: str) -> QuickReplyResolver | None:
    return _quick_reply_sources.get(prefix)


def register_message_listener(name: str, listener: MessageListener) -> None:
    """``listener`` hears of every stored member message; registering a name twice replaces it."""
    _message_listeners[name] = listener


def member_message_stored(*, user, at: datetime) -> None:
    """Tell the listeners; a failing listener is logged and never breaks the member's turn."""
    for name, listener in _message_listeners.items():
        try:
            listener(user=user, at=at)
        except Exception:  # a side effect (analytics, attribution) must not cost the member a reply
            logger.exception("message listener %s failed", name)


def register_daily_budget(policy: BudgetPolicy) -> None:
    """The rules of the daily budget (how many messages, in which zone); the proactivity app owns them."""
    _budget_policy[:] = [policy]


def daily_budget(user) -> DailyBudget | None:
    """``user``'s daily budget, or None when no app set one (then nothing counts against a budget)."""
    return _budget_policy[0](user) if _budget_policy else None


def register_command(name: str, handler: StaffCommand) -> None:
    """A bot command for staff owned by an app above the bot (e.g. ``/staff CODE``).

    It concerns the staff member's own account, not a member's data: no consent gate, nothing
    logged about it as a member turn.
    """
    _commands[name] = handler


def command(name: str) -> StaffCommand | None:
    return _commands.get(name)
