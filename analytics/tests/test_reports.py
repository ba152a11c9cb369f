"""The analytics page's tables: date range, funnel, transitions, rates, CSV, click-through, no personal data."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse

from analytics import reports
from analytics.reports import DateRange, RangeError, range_parse
from analytics.services import activity_rollup_due
from broadcasts.models import BroadcastDelivery
from journeys.models import JourneyProgress
from journeys.services import (
    journey_advance,
    journey_set_stage,
    journey_start,
    stream_click_record,
    stream_enroll,
    stream_ref_code,
)
from profiles.models import UserInteraction
from testkit.factories import (
    BroadcastDeliveryFactory,
    BroadcastFactory,
    StaffFactory,
    StreamFactory,
    SuperuserFactory,
    TelegramUserFactory,
    TriggerFactory,
)

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
TODAY = date(2026, 11, 20)
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


def test_range_from_presets_dates_and_refusals():
    assert range_parse({}, today=TODAY) == DateRange(date(2026, 10, 22), TODAY)
    assert range_parse({"days": "7"}, today=TODAY) == DateRange(date(2026, 11, 14), TODAY)
    assert range_parse({"from": "2026-11-01", "to": "2026-11-03"}, today=TODAY).days == 3
    for bad, message in [({"from": "01.11.2026"}, "ГГГГ-ММ-ДД"), ({"from": "2026-11-05", "to": "2026-11-01"}, "позже"),
                         ({"from": "2024-01-01", "to": "2026-11-01"}, "длиннее"), ({"days": "0"}, "от 1")]:
        with pytest.raises(RangeError, match=message):
            range_parse(bad, today=TODAY)


def _journey(*orders, staff=None):
    """A member who started and then moved through ``orders`` (the last one by staff when given)."""
    member = TelegramUserFactory(journey_stage=None)
    journey_start(user=member)
    current = 1
    for index, order in enumerate(orders):
        if staff is not None and index == len(orders) - 1:
            journey_set_stage(user=member, stage=order, staff=staff, reason="созвон")
        else:
            journey_advance(user_id=member.pk, from_order=current, to_order=order, confidence=0.9, evidence="",
                            reason="анализ")
        current = order
    return member


def test_the_funnel_counts_members_who_ever_reached_each_stage():
    staff = SuperuserFactory()
    _journey()                  # only started
    _journey(2, 3)              # reached 3
    _journey(2, 5)              # jumped to 5: reached 3 and 4 on the way
    _journey(2, 4, 2, staff=staff)  # reached 4, then moved back by staff: still counts for 4
    funnel = {row["stage"]: (row["reached"], row["share"]) for row in reports.stage_funnel(range_parse({}))}
    assert funnel[1] == (4, 1.0)
    assert funnel[2] == (3, 0.75)
    assert funnel[3] == (3, 0.75)
    assert funnel[4] == (2, 0.5)
    assert funnel[5] == (1, 0.25)
    assert funnel[6] == (0, 0.0)


def test_the_funnel_ignores_stages_reached_after_the_range():
    member = _journey(2)
    JourneyProgress.objects.filter(user=member, stage__order=2).update(created_at=NOW + timedelta(days=3))
    funnel = {row["stage"]: row["reached"] for row in reports.stage_funnel(range_parse({}, today=TODAY))}
    assert (funnel[1], funnel[2]) == (1, 0)


def test_transitions_per_day_by_source_and_messages_from_the_rollups():
    staff = SuperuserFactory()
    _journey(2, 3, staff=staff)
    member = TelegramUserFactory()
    for _ in range(3):
        UserInteraction.objects.create(user=member, kind="message_in")
    activity_rollup_due(now=NOW)
    r = range_parse({"days": "7"}, today=TODAY)
    transitions = reports.stage_transitions(r)
    assert len(transitions) == 7 and transitions[-1] == {"day": "2026-11-20", "placement": 1, "llm": 0, "staff": 1}
    messages = reports.messages_by_day(r)
    assert messages[0]["day"] == "2026-11-14"
    assert messages[-1] == {"day": "2026-11-20", "messages": 3, "active": 1}
    assert sum(m["messages"] for m in messages[:-1]) == 0


def test_proactive_reply_rate_by_kind_within_the_range():
    TriggerFactory(kind="inactivity", status="sent", sent_at=NOW, answered_at=NOW)
    TriggerFactory(kind="inactivity", status="sent", sent_at=NOW)
    TriggerFactory(kind="morning_checkin", status="sent", sent_at=NOW - timedelta(days=40), answered_at=NOW)
    rows = {row["kind"]: row for row in reports.proactive_by_kind(range_parse({}, today=TODAY))}
    assert (rows["inactivity"]["sent"], rows["inactivity"]["answered"], rows["inactivity"]["rate"]) == (2, 1, 0.5)
    assert rows["morning_checkin"]["sent"] == 0


def test_broadcast_delivery_and_click_rates_and_stream_conversion():
    broadcast = BroadcastFactory(title="Новый поток", started_at=NOW)
    members = [TelegramUserFactory() for _ in range(4)]
    for member, status in zip(members, ["sent", "sent", "blocked", "failed"], strict=True):
        BroadcastDeliveryFactory(broadcast=broadcast, user=member, status=status)
    for _ in range(2):  # one member clicking twice counts once
        UserInteraction.objects.create(user=members[0], kind="broadcast_clicked",
                                       metadata={"broadcast_id": broadcast.pk, "button": 0})
    [row] = reports.broadcast_rates(range_parse({}, today=TODAY))
    assert (row["recipients"], row["delivered"], row["blocked"], row["failed"]) == (4, 2, 1, 1)
    assert (row["delivery_rate"], row["clicks"], row["click_rate"]) == (0.5, 1, 0.5)

    stream = StreamFactory(title="Смелость")
    for member in members[:2]:
        stream_click_record(ref=stream_ref_code(user=member, stream=stream))
    stream_enroll(user=members[0], stream=stream)
    assert reports.stream_conversion(range_parse({}, today=TODAY)) == [
        {"stream": stream.pk, "title": "Смелость", "clicks": 2, "enrolled": 1, "conversion": 0.5}]
    assert BroadcastDelivery.objects.count() == 4


def _analyst(client):
    client.force_login(StaffFactory(roles=["Аналитик"]))
    return client


def test_csv_export_of_a_table_for_the_range(client):
    _journey(2)
    response = _analyst(client).get(reverse("analytics-dashboard-csv", args=["funnel"]),
                                    {"from": "2026-11-01", "to": "2026-11-20"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="relove-funnel-2026-11-01-2026-11-20.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["этап", "название", "дошли до этапа или дальше", "доля от начавших"]
    assert rows[1][0] == "1" and rows[1][2] == "1" and rows[2][2] == "1" and rows[3][2] == "0"
    assert len(rows) == 13
    messages = client.get(reverse("analytics-dashboard-csv", args=["messages"]), {"days": "7"})
    assert len(list(csv.reader(io.StringIO(messages.content.decode("utf-8-sig"))))) == 8
    assert client.get(reverse("analytics-dashboard-csv", args=["members"])).status_code == 404
    assert client.get(reverse("analytics-dashboard-csv", args=["funnel"]), {"from": "x"}).status_code == 400


def test_the_analyst_sees_numbers_without_links_or_names_and_staff_with_rights_get_links(client):
    member = _journey(2)
    member.username = "olga_private"
    member.save()
    page = _analyst(client).get(reverse("analytics-dashboard"), {"days": "7"}).content.decode()
    assert "Воронка этапов" in page and "olga_private" not in page
    assert "reached_stage=" not in page
    data = client.get(reverse("analytics-dashboard-data"), {"days": "7"}).json()
    assert data["funnel"][1]["reached"] == 1 and data["funnel"][1]["url"] == ""

    client.force_login(SuperuserFactory())
    data = client.get(reverse("analytics-dashboard-data"), {"days": "7"}).json()
    url = data["funnel"][1]["url"]
    assert "reached_stage=2" in url
    members = client.get(url).content.decode()
    assert "@olga_private" in members
    day_url = data["messages"][-1]["url"]
    assert client.get(day_url).status_code == 200


def test_funnel_and_activity_links_filter_the_member_list(client):
    reached = _journey(2, 3)
    _journey()
    writer = TelegramUserFactory(username="writer")
    UserInteraction.objects.create(user=writer, kind="message_in")
    activity_rollup_due(now=NOW)
    client.force_login(SuperuserFactory())
    url = reverse("admin:profiles_telegramuser_changelist")
    page = client.get(url, {"reached_stage": "3"}).content.decode()
    assert f"@{reached.username}" in page and "@writer" not in page
    page = client.get(url, {"active_on": "2026-11-14..2026-11-20"}).content.decode()
    assert "@writer" in page and f"@{reached.username}" not in page
    assert "@writer" not in client.get(url, {"active_on": "2026-11-01"}).content.decode()


def test_a_bad_range_on_the_page_says_why_and_shows_the_default(client):
    page = _analyst(client).get(reverse("analytics-dashboard"), {"from": "2026-11-10", "to": "2026-11-01"})
    assert page.status_code == 200
    assert "Начало периода позже конца." in page.content.decode()
    data = client.get(reverse("analytics-dashboard-data"), {"from": "2026-11-10", "to": "2026-11-01"})
    assert data.status_code == 400
