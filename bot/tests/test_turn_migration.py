"""Migration 0006 moves every session's encrypted JSON history into turn rows."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

# Members as they were then: identity in plain columns (profiles 0005 encrypts it).
BEFORE = [("bot", "0005_crisis_workflow"), ("profiles", "0003_proactive_timezone_index")]
AFTER = [("bot", "0007_drop_conversation_history")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture(autouse=True)
def _back_to_the_latest_schema():
    """Later tests need every migration, including those added after 0007."""
    yield
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_history_lists_become_turn_rows_in_order():
    old = migrate(BEFORE)
    member = old.get_model("profiles", "TelegramUser").objects.create(telegram_id=99_001)
    UserSession = old.get_model("bot", "UserSession")
    history = [{"role": "user", "content": "Я боюсь перемен", "ts": "2026-11-01T10:00:00+00:00"},
               {"role": "assistant", "content": "Что пугает больше всего?", "ts": "2026-11-01T10:00:05+00:00",
                "qr": ["Неизвестность", "Потери"]},
               {"role": "assistant", "content": "Я рядом", "ts": "bad", "kind": "proactive"}]
    session = UserSession.objects.create(user=member, conversation_history=history, message_count=2)
    UserSession.objects.create(user=member, status="ended", conversation_history=[])

    new = migrate(AFTER)
    turns = list(new.get_model("bot", "ConversationTurn").objects.filter(session_id=session.pk)
                 .order_by("position"))
    assert [(t.position, t.role, t.content) for t in turns] == [
        (0, "user", "Я боюсь перемен"), (1, "assistant", "Что пугает больше всего?"), (2, "assistant", "Я рядом")]
    assert turns[1].quick_replies == ["Неизвестность", "Потери"] and turns[2].kind == "proactive"
    assert turns[0].created_at.isoformat() == "2026-11-01T10:00:00+00:00"
    assert new.get_model("bot", "UserSession").objects.get(pk=session.pk).message_count == 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT content FROM bot_conversationturn WHERE id = %s", [turns[0].pk])
        assert cursor.fetchone()[0].startswith("gAAAA")  # still encrypted at rest
