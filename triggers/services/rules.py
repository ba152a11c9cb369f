"""The delivery rules as one pure decision: send now, or the first moment it may be sent.

Kept free of the database so the property tests can drive it through thousands of days,
zones and DST transitions; ``delivery`` feeds it the member's usage and applies the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from .windows import local_date, next_allowed_moment, next_day_window_start


@dataclass(frozen=True)
class Rules:
    window_start: time
    window_end: time
    max_per_day: int
    min_interval: timedelta

    @classmethod
    def from_config(cls, config) -> Rules:
        return cls(window_start=config.window_start, window_end=config.window_end,
                   max_per_day=config.max_per_day, min_interval=config.min_interval)


def plan_send(*, now: datetime, zone: ZoneInfo, rules: Rules, sent_today: int,
              last_sent_at: datetime | None) -> datetime | None:
    """``None`` when a due message may go out at ``now``, else the first moment it may.

    ``sent_today`` counts the member's messages on the local day of ``now`` (daily budget
    slots in use); ``last_sent_at`` is the latest of them on any day. Guarantees: the
    answer is inside the window in the member's zone, at least ``min_interval`` after the
    last message, and on a later local day when today's budget is spent. Later days are
    assumed empty; the claim re-checks the budget against the database when the time comes.
    """
    earliest = now if last_sent_at is None else max(now, last_sent_at + rules.min_interval)
    moment = next_allowed_moment(earliest, zone, rules.window_start, rules.window_end)
    if local_date(moment, zone) == local_date(now, zone) and sent_today >= rules.max_per_day:
        tomorrow = next_day_window_start(now, zone, rules.window_start, rules.window_end)
        moment = next_allowed_moment(max(tomorrow, earliest), zone, rules.window_start, rules.window_end)
    return None if moment == now else moment
