"""Queries compiled once per process give exactly what the ORM gives (real database)."""

from datetime import datetime, timedelta

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bot.models import UserSession
from bot.services import sessions
from journeys import selectors as journey_selectors
from profiles.models import PsychologicalProfile, TelegramUser, UserActivityLog, UserInteraction
from relove.core.blind_index import exact_digest
from relove.core.precompiled import Precompiled, Statement, execute_together, insert_statement
from testkit.factories import ProfileFactory, TelegramUserFactory, TriggerFactory, UserSessionFactory
from triggers.models import ProactiveTrigger
from triggers.services.attribution import MOOT_OR_LATEST, _moot_or_latest

pytestmark = pytest.mark.django_db


def _fields(instance, names):
    return {name: getattr(instance, name) for name in names}


def test_model_rows_match_the_orm_including_decrypted_fields_and_json():
    member = TelegramUserFactory()
    ProfileFactory(user=member, version=1, summary="Старое", data={"interests": ["работа"]})
    ProfileFactory(user=member, version=2, summary="Ищет опору", data={"interests": ["отношения"], "n": 3})
    ProfileFactory(version=9)  # someone else's, newer
    latest = Precompiled(lambda user_id: PsychologicalProfile.objects.filter(user_id=user_id)
                         .order_by("-version")[:1], user_id=int)

    [found] = latest.objects(user_id=member.pk)
    expected = PsychologicalProfile.objects.filter(user=member).order_by("-version").first()
    names = [f.attname for f in PsychologicalProfile._meta.concrete_fields]
    assert _fields(found, names) == _fields(expected, names)
    assert (found.summary, found.data) == ("Ищет опору", {"interests": ["отношения"], "n": 3})
    assert found._state.adding is False and found._state.db == "default"  # a saved row, as the ORM gives
    assert latest.objects(user_id=TelegramUserFactory().pk) == []


def test_only_and_a_subquery_as_in_the_attribution_read():
    member, other = TelegramUserFactory(), TelegramUserFactory()
    now = timezone.now()
    pending = TriggerFactory(user=member, status=ProactiveTrigger.Status.PENDING)
    TriggerFactory(user=member, status=ProactiveTrigger.Status.SENT, sent_at=now - timedelta(hours=5))
    newest = TriggerFactory(user=member, status=ProactiveTrigger.Status.SENT, sent_at=now - timedelta(hours=1))
    TriggerFactory(user=other, status=ProactiveTrigger.Status.PENDING)

    found = MOOT_OR_LATEST.objects(user_id=member.pk)
    expected = list(_moot_or_latest(member.pk))
    names = ["id", "kind", "status", "sent_at", "answered_at"]
    assert [_fields(t, names) for t in found] == [_fields(t, names) for t in expected]
    assert {t.pk for t in found} == {pending.pk, newest.pk}
    assert found[0].get_deferred_fields() == expected[0].get_deferred_fields()  # .only() kept


def test_values_with_a_json_key_and_a_datetime_value():
    member = TelegramUserFactory()
    now = timezone.now()
    for stream_id, days in ((7, 1), (8, 3), (9, 20)):
        event = UserInteraction.objects.create(user=member, kind=UserInteraction.Kind.STREAM_OFFERED,
                                               metadata={"stream_id": stream_id})
        UserInteraction.objects.filter(pk=event.pk).update(created_at=now - timedelta(days=days))
    UserInteraction.objects.create(user=member, kind=UserInteraction.Kind.STREAM_OFFERED, metadata={"stream_id": "x"})

    found = journey_selectors.OFFERED_SINCE.rows(user_id=member.pk, since=now - timedelta(days=7))
    expected = list(UserInteraction.objects.filter(
        user=member, kind=UserInteraction.Kind.STREAM_OFFERED, created_at__gte=now - timedelta(days=7),
    ).values_list("metadata__stream_id"))
    assert sorted(found, key=str) == sorted(expected, key=str)
    assert {7, 8, "x"} == {value for (value,) in found}
    assert journey_selectors.streams_offered_recently(user=member, now=now) == {7, 8}


def test_an_annotation_is_converted_like_the_orm_converts_it():
    member = TelegramUserFactory()
    UserSessionFactory(user=member, status=UserSession.Status.ENDED)
    active = UserSessionFactory(user=member)
    [found] = sessions.ACTIVE_WITH_NEWS.objects(user_id=member.pk)
    expected = UserSession.objects.filter(user=member, status=UserSession.Status.ACTIVE).annotate(
        stage_news=sessions.STAGE_NEWS).first()
    assert found.pk == active.pk
    assert found.stage_news is expected.stage_news is False  # a bool, also on SQLite (0/1 there)


def test_the_recent_turns_read_matches_the_general_one():
    session = UserSessionFactory(turns=[{"role": "user", "content": f"Реплика {i}"} if i % 2 == 0 else
                                        {"role": "assistant", "content": f"Ответ {i}", "qr": ["Да", "Нет"]}
                                        for i in range(9)])
    fast = sessions.session_recent_turns(session=session, limit=4, quick_replies=False)
    general = sessions.session_turns(session=session, start=5)
    assert fast == [{k: v for k, v in turn.items() if k != "qr"} for turn in general]
    assert [t["content"] for t in fast] == ["Ответ 5", "Реплика 6", "Ответ 7", "Реплика 8"]


