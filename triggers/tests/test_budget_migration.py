"""The migration that moved the daily budget out of fake "sent" broadcast triggers."""

from datetime import date

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# Members as they were then: identity in plain columns (profiles 0005 encrypts it).
BEFORE = [("triggers", "0003_engine"), ("broadcasts", "0002_delivery_engine"),
          ("profiles", "0003_proactive_timezone_index")]
AFTER = [("triggers", "0004_daily_message_slot"), ("broadcasts", "0003_daily_message_slot")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_existing_budget_rows_become_daily_slots_and_budget_triggers_disappear():
    old = migrate(BEFORE)
    try:
        member = old.get_model("profiles", "TelegramUser").objects.create(telegram_id=4242)
        Trigger = old.get_model("triggers", "ProactiveTrigger")
        day = date(2026, 11, 26)
        proactive = Trigger.objects.create(user=member, kind="inactivity", status="sent", dedupe_key="i",
                                           scheduled_for="2026-11-26T09:00Z", local_date=day, slot=1)
        Trigger.objects.create(user=member, kind="broadcast", status="sent", dedupe_key="budget:broadcast",
                               scheduled_for="2026-11-26T10:00Z", local_date=day, slot=2)
        broadcast = old.get_model("broadcasts", "Broadcast").objects.create(title="t", text="x", status="done")
        delivery = old.get_model("broadcasts", "BroadcastDelivery").objects.create(
            broadcast=broadcast, user=member, status="sent", budget_date=day, budget_slot=2)

        new = migrate(AFTER)
        Slot = new.get_model("bot", "DailyMessageSlot")
        assert sorted(Slot.objects.values_list("user_id", "local_date", "slot", "source")) == [
            (member.pk, day, 1, "proactive"), (member.pk, day, 2, "broadcast")]
        NewTrigger = new.get_model("triggers", "ProactiveTrigger")
        assert list(NewTrigger.objects.values_list("pk", "daily_slot__slot")) == [(proactive.pk, 1)]
        moved = new.get_model("broadcasts", "BroadcastDelivery").objects.get(pk=delivery.pk)
        assert moved.daily_slot.slot == 2
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
