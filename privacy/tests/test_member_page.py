"""The member pages of the admin: stage names, list columns, the timeline, the one labelled time zone."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from bot.models import CrisisAlert, MemberFlagChange
from broadcasts.models import BroadcastDelivery
from journeys.services import journey_set_stage, journey_start
from privacy.timeline import member_timeline
from relove.core.admin_time import admin_datetime, zone_label
from testkit.factories import (
    BroadcastDeliveryFactory,
    BroadcastFactory,
    StaffFactory,
    TelegramUserFactory,
    TriggerFactory,
    UserSessionFactory,
    stage,
)

pytestmark = pytest.mark.django_db
MOMENT = datetime(2026, 11, 20, 9, 5, tzinfo=UTC)  # 12:05 in Moscow


def _member_with_history(staff):
    member = TelegramUserFactory(journey_stage=None, username="olga")
    journey_start(user=member)
    UserSessionFactory(user=member, status="ended", turns=[
        {"role": "user", "content": "мне <b>страшно</b> & одиноко"},
        {"role": "assistant", "content": "Я рядом. Что сейчас сильнее всего?"}])
    UserSessionFactory(user=member, turns=[{"role": "assistant", "content": "Как прошло утро?", "kind": "proactive"}])
    TriggerFactory(user=member, kind="morning_checkin", status="sent", sent_at=MOMENT, answered_at=MOMENT)
    BroadcastDeliveryFactory(user=member, broadcast=BroadcastFactory(title="Поток «Смелость»"),
                             status=BroadcastDelivery.Status.SENT, sent_at=MOMENT)
    CrisisAlert.objects.create(user=member, excerpt="не хочу жить", acute=True)
    MemberFlagChange.objects.create(user=member, field="crisis_flag", value=True, staff=staff, reason="звонок")
    journey_set_stage(user=member, stage=3, staff=staff, reason="созвон с куратором")
    return member


def _staff(*codenames):
    staff = StaffFactory(username="curator-anna")
    staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return type(staff).objects.get(pk=staff.pk)


def test_the_timeline_merges_every_source_oldest_first_and_names_the_staff():
    staff = _staff()
    member = _member_with_history(staff)
    page = member_timeline(member=member)
    kinds = [item.kind for item in page.items]
    for kind in ("message", "reply", "proactive", "broadcast", "stage", "crisis", "staff"):
        assert kind in kinds, kind
    assert [i.at for i in page.items] == sorted(i.at for i in page.items)
    hand_set = next(i for i in page.items if i.title.startswith("Этап: 1 · ") and "3 · " in i.title)
    assert hand_set.kind == "staff" and hand_set.staff == "curator-anna" and hand_set.text == "созвон с куратором"
    flag = next(i for i in page.items if i.title.startswith("Кризисный флаг"))
    assert (flag.staff, flag.text) == ("curator-anna", "звонок")


def test_the_timeline_pages_back_from_the_newest():
    member = TelegramUserFactory()
    UserSessionFactory(user=member, turns=[{"role": "user", "content": f"реплика {n}"} for n in range(7)])
    newest = member_timeline(member=member, page=1, page_size=3)
    assert [i.text for i in newest.items] == ["реплика 4", "реплика 5", "реплика 6"]
    assert (newest.has_older, newest.has_newer) == (True, False)
    oldest = member_timeline(member=member, page=3, page_size=3)
    assert [i.text for i in oldest.items] == ["реплика 0"]
    assert (oldest.has_older, oldest.has_newer) == (False, True)


def test_the_member_page_shows_the_escaped_timeline_only_with_the_conversation_permission(client):
    staff = _staff("view_telegramuser")
    member = _member_with_history(staff)
    url = reverse("admin:profiles_telegramuser_change", args=[member.pk])
    client.force_login(staff)
    page = client.get(url).content.decode()
    assert 'id="timeline"' not in page and "страшно" not in page

    staff.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    client.force_login(type(staff).objects.get(pk=staff.pk))
    page = client.get(url).content.decode()
    assert 'id="timeline"' in page
    assert "мне &lt;b&gt;страшно&lt;/b&gt; &amp; одиноко" in page and "<b>страшно</b>" not in page
    assert "Рассылка «Поток «Смелость»»" in page and "сотрудник: curator-anna" in page
    assert "время МСК" in page


def test_the_member_page_paginates_the_timeline(client, superuser):
    member = TelegramUserFactory()
    UserSessionFactory(user=member, turns=[{"role": "user", "content": f"реплика {n:02}"} for n in range(60)])
    client.force_login(superuser)
    url = reverse("admin:profiles_telegramuser_change", args=[member.pk])
    first = client.get(url).content.decode()
    assert "реплика 59" in first and "реплика 09" not in first and "timeline_page=2" in first
    second = client.get(url, {"timeline_page": "2"}).content.decode()
    assert "реплика 09" in second and "реплика 59" not in second
    assert client.get(url, {"timeline_page": "x"}).status_code == 200


def test_stage_names_in_the_member_list_filter_and_page(client, superuser):
    TelegramUserFactory(journey_stage=3, username="third", crisis_flag=True)
    TelegramUserFactory(journey_stage=5, username="fifth")
    client.force_login(superuser)
    url = reverse("admin:profiles_telegramuser_changelist")
    page = client.get(url).content.decode()
    name = stage(3).name
    assert f"3 · {name}" in page  # column and filter choice
    assert "relove-crisis-chip" in page
    filtered = client.get(url, {"journey_stage": "3"}).content.decode()
    assert "@third" in filtered and "@fifth" not in filtered
    member = TelegramUserFactory(journey_stage=5)
    assert f"5 · {stage(5).name}" in client.get(
        reverse("admin:profiles_telegramuser_change", args=[member.pk])).content.decode()


def test_crisis_stage_and_activity_are_the_first_columns():
    from profiles.admin import TelegramUserAdmin

    assert TelegramUserAdmin.list_display[:4] == ["__str__", "crisis_marker", "stage", "last_activity_at"]


def test_times_are_shown_in_the_admin_zone_with_its_label(settings):
    assert admin_datetime(MOMENT) == "2026-11-20 12:05 МСК"
    settings.ADMIN_TIME_ZONE = "Asia/Yekaterinburg"
    assert admin_datetime(MOMENT) == "2026-11-20 14:05 UTC+05"
    settings.ADMIN_TIME_ZONE = "Europe/Berlin"
    assert admin_datetime(MOMENT) == "2026-11-20 10:05 CET"
    assert zone_label(__import__("zoneinfo").ZoneInfo("Europe/Berlin"), at=MOMENT + timedelta(days=200)) == "CEST"


def test_admin_pages_render_times_in_the_admin_zone(client, superuser, settings):
    settings.ADMIN_TIME_ZONE = "Asia/Yekaterinburg"
    TelegramUserFactory(last_activity_at=MOMENT)
    client.force_login(superuser)
    page = client.get(reverse("admin:profiles_telegramuser_changelist")).content.decode()
    assert "последняя активность (UTC+05)" in page and "2026-11-20 14:05" in page


def test_an_unknown_admin_time_zone_fails_the_system_check(settings):
    from relove.core.checks import check_admin_time_zone

    assert check_admin_time_zone(None) == []
    settings.ADMIN_TIME_ZONE = "Mars/Olympus"
    assert [e.id for e in check_admin_time_zone(None)] == ["relove.E002"]


def test_daily_window_times_have_no_clock_shortcut_and_datetimes_carry_the_zone(client, superuser):
    client.force_login(superuser)
    page = client.get(reverse("admin:triggers_proactivityconfig_change", args=[1])).content.decode()
    window = page[page.index('name="window_start"') - 300:page.index('name="window_start"') + 200]
    assert "vTimeField" not in window and 'value="08:00"' in window
    composer = client.get(reverse("admin:broadcasts_broadcast_add")).content.decode()
    assert 'class="relove-zone-label"' in composer and ">МСК<" in composer


def test_stage_names_in_the_session_and_interaction_lists(client, superuser):
    member = TelegramUserFactory(journey_stage=4)
    UserSessionFactory(user=member, stage_snapshot=4)
    from profiles.models import UserInteraction

    UserInteraction.objects.create(user=member, kind="message_in", stage=4)
    client.force_login(superuser)
    name = f"4 · {stage(4).name}"
    for url in (reverse("admin:bot_usersession_changelist"), reverse("admin:profiles_userinteraction_changelist")):
        page = client.get(url).content.decode()
        assert page.count(name) >= 2, url  # the column and the filter choice
    sessions = reverse("admin:bot_usersession_changelist")
    assert f"@{member.username}" in client.get(sessions, {"stage_snapshot": "4"}).content.decode()
    assert f"@{member.username}" not in client.get(sessions, {"stage_snapshot": "5"}).content.decode()


def test_the_timeline_costs_one_query_per_source_however_long_it_is(django_assert_max_num_queries):
    staff = _staff()
    member = _member_with_history(staff)
    UserSessionFactory(user=member, status="ended",
                       turns=[{"role": "user", "content": f"реплика {n}"} for n in range(80)])
    with django_assert_max_num_queries(8):
        page = member_timeline(member=member, page=2)
    assert len(page.items) > 30 and not page.has_older


def test_the_member_list_does_not_query_per_row(client, superuser):
    client.force_login(superuser)
    url = reverse("admin:profiles_telegramuser_changelist")
    TelegramUserFactory.create_batch(3, journey_stage=2)
    client.get(url)  # warm the per-process stage copy
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(url)
    TelegramUserFactory.create_batch(30, journey_stage=7, crisis_flag=True)
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(few)
