"""Time-zone arithmetic for "the member's own day": pure functions, no database.

A moment is *allowed* when the member's wall clock shows a time in ``[window_start,
window_end)``. Wall clocks jump: forward over a DST gap (02:30 never happens), backward over
an overlap (01:30 happens twice), and a few zones have skipped or repeated whole days. The
functions here walk the timeline in pieces of constant UTC offset, so each of those cases is
handled by the same two lines of arithmetic instead of special cases.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

HOUR = 3600
SEARCH_DAYS = 8  # any window of a minute or more recurs within a few days, skipped days included


@cache
def zone_named(key: str) -> ZoneInfo:
    """ZoneInfo keeps only a few zones strongly cached; the engine touches hundreds per scan."""
    return ZoneInfo(key)


def as_zone(zone: str | ZoneInfo, *, default: str = "Europe/Moscow") -> ZoneInfo:
    """A ZoneInfo for an IANA name; an empty or unknown name gives ``default``."""
    if isinstance(zone, ZoneInfo):
        return zone
    try:
        return zone_named(zone or default)
    except (ZoneInfoNotFoundError, ValueError):
        return zone_named(default)


@lru_cache(maxsize=1)
def all_zones() -> tuple[ZoneInfo, ...]:
    """Every IANA zone (names read from disk once per process)."""
    return tuple(zone_named(key) for key in sorted(available_timezones()))


def _offset(zone: ZoneInfo, epoch: int) -> int:
    return int(datetime.fromtimestamp(epoch, UTC).astimezone(zone).utcoffset().total_seconds())


@lru_cache(maxsize=65536)
def _offset_on_the_hour(key: str, epoch: int) -> int:
    # Whole-hour samples repeat across calls (many members share a zone): cache them.
    return _offset(zone_named(key), epoch)


def _sample(zone: ZoneInfo, epoch: int) -> int:
    if zone.key and epoch % HOUR == 0:
        return _offset_on_the_hour(zone.key, epoch)
    return _offset(zone, epoch)


def next_transition(zone: ZoneInfo, after: datetime, until: datetime) -> datetime | None:
    """The first moment in ``(after, until]`` at which the zone's UTC offset changes, else None.

    Samples every hour (tz transitions are never closer than that) and bisects to the second.
    """
    start, end = int(after.timestamp() // 1), int(until.timestamp() // 1)
    base = _sample(zone, start)
    low = start
    while low < end:
        high = min(end, (low // HOUR + 1) * HOUR)
        if _sample(zone, high) != base:
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(zone, middle) == base:
                    low = middle
                else:
                    high = middle
            return datetime.fromtimestamp(high, UTC)
        low = high
    return None


def wall_clock(moment: datetime, zone: ZoneInfo) -> datetime:
    """The naive local date and time the member's clock shows at ``moment``."""
    return moment.astimezone(zone).replace(tzinfo=None)


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def is_allowed(moment: datetime, zone: ZoneInfo, window_start: time, window_end: time) -> bool:
    return window_start <= wall_clock(moment, zone).time() < window_end


def next_allowed_moment(now_utc: datetime, zone: str | ZoneInfo, window_start: time, window_end: time) -> datetime:
    """The earliest moment at or after ``now_utc`` whose local time is inside the window.

    Returns ``now_utc`` itself when it is allowed. Over a DST gap that swallows the window
    start it returns the end of the gap (the first allowed instant); over an overlap it
    returns the first occurrence. The window is ``[window_start, window_end)`` and must not
    wrap past midnight. The result is an aware UTC datetime.
    """
    if not window_start < window_end:
        raise ValueError("window_start must be before window_end")
    tz = as_zone(zone)
    moment = now_utc.astimezone(UTC)
    horizon = moment + timedelta(days=SEARCH_DAYS)
    while moment < horizon:
        offset = moment.astimezone(tz).utcoffset()
        wall = (moment + offset).replace(tzinfo=None)
        if window_start <= wall.time() < window_end:
            return moment
        day = wall.date() if wall.time() < window_start else wall.date() + timedelta(days=1)
        # While the offset stays the same the wall clock is plain arithmetic; if it changes
        # before the candidate, continue from the change with the new offset.
        candidate = (datetime.combine(day, window_start) - offset).replace(tzinfo=UTC)
        change = next_transition(tz, moment, candidate)
        if change is None:
            return candidate
        moment = change
    raise ValueError(f"no allowed moment within {SEARCH_DAYS} days in {tz.key}")


def first_moment_of_day(day: date, zone: str | ZoneInfo) -> datetime:
    """The first instant (UTC) of the member's local calendar ``day``, midnight DST gaps included."""
    return at_local_time(day, time(0), zone)


def next_day_window_start(moment: datetime, zone: str | ZoneInfo, window_start: time, window_end: time) -> datetime:
    """The first allowed moment on a later local day than ``moment``'s (for a full daily budget)."""
    tz = as_zone(zone)
    tomorrow = local_date(moment, tz) + timedelta(days=1)
    return next_allowed_moment(first_moment_of_day(tomorrow, tz), tz, window_start, window_end)


def at_local_time(day: date, clock: time, zone: str | ZoneInfo) -> datetime:
    """The first instant the local clock reaches ``clock`` on ``day`` (end of the gap if skipped)."""
    tz = as_zone(zone)
    wall = datetime.combine(day, clock)
    earliest = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if wall_clock(earliest, tz) == wall:
        return earliest
    later = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    low, high = min(earliest, later), max(earliest, later)
    return next_transition(tz, low - timedelta(seconds=1), high) or high
