"""The whole engine (database, claims, fake Bot API) driven through random days and zones.

Whatever the zone, DST transition, daily budget and tick pattern: every message goes out
inside the member's window, never more than ``max_per_day`` on a local day, each trigger
at most once, and every deferred trigger waits for an allowed moment.
"""

import itertools
from datetime import time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testkit.factories import TriggerFactory
from triggers.models import ProactiveTrigger
from triggers.services import triggers_run_scan
from triggers.services.windows import as_zone, is_allowed, local_date

from .helpers import silent_member
from .test_windows import ZONES, moments

pytestmark = pytest.mark.django_db
Kind, Status = ProactiveTrigger.Kind, ProactiveTrigger.Status
_members = itertools.count(1)


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=moments(), zone_name=st.sampled_from(ZONES), max_per_day=st.integers(min_value=1, max_value=3),
       gap_minutes=st.sampled_from([0, 45, 240]),
       dues=st.lists(st.integers(min_value=0, max_value=36 * 60), min_size=1, max_size=5),
       ticks=st.lists(st.integers(min_value=5, max_value=240), min_size=6, max_size=14))
def test_sends_stay_in_the_window_and_the_budget_whatever_the_clock(tg, config, case, zone_name, max_per_day,
                                                                    gap_minutes, dues, ticks):
    _, start = case
    zone = as_zone(zone_name)
    config.max_per_day, config.min_interval = max_per_day, timedelta(minutes=gap_minutes)
    config.inactivity_enabled = config.morning_checkin_enabled = config.stream_invite_enabled = False
    config.save()
    member = silent_member(now=start, silent_for=timedelta(hours=1), timezone=zone_name,
                           telegram_id=9_000_000 + next(_members))
    for i, offset in enumerate(dues):
        TriggerFactory(user=member, kind=Kind.STAGE_COMPLETED, payload={"stage_order": 1}, created_at=start,
                       scheduled_for=start + timedelta(minutes=offset), dedupe_key=f"prop:{i}")
    now = start
    for tick in ticks:
        now += timedelta(minutes=tick)
        triggers_run_scan(now=now)
        for pending in ProactiveTrigger.objects.filter(user=member, status=Status.PENDING, scheduled_for__gt=now):
            assert is_allowed(pending.scheduled_for, zone, time(8), time(22)), "deferred to a forbidden moment"

    sent = list(ProactiveTrigger.objects.filter(user=member, status=Status.SENT).select_related("daily_slot"))
    assert len(tg.sent_messages(member.telegram_id)) == len(sent)
    per_day: dict = {}
    for trigger in sent:
        assert is_allowed(trigger.sent_at, zone, time(8), time(22))
        day = trigger.daily_slot.local_date
        assert day == local_date(trigger.sent_at, zone)
        per_day[day] = per_day.get(day, 0) + 1
    assert all(count <= max_per_day for count in per_day.values())
    times = sorted(t.sent_at for t in sent)
    assert all(b - a >= config.min_interval for a, b in itertools.pairwise(times))
