"""The delivery rules, simulated over days: window, daily budget, spacing, first allowed moment.

``plan_send`` is checked against an independent oracle: whether a moment is acceptable can
only change at a few kinds of instants (a window start, a local midnight, the end of the
spacing, a clock change), so "nothing earlier was acceptable" is checked at exactly those.
"""

from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triggers.services.rules import Rules, plan_send
from triggers.services.windows import is_allowed, local_date, next_transition

from .test_windows import ZONES, moments


@st.composite
def rule_sets(draw):
    start = draw(st.integers(min_value=0, max_value=22 * 60))
    end = draw(st.integers(min_value=start + 60, max_value=24 * 60 - 1))
    return Rules(window_start=time(start // 60, start % 60), window_end=time(end // 60, end % 60),
                 max_per_day=draw(st.integers(min_value=1, max_value=4)),
                 min_interval=timedelta(minutes=draw(st.sampled_from([0, 30, 90, 180, 600]))))


def _acceptable(moment, zone, rules, sends):
    if not is_allowed(moment, zone, rules.window_start, rules.window_end):
        return False
    if sends and moment < max(sends) + rules.min_interval:
        return False
    day = local_date(moment, zone)
    return sum(1 for s in sends if local_date(s, zone) == day) < rules.max_per_day


def _boundaries(zone, rules, sends, start, end):
    """Every instant in [start, end) at which acceptability can change."""
    points = {start}
    if sends:
        points.add(max(sends) + rules.min_interval)
    day = local_date(start, zone) - timedelta(days=1)
    while day <= local_date(end, zone) + timedelta(days=1):
        for clock in (rules.window_start, time(0)):
            for fold in (0, 1):
                points.add(datetime.combine(day, clock).replace(tzinfo=zone, fold=fold).astimezone(UTC))
        day += timedelta(days=1)
    change = next_transition(zone, start, end)
    while change is not None:
        points.add(change)
        change = next_transition(zone, change, end)
    return sorted(p for p in points if start <= p < end)


SIMULATION = settings(max_examples=150, deadline=None, derandomize=True,
                      suppress_health_check=[HealthCheck.too_slow])


@SIMULATION
@given(moments(), rule_sets(), st.lists(st.integers(min_value=0, max_value=3 * 24 * 60), min_size=1, max_size=8))
def test_simulated_days_respect_window_budget_spacing_and_defer_to_the_first_allowed_moment(case, rules, dues):
    zone, start = case
    pending = sorted(start + timedelta(minutes=m) for m in dues)
    sends: list[datetime] = []
    for _step in range(200):
        if not pending:
            break
        now = pending.pop(0)
        today = local_date(now, zone)
        sent_today = sum(1 for s in sends if local_date(s, zone) == today)
        last = max(sends) if sends else None
        at = plan_send(now=now, zone=zone, rules=rules, sent_today=sent_today, last_sent_at=last)
        if at is None:
            assert _acceptable(now, zone, rules, sends)
            sends.append(now)
            continue
        assert at > now
        assert _acceptable(at, zone, rules, sends), "deferred to a moment that is not allowed"
        earlier = [p for p in _boundaries(zone, rules, sends, now, at) if _acceptable(p, zone, rules, sends)]
        assert not earlier, f"{earlier[0]} was allowed before {at}"
        pending = sorted([*pending, at])
    assert not pending, "every trigger is eventually sent"
    for sent in sends:
        assert is_allowed(sent, zone, rules.window_start, rules.window_end)
    per_day: dict = {}
    for sent in sends:
        per_day[local_date(sent, zone)] = per_day.get(local_date(sent, zone), 0) + 1
    assert max(per_day.values()) <= rules.max_per_day
    ordered = sorted(sends)
    assert all(b - a >= rules.min_interval for a, b in pairwise(ordered))


def test_over_budget_waits_for_the_next_local_day_window_start():
    zone = ZoneInfo("Asia/Yekaterinburg")
    rules = Rules(window_start=time(8), window_end=time(22), max_per_day=2, min_interval=timedelta(hours=1))
    now = datetime(2026, 6, 1, 10, 0, tzinfo=zone).astimezone(UTC)
    at = plan_send(now=now, zone=zone, rules=rules, sent_today=2, last_sent_at=now - timedelta(hours=2))
    assert at == datetime(2026, 6, 2, 8, 0, tzinfo=zone).astimezone(UTC)


def test_spacing_pushes_past_the_window_end_to_the_next_morning():
    zone = ZoneInfo(ZONES[0])
    rules = Rules(window_start=time(8), window_end=time(22), max_per_day=2, min_interval=timedelta(hours=3))
    now = datetime(2026, 6, 1, 20, 0, tzinfo=zone).astimezone(UTC)
    at = plan_send(now=now, zone=zone, rules=rules, sent_today=1, last_sent_at=now - timedelta(hours=1))
    assert at == datetime(2026, 6, 2, 8, 0, tzinfo=zone).astimezone(UTC)
