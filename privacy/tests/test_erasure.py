"""Erasure and export: every store a member's data can reach, found by introspection.

``STORES`` makes one row per model that references a member. When a new model referencing a
member appears (directly or through another member row), ``member_relations`` finds it and
these tests fail until a row-maker is added here — and that row is then proven erased and
exported.
"""

import json
import re
from datetime import date, timedelta

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.cache import cache
from django.utils import timezone

from analytics.models import DailyActivity, WeeklyActivity
from bot.models import CrisisAlert, CrisisNote, MemberFlagChange, OutboundMessage
from bot.services import sessions
from bot.services.flood import flood_check
from journeys.models import StreamStepDelivery
from privacy.erasure import member_erase
from privacy.export import EXPORT_SCHEMA, SKIPPED_FIELDS, member_export_data
from privacy.introspection import member_relations
from privacy.models import ErasureRecord
from profiles.models import MemberTag, TelegramUser, UserActivityLog, UserInteraction
from profiles.services import activity_logs_archive
from relove.core.archive import archive_files, archive_read
from relove.core.ratelimit import RateLimiter
from testkit import factories as f

SECRET = "СЕКРЕТ-страх-высоты"


def _stores(member, secret=SECRET):
    enrollment = f.StreamEnrollmentFactory(user=member)
    alert = CrisisAlert.objects.create(user=member, excerpt=secret)
    return {
        "bot.UserSession": lambda: f.UserSessionFactory(
            user=member, turns=[{"role": "user", "content": secret}], summary=secret),
        "bot.CrisisAlert": lambda: alert,
        "bot.CrisisNote": lambda: CrisisNote.objects.create(alert=alert, text=secret),
        "bot.MemberFlagChange": lambda: MemberFlagChange.objects.create(
            user=member, field=MemberFlagChange.Field.CRISIS_FLAG, value=True, reason=secret),
        "bot.DailyMessageSlot": lambda: f.DailySlotFactory(user=member),
        "bot.ConversationTurn": lambda: sessions.session_append(
            session=sessions.session_get_active(user=member), turns=[sessions.Turn("user", secret)]),
        "analytics.DailyActivity": lambda: DailyActivity.objects.create(day=date.today(), user=member, messages=3),
        "analytics.WeeklyActivity": lambda: WeeklyActivity.objects.create(week=date.today(), user=member),
        "bot.OutboundMessage": lambda: OutboundMessage.objects.create(
            kind="test", chat_id=member.telegram_id, user=member, text=secret, dedupe_key=f"t:{member.pk}"),
        "broadcasts.BroadcastDelivery": lambda: f.BroadcastDeliveryFactory(user=member),
        "journeys.JourneyInsight": lambda: f.JourneyInsightFactory(user=member, text=secret),
        "journeys.JourneyProgress": lambda: f.JourneyProgressFactory(user=member, evidence=secret),
        "journeys.StreamEnrollment": lambda: enrollment,
        "journeys.StreamStepDelivery": lambda: StreamStepDelivery.objects.create(
            enrollment=enrollment, step=f.StreamStepFactory(stream=enrollment.stream), due_on=date.today()),
        "profiles.PsychologicalProfile": lambda: f.ProfileFactory(user=member, summary=secret,
                                                                  data={"pains": [secret]}),
        "profiles.TelegramUser_tags": lambda: member.tags.add(MemberTag.objects.create(name="тревога")),
        "profiles.UserActivityLog": lambda: f.ActivityLogFactory(user=member, content=secret),
        "profiles.UserInteraction": lambda: UserInteraction.objects.create(
            user=member, kind=UserInteraction.Kind.CRISIS, metadata={"n": 1}),
        "triggers.ProactiveTrigger": lambda: f.TriggerFactory(user=member),
    }


