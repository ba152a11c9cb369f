"""The member's daily budget of messages the bot writes first, enforced by the database.

Every such message holds a ``(member, local_date, slot)`` triple on a ``ProactiveTrigger``
row, with ``slot`` in ``1..max_per_day`` and the triple unique. Whoever takes a slot —
the trigger engine at claim time, or a broadcast that counts against the budget — goes
through ``take_slot`` here, so the unique constraint is the final word on "at most N a day"
even with any number of concurrent workers.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from profiles.models import TelegramUser

from .models import ProactiveTrigger, ProactivityConfig


def member_zone(user: TelegramUser, config: ProactivityConfig):
    """The member's zone: their own, else the default from the config."""
    from .services.windows import as_zone  # the services package imports this module

    return as_zone(user.timezone or config.default_timezone, default=config.default_timezone or "Europe/Moscow")


def slots_in_use(*, user_id: int, day: date) -> set[int]:
    return set(ProactiveTrigger.objects.filter(user_id=user_id, local_date=day, slot__isnull=False)
               .values_list("slot", flat=True))


def take_slot(*, user_id: int, day: date, max_per_day: int, write) -> int | None:
    """Give the row written by ``write(slot)`` the lowest free slot of ``day``; None when spent.

    Must run inside a transaction. Each attempt is a savepoint: when a concurrent worker
    took the same slot first, the unique constraint refuses ours and we look again, at most
    ``max_per_day`` times, so the loop is bounded.
    """
    for _attempt in range(max_per_day + 1):
        used = slots_in_use(user_id=user_id, day=day)
        free = [slot for slot in range(1, max_per_day + 1) if slot not in used]
        if len(used) >= max_per_day or not free:
            return None
        try:
            with transaction.atomic():
                write(free[0])
            return free[0]
        except IntegrityError:
            continue
    return None


@transaction.atomic
def claim_daily_slot(*, user: TelegramUser, at: datetime | None = None) -> tuple[date, int] | None:
    """Count one message to ``user`` at ``at`` against their daily budget.

    For broadcasts marked "counts against the budget": call right before sending; ``None``
    means the member already got ``max_per_day`` messages on that local day (send nothing,
    or later). Returns ``(local_date, slot)``; give it back with ``release_daily_slot`` if
    the message was not delivered. Safe under concurrency (see ``take_slot``).
    """
    at = at or timezone.now()
    config = ProactivityConfig.load()
    day = at.astimezone(member_zone(user, config)).date()

    def write(slot: int) -> None:
        ProactiveTrigger.objects.create(
            user=user, kind=ProactiveTrigger.Kind.BROADCAST, status=ProactiveTrigger.Status.SENT,
            dedupe_key="budget:broadcast", scheduled_for=at, claimed_at=at, local_date=day, slot=slot,
            payload={"source": "broadcast"})

    slot = take_slot(user_id=user.pk, day=day, max_per_day=config.max_per_day, write=write)
    return None if slot is None else (day, slot)


def release_daily_slot(*, user: TelegramUser, local_date: date, slot: int) -> bool:
    """Give back a slot taken by ``claim_daily_slot`` for a message that was not delivered."""
    deleted, _ = ProactiveTrigger.objects.filter(user=user, kind=ProactiveTrigger.Kind.BROADCAST,
                                                 local_date=local_date, slot=slot).delete()
    return bool(deleted)