def test_compiled_once_one_statement_per_call():
    member = TelegramUserFactory()
    built = []

    def build(user_id):
        built.append(user_id)
        return PsychologicalProfile.objects.filter(user_id=user_id)

    query = Precompiled(build, user_id=int)
    query.objects(user_id=member.pk)
    with CaptureQueriesContext(connection) as captured:
        query.objects(user_id=member.pk)
        query.rows(user_id=member.pk)
    assert len(built) == 1
    assert len(captured) == 2 and str(member.pk) in captured[0]["sql"]


def test_a_value_that_does_not_reach_the_query_is_refused():
    ignored = Precompiled(lambda user_id: PsychologicalProfile.objects.filter(user_id=1), user_id=int)
    with pytest.raises(ValueError, match="user_id"):
        ignored.rows(user_id=5)
    with pytest.raises(TypeError):
        Precompiled(lambda share: PsychologicalProfile.objects.filter(light_shadow_balance=share), share=float).rows(
            share=0.5)
    hashed = Precompiled(lambda telegram_id: TelegramUser.objects.filter(telegram_id=telegram_id), telegram_id=int)
    with pytest.raises(ValueError, match="telegram_id"):  # the lookup sends a digest, not the value: refused
        hashed.rows(telegram_id=424242)
    values = Precompiled(lambda user_id: PsychologicalProfile.objects.filter(user_id=user_id).values_list("pk"),
                         user_id=int)
    with pytest.raises(TypeError, match="rows"):
        values.objects(user_id=1)


def test_a_text_value_and_the_member_read():
    member = TelegramUserFactory(telegram_id=424242)
    by_digest = Precompiled(lambda digest: TelegramUser.objects.filter(telegram_id_hash=digest), digest=str)
    [found] = by_digest.objects(digest=exact_digest(424242))
    assert (found.pk, found.telegram_id) == (member.pk, 424242)
    assert by_digest.objects(digest=exact_digest(424243)) == []


def test_a_datetime_value_is_adapted_for_the_database():
    member = TelegramUserFactory()
    ProfileFactory(user=member)
    later = Precompiled(lambda since: PsychologicalProfile.objects.filter(generated_at__gte=since)
                        .values_list("user_id"), since=datetime)
    assert later.rows(since=timezone.now() - timedelta(minutes=5)) == [(member.pk,)]
    assert later.rows(since=timezone.now() + timedelta(minutes=5)) == []


def test_inserted_rows_read_back_through_the_orm_encrypted_at_rest():
    member = TelegramUserFactory()
    at = timezone.now() - timedelta(minutes=3)
    execute_together([
        insert_statement(UserActivityLog, ("user", "kind", "content", "created_at"),
                         [(member.pk, UserActivityLog.Kind.MESSAGE_IN, "Мне страшно", at),
                          (member.pk, UserActivityLog.Kind.MESSAGE_OUT, "Я рядом", at)]),
        insert_statement(UserInteraction, ("user", "kind", "stage", "metadata", "created_at"),
                         [(member.pk, UserInteraction.Kind.MESSAGE_IN, 3, {"session_id": 7, "ключ": "значение"}, at)])])
    assert insert_statement(UserInteraction, ("user", "kind"), []) is None  # nothing to write: no statement

    logs = list(UserActivityLog.objects.filter(user=member).order_by("pk"))
    assert [(log.kind, log.content, log.created_at) for log in logs] == [
        ("message_in", "Мне страшно", at), ("message_out", "Я рядом", at)]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT content FROM {UserActivityLog._meta.db_table} WHERE user_id = %s", [member.pk])
        stored = [content for (content,) in cursor.fetchall()]
    assert stored and all("страшно" not in text and "рядом" not in text for text in stored)
    event = UserInteraction.objects.get(user=member)
    assert (event.stage, event.metadata, event.created_at) == (3, {"session_id": 7, "ключ": "значение"}, at)


def _log_statement(member, text):
    return insert_statement(UserActivityLog, ("user", "kind", "content", "created_at"),
                            [(member.pk, UserActivityLog.Kind.MESSAGE_IN, text, timezone.now())])


def test_statements_executed_together_give_each_ones_rows_in_one_query_on_postgresql():
    member = TelegramUserFactory()
    table = TelegramUser._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        results = execute_together([
            Statement(f"UPDATE {table} SET messages_count = messages_count + %s WHERE id = %s "
                      "RETURNING messages_count", [5, member.pk]),
            None,  # skipped
            _log_statement(member, "Первое; с точкой с запятой"),
            Statement(f"SELECT messages_count FROM {table} WHERE id = %s", [member.pk])])
    assert results == [[(member.messages_count + 5,)], [], [(member.messages_count + 5,)]]
    assert UserActivityLog.objects.get(user=member).content == "Первое; с точкой с запятой"
    # PostgreSQL: one round trip; SQLite: one by one inside a savepoint (BEGIN/COMMIT in production).
    assert len(queries) == (1 if connection.vendor == "postgresql" else 5)
    assert execute_together([None]) == []


@pytest.mark.django_db(transaction=True)
def test_statements_executed_together_are_all_or_nothing():
    member = TelegramUserFactory()
    with pytest.raises(IntegrityError):
        execute_together([_log_statement(member, "Останется?"),
                          Statement(f"UPDATE {TelegramUser._meta.db_table} SET telegram_id = NULL "
                                    "WHERE id = %s", [member.pk])])
    assert not UserActivityLog.objects.filter(user=member).exists()
    execute_together([_log_statement(member, "Теперь да")])  # the connection is usable afterwards
    assert UserActivityLog.objects.get(user=member).content == "Теперь да"