def _fill_every_store(member, settings, tmp_path, secret=SECRET):
    settings.ARCHIVE_DIR = str(tmp_path / "archive")
    makers = _stores(member, secret)
    missing = sorted({r.label for r in member_relations()} - set(makers))
    assert not missing, f"no row-maker for member data in {missing}: add one to STORES and check erasure/export"
    for make in makers.values():
        make()
    # An archived activity-log line (past retention) next to a line of another member.
    other = f.TelegramUserFactory()
    old = [f.ActivityLogFactory(user=member, content=secret + " архив"), f.ActivityLogFactory(user=other)]
    UserActivityLog.objects.filter(pk__in=[o.pk for o in old]).update(created_at=timezone.now() - timedelta(days=400))
    assert activity_logs_archive() == 2
    # Cache: the session cache, flood counter, awaiting-input flag and the chat's rate slot.
    sessions.session_get_active(user=member)
    flood_check(user_id=member.pk)
    cache.set(f"await_tz:{member.pk}", 1, 60)
    RateLimiter().try_reserve(member.telegram_id)
    LogEntry.objects.log_actions(user_id=f.SuperuserFactory().pk, queryset=[member], action_flag=CHANGE,
                                 change_message="crisis_flag", single_object=True)
    member.crisis_flag = True
    member.last_summary = secret
    member.save()
    return other


def _all_rows_text() -> str:
    """Every row of every table, decrypted, as one text (test databases are small)."""
    chunks = []
    for model in apps.get_models(include_auto_created=True):
        if model._meta.proxy or not model._meta.managed:
            continue
        for row in model._base_manager.all():
            chunks.append(json.dumps({fl.attname: str(getattr(row, fl.attname)) for fl in
                                      model._meta.concrete_fields}, ensure_ascii=False))
    return "\n".join(chunks)


def _cache_dump() -> list[tuple[str, bytes]]:
    from django_redis import get_redis_connection

    conn = get_redis_connection("default")
    out = []
    for key in conn.scan_iter(count=1000):
        kind = conn.type(key)
        value = conn.get(key) if kind == b"string" else repr(conn.dump(key)).encode()
        out.append((key.decode(), value or b""))
    return out


@pytest.mark.django_db
def test_erasure_leaves_nothing_in_any_store(settings, tmp_path):
    if not settings.REDIS_URL:
        pytest.skip("the cache scan needs Redis (CI sets REDIS_URL)")
    member = f.TelegramUserFactory(username="erase_me_user", first_name="Эльвира")
    other = _fill_every_store(member, settings, tmp_path)
    pk, tid = member.pk, str(member.telegram_id)
    before = _all_rows_text()
    assert SECRET in before and tid in before and "erase_me_user" in before
    assert any(re.search(rf"(^|:){pk}(:|$)", k) for k, _ in _cache_dump())

    record = member_erase(user=member)

    for relation in member_relations():
        assert not relation.rows(pk).exists(), relation.label
    assert not TelegramUser.objects.filter(pk=pk).exists()
    after = _all_rows_text()
    for needle in (SECRET, tid, "erase_me_user", "Эльвира"):
        assert needle not in after, needle
    for key, value in _cache_dump():
        assert not re.search(rf"(^|:)({pk}|{tid})(:|$)", key), key
        assert SECRET.encode() not in value and tid.encode() not in value, key
    archived = [row for path in archive_files() for row in archive_read(path)]
    assert [row["user_id"] for row in archived] == [other.pk]
    assert SECRET not in json.dumps(archived, ensure_ascii=False)
    # The record says when and how much, never who.
    stored = ErasureRecord.objects.get(pk=record.pk)
    assert stored.initiator == "member" and stored.staff is None
    assert stored.archive_rows_deleted == 1 and stored.cache_keys_deleted >= 3
    assert stored.rows_deleted["bot.UserSession"] == 1
    assert set(stored.rows_deleted) <= {r.label for r in member_relations()} | {"admin.LogEntry",
                                                                               "profiles.TelegramUser"}
    # The other member keeps everything.
    assert TelegramUser.objects.filter(pk=other.pk).exists()


@pytest.mark.django_db
def test_export_holds_every_model_that_references_the_member(settings, tmp_path):
    member = f.TelegramUserFactory()
    _fill_every_store(member, settings, tmp_path)
    data = json.loads(json.dumps(member_export_data(user=member), default=str))

    assert data["schema"] == EXPORT_SCHEMA
    # Independently of the exporter: every model with a FK path to the member.
    expected = {r.label for r in member_relations()}
    assert set(data["records"]) == expected
    for label, rows in data["records"].items():
        assert rows, f"export of {label} is empty"
    model_fields = {fl.name for fl in TelegramUser._meta.concrete_fields} - SKIPPED_FIELDS
    assert model_fields | {"tags"} == set(data["member"])
    assert data["member"]["crisis_flag"] is True and data["member"]["last_summary"] == SECRET
    assert data["member"]["tags"] == ["тревога"]
    assert data["records"]["bot.CrisisAlert"][0]["excerpt"] == SECRET
    assert data["records"]["journeys.JourneyProgress"][0]["evidence"] == SECRET
    assert data["records"]["bot.ConversationTurn"][0]["content"] == SECRET
    assert {fl.name for fl in CrisisAlert._meta.concrete_fields} <= set(data["records"]["bot.CrisisAlert"][0])
    assert [row["content"] for row in data["archived_activity"]] == [SECRET + " архив"]


