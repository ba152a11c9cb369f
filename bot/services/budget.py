"""The member's daily budget of messages the bot writes first, enforced by the database.

Proactive messages and broadcasts that count against the budget take a ``DailyMessageSlot``
through ``daily_slot_take`` right before sending and give it back with ``daily_slot_release``
when the message was certainly not delivered. The unique ``(member, local_date, slot)`` is
the final word on "at most N a day", with any number of concurrent workers.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.db.models import Max

from bot import hooks
from bot.models import DailyMessageSlot
from profiles.models import TelegramUser

Source = DailyMessageSlot.Source


def daily_slot_take(*, user: TelegramUser, at: datetime, source: str, max_per_day: int | None = None,
                    day: date | None = None) -> DailyMessageSlot | None:
    """The lowest free slot of the member's local day of ``at``; None when the day is spent.

    ``max_per_day`` and ``day`` default to the registered budget rules (``hooks.daily_budget``).
    Each attempt is a savepoint: when a concurrent worker took the same slot first, the
    unique constraint refuses ours and we look again, at most ``max_per_day`` times.
    """
    if max_per_day is None or day is None:
        budget = hooks.daily_budget(user)
        if budget is None:
            raise RuntimeError("no daily budget rules are registered (is the triggers app installed?)")
        max_per_day = budget.max_per_day if max_per_day is None else max_per_day
        day = at.astimezone(budget.zone).date() if day is None else day
    for _attempt in range(max_per_day + 1):
        used = set(DailyMessageSlot.objects.filter(user_id=user.pk, local_date=day).values_list("slot", flat=True))
        free = [slot for slot in range(1, max_per_day + 1) if slot not in used]
        if not free:
            return None
        try:
            with transaction.atomic():
                return DailyMessageSlot.objects.create(user_id=user.pk, local_date=day, slot=free[0], source=source,
                                                       taken_at=at)
        except IntegrityError:
            continue
    return None


def daily_slot_release(*, slot_ids: list[int]) -> int:
    """Give slots back (their messages were certainly not delivered); returns how many."""
    ids = [pk for pk in slot_ids if pk is not None]
    if not ids:
        return 0
    deleted, _ = DailyMessageSlot.objects.filter(pk__in=ids).delete()
    return deleted


def daily_budget_usage(*, user_ids: list[int], since_day: date) -> tuple[Counter, dict[int, datetime]]:
    """Slots in use per ``(member, local day)`` from ``since_day`` on, and each member's last one's time."""
    per_day: Counter = Counter()
    rows = DailyMessageSlot.objects.filter(user_id__in=user_ids, local_date__gte=since_day)
    for user_id, day in rows.values_list("user_id", "local_date"):
        per_day[(user_id, day)] += 1
    last = dict(rows.values("user_id").annotate(last=Max("taken_at")).values_list("user_id", "last").order_by())
    return per_day, last
