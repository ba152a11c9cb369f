"""next_allowed_moment and friends: properties over zones, DST transitions and times of day."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from triggers.services.windows import (
    first_moment_of_day,
    is_allowed,
    local_date,
    next_allowed_moment,
    next_day_window_start,
    next_transition,
)

from .helpers import local

# Zones with the awkward cases: DST gaps and overlaps at 02:00 and at midnight, half-hour
# offsets and DST, a negative DST, a skipped day, zones far from UTC, and no DST at all.
ZONES = ["Europe/Moscow", "Europe/Berlin", "America/New_York", "America/Santiago", "America/Havana",
         "America/Asuncion", "Asia/Beirut", "Australia/Lord_Howe", "Pacific/Chatham", "Asia/Tehran",
         "Europe/Dublin", "Pacific/Apia", "Asia/Kolkata", "America/St_Johns", "Pacific/Kiritimati",
         "Asia/Kamchatka", "Africa/Casablanca", "UTC"]

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

minutes_of_day = st.integers(min_value=0, max_value=24 * 60 - 1)


@st.composite
def windows(draw):
    start = draw(st.integers(min_value=0, max_value=24 * 60 - 16))
    end = draw(st.integers(min_value=start + 15, max_value=24 * 60 - 1))
    return time(start // 60, start % 60), time(end // 60, end % 60)


@st.composite
def moments(draw):
    """Instants anywhere in 2000–2035, half of them within two days of a DST transition."""
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    base = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 35 * 365 * 86400)))
    if draw(st.booleans()):
        change = next_transition(zone, base, base + timedelta(days=400))
        if change is not None:
            base = change + timedelta(seconds=draw(st.integers(-2 * 86400, 2 * 86400)))
    return zone, base


def _brute_force_first(now, zone, start, end, until):
    """The first allowed instant found by walking minute by minute (plus the offset changes)."""
    candidates = []
    moment = now
    while moment <= until:
        if is_allowed(moment, zone, start, end):
            candidates.append(moment)
            break
        moment += timedelta(minutes=1)
    change = next_transition(zone, now, until)
    while change is not None and change <= until:
        if is_allowed(change, zone, start, end):
            candidates.append(change)
            break
        change = next_transition(zone, change, until)
    return min(candidates) if candidates else None


@PROPERTY
@given(moments(), windows())
@example((ZoneInfo("America/New_York"), datetime(2026, 3, 8, 5, 0, tzinfo=UTC)), (time(2, 30), time(4, 0)))
@example((ZoneInfo("America/New_York"), datetime(2026, 11, 1, 5, 50, tzinfo=UTC)), (time(1, 0), time(1, 45)))
@example((ZoneInfo("Pacific/Apia"), datetime(2011, 12, 29, 20, 0, tzinfo=UTC)), (time(8, 0), time(22, 0)))
def test_the_answer_is_allowed_and_nothing_earlier_is(case, window):
    zone, now = case
    start, end = window
    result = next_allowed_moment(now, zone, start, end)
    assert result >= now
    assert is_allowed(result, zone, start, end)
    if result > now:
        # The allowed stretch starts exactly there: a second earlier is still forbidden ...
        assert not is_allowed(result - timedelta(seconds=1), zone, start, end)
        # ... and no earlier minute (or clock change) between now and then is allowed.
        assert _brute_force_first(now, zone, start, end, result) in (None, result)


@PROPERTY
@given(moments(), windows())
def test_the_answer_is_stable_and_at_most_a_couple_of_days_away(case, window):
    zone, now = case
    start, end = window
    result = next_allowed_moment(now, zone, start, end)
    assert next_allowed_moment(result, zone, start, end) == result
    assert result - now <= timedelta(days=3)


@PROPERTY
@given(moments())
def test_the_next_day_window_start_is_on_a_later_local_day_at_the_window_start(case):
    zone, now = case
    start, end = time(8), time(22)
    result = next_day_window_start(now, zone, start, end)
    assert local_date(result, zone) > local_date(now, zone)
    assert is_allowed(result, zone, start, end)
    assert not is_allowed(result - timedelta(seconds=1), zone, start, end)


@pytest.mark.parametrize(("zone", "now", "window", "expected"), [
    # Inside the window: now itself.
    ("Europe/Moscow", local("Europe/Moscow", 2026, 5, 1, 12, 0), (time(8), time(22)),
     local("Europe/Moscow", 2026, 5, 1, 12, 0)),
    # Late evening: tomorrow's 08:00; just after midnight: today's 08:00.
    ("Europe/Moscow", local("Europe/Moscow", 2026, 5, 1, 22, 0), (time(8), time(22)),
     local("Europe/Moscow", 2026, 5, 2, 8, 0)),
    ("Asia/Vladivostok", local("Asia/Vladivostok", 2026, 5, 1, 0, 5), (time(8), time(22)),
     local("Asia/Vladivostok", 2026, 5, 1, 8, 0)),
    # The window start falls in the spring-forward gap: the gap's end is the first allowed instant.
    ("America/New_York", datetime(2026, 3, 8, 5, 0, tzinfo=UTC), (time(2, 30), time(4)),
     datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
    # The gap swallows the whole window: the next day.
    ("America/New_York", datetime(2026, 3, 8, 5, 0, tzinfo=UTC), (time(2), time(2, 30)),
     datetime(2026, 3, 9, 6, 0, tzinfo=UTC)),
    # Fall back: after the first 01:00–01:45 the clock returns to 01:00, which is allowed again.
    ("America/New_York", datetime(2026, 11, 1, 5, 50, tzinfo=UTC), (time(1), time(1, 45)),
     datetime(2026, 11, 1, 6, 0, tzinfo=UTC)),
    # Chile springs forward at midnight (no 00:00 on 2022-09-04): a 00:00 window starts at 01:00.
    ("America/Santiago", datetime(2022, 9, 4, 2, 0, tzinfo=UTC), (time(0), time(6)),
     datetime(2022, 9, 4, 4, 0, tzinfo=UTC)),
])
def test_examples(zone, now, window, expected):
    assert next_allowed_moment(now, zone, *window) == expected


def test_a_skipped_day_begins_where_the_next_one_does():
    # Samoa skipped 30 December 2011: the clock went from the 29th 23:59:59 to the 31st 00:00.
    assert first_moment_of_day(date(2011, 12, 30), "Pacific/Apia") == datetime(2011, 12, 30, 10, tzinfo=UTC)
    assert local_date(first_moment_of_day(date(2011, 12, 31), "Pacific/Apia"), ZoneInfo("Pacific/Apia")) == \
        date(2011, 12, 31)


def test_an_empty_window_is_refused():
    with pytest.raises(ValueError):
        next_allowed_moment(datetime(2026, 1, 1, tzinfo=UTC), "UTC", time(22), time(8))