def test_introspection_follows_indirect_references():
    labels = {r.label: r.lookup for r in member_relations()}
    assert labels["journeys.StreamStepDelivery"] == "enrollment__user"
    assert labels["profiles.TelegramUser_tags"] == "telegramuser"
    # Deepest first: children are erased before their parents.
    order = [r.label for r in member_relations()]
    assert order.index("journeys.StreamStepDelivery") < order.index("journeys.StreamEnrollment")


@pytest.mark.django_db
def test_work_queued_before_the_erasure_does_nothing_after_it(settings, tmp_path, fake_telegram):
    """Celery messages already in the broker carry only row ids: run after the erasure, they
    find nothing, write nothing and send nothing."""
    from bot.tasks import deliver_outbound
    from journeys.tasks import analyse_member
    from profiles.tasks import rotate_member_profile

    member = f.TelegramUserFactory()
    _fill_every_store(member, settings, tmp_path)
    outbound_id = OutboundMessage.objects.get(user=member).pk
    member_pk = member.pk
    member_erase(user=member)

    rotate_member_profile(member_pk)
    analyse_member(member_pk, force=True)
    deliver_outbound(outbound_id)
    for relation in member_relations():
        assert not relation.rows(member_pk).exists(), relation.label
    assert fake_telegram.sent_messages(member.telegram_id) == []


@pytest.mark.django_db
def test_forget_through_the_bot_erases_and_records_the_member_as_initiator():
    from bot.services.members import TelegramIdentity
    from bot.services.orchestrator import Incoming, Kind, handle

    identity = TelegramIdentity(telegram_id=6006, username="forget_me")
    handle(Incoming(identity, Kind.COMMAND, text="/start", command="start"))
    handle(Incoming(identity, Kind.CALLBACK, callback_data="c:y"))
    handle(Incoming(identity, Kind.TEXT, text="Мне страшно"))
    handle(Incoming(identity, Kind.COMMAND, text="/forget", command="forget"))
    assert TelegramUser.objects.filter(telegram_id=6006).exists()  # asked, not yet confirmed
    handle(Incoming(identity, Kind.CALLBACK, callback_data="fg:y"))
    assert not TelegramUser.objects.filter(telegram_id=6006).exists()
    assert ErasureRecord.objects.get().initiator == "member"


@pytest.mark.django_db
def test_admin_history_names_member_rows_by_id_only():
    """Erased log entries stay on disk as dead tuples for a while: no "@username" in them,
    whether the admin logs one row or many at once (bulk_create sends no save signal)."""
    from django.contrib.admin.models import DELETION

    member = f.TelegramUserFactory(username="history_user")
    triggers = [f.TriggerFactory(user=member), f.TriggerFactory(user=member)]
    staff = f.SuperuserFactory()
    LogEntry.objects.log_actions(user_id=staff.pk, queryset=[member], action_flag=CHANGE, single_object=True)
    LogEntry.objects.log_actions(user_id=staff.pk, queryset=triggers, action_flag=DELETION)
    LogEntry.objects.log_actions(user_id=staff.pk, queryset=[staff], action_flag=CHANGE, single_object=True)
    reprs = {(model, int(pk)): text for model, pk, text in
             LogEntry.objects.values_list("content_type__model", "object_id", "object_repr")}
    assert reprs[("telegramuser", member.pk)] == f"участник #{member.pk}"
    assert reprs[("proactivetrigger", triggers[0].pk)] == f"{triggers[0]._meta.verbose_name} #{triggers[0].pk}"
    assert reprs[("user", staff.pk)] == str(staff)  # staff accounts keep their name
    assert "history_user" not in str(reprs)
