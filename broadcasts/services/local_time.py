"""Delivery in each member's local time ("at 10:00 in the member's zone").

When such a broadcast starts, every delivery row gets its own due moment in
``next_attempt_at``: the chosen clock time on the chosen local date in the member's zone (their
own zone, else the default one), or the next day where that moment has already passed, and
always inside the sending window of the proactivity settings. Workers claim only rows whose
moment has come (``next_attempt_at <= now``), so the broadcast spreads over the day as the
zones reach it; the beat dispatcher hands due rows to a worker every minute.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Count, QuerySet
from django.utils import formats

from profiles.models import TelegramUser
from profiles.zones import zone_or_default
from triggers.models import ProactivityConfig
from triggers.services.windows import at_local_time, is_allowed, local_date, next_allowed_moment, zone_named

from ..models import Broadcast, BroadcastDelivery

Window = tuple[time, time]


def sending_window() -> Window:
    """The members' sending window ``[start, end)`` from the proactivity settings, read fresh."""
    config = ProactivityConfig.load()
    return config.window_start, config.window_end


def check_local_time(clock: time | None, *, window: Window | None = None) -> list[str]:
    """Problems with a chosen local delivery time (it must fall inside the sending window)."""
    if clock is None:
        return []
    start, end = window or sending_window()
    if not start <= clock < end:
        return [f"Время по местному времени участника должно быть внутри окна отправки "
                f"с {start:%H:%M} до {end:%H:%M} (настройки проактивности)."]
    return []


def local_due(*, zone: ZoneInfo, clock: time, day: date | None, now: datetime, window: Window) -> datetime:
    """The moment a member in ``zone`` gets the broadcast: ``clock`` on their local ``day``.

    ``day`` empty or already over in that zone means the member's today; if ``clock`` has
    passed there, the next day. A moment outside the sending window (a DST jump, settings
    changed since) moves to the window's next opening. Never earlier than ``now``.
    """
    today = local_date(now, zone)
    day = max(day or today, today)
    due = at_local_time(day, clock, zone)
    if due < now:
        due = at_local_time(day + timedelta(days=1), clock, zone)
    return next_allowed_moment(due, zone, *window)


def zone_resolver() -> Callable[[str], ZoneInfo]:
    """``name -> ZoneInfo`` for many names: a blank or unknown name is the default zone, looked
    up once (``zone_or_default`` reads the settings on every call)."""
    default = zone_or_default("")

    def resolve(name: str) -> ZoneInfo:
        if not name:
            return default
        try:
            return zone_named(name)
        except (ZoneInfoNotFoundError, ValueError):
            return default

    return resolve


def _zone_counts(members: QuerySet[TelegramUser]) -> list[tuple[str, int]]:
    return list(members.order_by().values("timezone").annotate(n=Count("pk")).values_list("timezone", "n"))


def local_forecast(*, members: QuerySet[TelegramUser], clock: time, day: date | None, now: datetime,
                   window: Window | None = None) -> list[tuple[date, int]]:
    """How many of ``members`` get it on each local calendar day, earliest first."""
    window = window or sending_window()
    resolve = zone_resolver()
    per_day: Counter = Counter()
    for name, n in _zone_counts(members):
        zone = resolve(name)
        per_day[local_date(local_due(zone=zone, clock=clock, day=day, now=now, window=window), zone)] += n
    return sorted(per_day.items())


def forecast_text(forecast: list[tuple[date, int]], *, today: date) -> str:
    """«120 сегодня, 12 завтра» (dates further away are written out)."""
    names = {today: "сегодня", today + timedelta(days=1): "завтра"}
    parts = [f"{n} {names[day]}" if day in names else f"{n} — {formats.date_format(day, 'j E')}"
             for day, n in forecast if n]
    return ", ".join(parts) or "никому"


def deliveries_schedule_local(*, broadcast: Broadcast, now: datetime) -> int:
    """Give each of a starting broadcast's rows its member's due moment; returns rows scheduled.

    One UPDATE per distinct zone name among the recipients (a handful), whatever the audience size.
    """
    window = sending_window()
    resolve = zone_resolver()
    rows = BroadcastDelivery.objects.filter(broadcast_id=broadcast.pk, status=BroadcastDelivery.Status.PENDING)
    scheduled = 0
    names = rows.order_by().values_list("user__timezone", flat=True).distinct()
    for name in list(names):
        due = local_due(zone=resolve(name), clock=broadcast.local_time, day=broadcast.local_date, now=now,
                        window=window)
        scheduled += rows.filter(user__timezone=name).update(next_attempt_at=due)
    return scheduled


def outside_window(*, zone: ZoneInfo, now: datetime, window: Window) -> datetime | None:
    """For a row about to be sent late (e.g. no worker for hours): when its member's window
    opens next, or None when ``now`` is inside it."""
    if is_allowed(now, zone, *window):
        return None
    return next_allowed_moment(now, zone, *window)
