"""What happens to a message after one attempt: the one policy every sender follows.

Proactive messages, stream steps, broadcasts and staff alerts each store their delivery
state in their own table, but they all ask ``next_step`` what an outcome means, so "a
maybe-delivered message is never sent again" or "a 429 does not use up an attempt" is
decided here once.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from .transport import Delivery, Outcome


class Next(enum.StrEnum):
    SENT = "sent"
    BLOCKED = "blocked"  # 403: the member blocked the bot; never retried, the member is marked
    FAILED = "failed"  # permanent error, or out of attempts; nothing was delivered
    RETRY = "retry"  # try again at ``Step.at``
    UNKNOWN = "unknown"  # the request may have reached Telegram: never sent again
    UNSENT = "unsent"  # the sender stopped before the request (cancelled, shutting down)


@dataclass(frozen=True)
class Step:
    next: Next
    at: datetime | None = None  # when to try again (RETRY only)
    attempt_used: bool = True  # False: Telegram's flood control or our own stop, not a real try
    reason: str = ""

    @property
    def delivered(self) -> bool | None:
        """True sent, False certainly not delivered (the daily slot can be given back), None unknown."""
        if self.next is Next.SENT:
            return True
        return None if self.next is Next.UNKNOWN else False


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: ``base · 2^(attempts-1)``, capped, times 0.5–1.0."""

    base: timedelta
    cap: timedelta

    def delay(self, attempts: int) -> timedelta:
        raw = min(self.cap, self.base * 2 ** max(0, attempts - 1))
        # Jitter, so that retries of many members failing together do not come back together.
        return raw * random.uniform(0.5, 1.0)


def next_step(outcome: Outcome, *, attempts: int, max_attempts: int, now: datetime, backoff: Backoff) -> Step:
    """The next state after an attempt; ``attempts`` counts this one."""
    match outcome.status:
        case Delivery.SENT:
            return Step(Next.SENT)
        case Delivery.BLOCKED:
            return Step(Next.BLOCKED, reason=outcome.error)
        case Delivery.PERMANENT:
            return Step(Next.FAILED, reason=outcome.error)
        case Delivery.RETRY_AFTER:
            # Every sender was paused already (see transport.send_limited); this one waits as long.
            return Step(Next.RETRY, at=now + timedelta(seconds=outcome.retry_after or 1.0), attempt_used=False,
                        reason=outcome.error)
        case Delivery.NOT_SENT:
            return Step(Next.UNSENT, attempt_used=False)
    if outcome.maybe_delivered:
        return Step(Next.UNKNOWN, reason=outcome.error)
    if attempts < max_attempts:
        return Step(Next.RETRY, at=now + backoff.delay(attempts), reason=outcome.error)
    return Step(Next.FAILED, reason=f"{attempts} попыток, последняя: {outcome.error}")
