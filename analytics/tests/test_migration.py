"""The migration that adds per-day totals and per-cohort counts fills them from the rollups already there."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# Members as they were then: identity in plain columns (profiles 0005 encrypts it).
BEFORE = [("analytics", "0001_activity_rollups"), ("profiles", "0003_proactive_timezone_index")]
AFTER = [("analytics", "0002_totals_and_cohorts")]
MOSCOW = ZoneInfo("Europe/Moscow")


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_existing_rollups_are_summed_into_day_totals_and_cohort_counts():
    old = migrate(BEFORE)
    try:
        Member = old.get_model("profiles", "TelegramUser")
        early = [Member.objects.create(telegram_id=7000 + i) for i in range(3)]  # joined the week of 16 Nov
        late = Member.objects.create(telegram_id=7100)  # joined the week of 23 Nov
        Member.objects.filter(pk__in=[m.pk for m in early]).update(created_at=datetime(2026, 11, 17, 12, tzinfo=MOSCOW))
        Member.objects.filter(pk=late.pk).update(created_at=datetime(2026, 11, 23, 23, 30, tzinfo=MOSCOW))
        Daily = old.get_model("analytics", "DailyActivity")
        Weekly = old.get_model("analytics", "WeeklyActivity")
        Daily.objects.create(day=date(2026, 11, 24), user=early[0], messages=3)
        Daily.objects.create(day=date(2026, 11, 24), user=late, messages=2)
        Daily.objects.create(day=date(2026, 11, 25), user=early[1], messages=1)
        for member in (early[0], early[1], late):
            Weekly.objects.create(week=date(2026, 11, 23), user=member)
        Weekly.objects.create(week=date(2026, 11, 16), user=early[2])

        new = migrate(AFTER)
        totals = new.get_model("analytics", "DailyTotal").objects.order_by("day")
        assert list(totals.values_list("day", "messages", "members")) == [
            (date(2026, 11, 24), 5, 2), (date(2026, 11, 25), 1, 1)]
        cohorts = new.get_model("analytics", "CohortActivity").objects.order_by("cohort", "week")
        assert list(cohorts.values_list("cohort", "week", "members")) == [
            (date(2026, 11, 16), date(2026, 11, 16), 1), (date(2026, 11, 16), date(2026, 11, 23), 2),
            (date(2026, 11, 23), date(2026, 11, 23), 1)]
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
