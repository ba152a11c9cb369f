"""The migrations that encrypt identity move existing rows, and move them back when reversed."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from relove.core.blind_index import exact_digest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("profiles", "0004_alter_userinteraction_kind"), ("bot", "0009_update_claim_done"),
          ("broadcasts", "0005_composer_v2")]
AFTER = [("profiles", "0005_identity_encrypted"), ("bot", "0010_outbound_chat_id_encrypted"),
         ("broadcasts", "0006_staff_telegram_id_encrypted")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _raw(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


@pytest.fixture(autouse=True)
def _back_to_the_latest_schema():
    yield
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_identity_is_encrypted_and_decrypted_back():
    old = migrate(BEFORE)
    Member = old.get_model("profiles", "TelegramUser")
    olga = Member.objects.create(telegram_id=8_000_000_001, username="Olga_K", first_name="Ольга",
                                 last_name="Семёнова")
    nameless = Member.objects.create(telegram_id=8_000_000_002)
    outbound = old.get_model("bot", "OutboundMessage").objects.create(
        kind="test", chat_id=8_000_000_001, user=olga, text="привет", dedupe_key="m:1")
    staff = old.get_model("auth", "User").objects.create(username="curator")
    account = old.get_model("broadcasts", "StaffTelegramAccount").objects.create(user=staff, telegram_id=8_000_000_003)

    new = migrate(AFTER)
    NewMember = new.get_model("profiles", "TelegramUser")
    moved = NewMember.objects.get(telegram_id=8_000_000_001)
    assert moved.pk == olga.pk
    assert (moved.username, moved.first_name, moved.last_name) == ("Olga_K", "Ольга", "Семёнова")
    assert moved.telegram_id_hash == exact_digest(8_000_000_001)
    assert NewMember.objects.filter(search_tokens__matches="семенова").get().pk == olga.pk
    assert NewMember.objects.get(telegram_id=8_000_000_002).pk == nameless.pk
    raw = _raw("SELECT telegram_id, username, first_name FROM profiles_telegramuser WHERE id = %s", [olga.pk])
    assert all(value.startswith("gAAAA") for value in raw)
    assert new.get_model("bot", "OutboundMessage").objects.get(pk=outbound.pk).chat_id == 8_000_000_001
    assert _raw("SELECT chat_id FROM bot_outboundmessage WHERE id = %s", [outbound.pk])[0].startswith("gAAAA")
    assert new.get_model("broadcasts", "StaffTelegramAccount").objects.get(pk=account.pk).telegram_id == 8_000_000_003

    back = migrate(BEFORE)
    restored = back.get_model("profiles", "TelegramUser").objects.get(pk=olga.pk)
    assert (restored.telegram_id, restored.username, restored.first_name, restored.last_name) == (
        8_000_000_001, "Olga_K", "Ольга", "Семёнова")
    assert _raw("SELECT telegram_id FROM profiles_telegramuser WHERE id = %s", [nameless.pk])[0] == 8_000_000_002
    assert back.get_model("bot", "OutboundMessage").objects.get(pk=outbound.pk).chat_id == 8_000_000_001
    assert back.get_model("broadcasts", "StaffTelegramAccount").objects.get(pk=account.pk).telegram_id == 8_000_000_003
