"""The member's identity is encrypted at rest and still found: by Telegram id (keyed digest)
and by name or @username (word digests) in the admin and the API, on SQLite and PostgreSQL."""

import pytest
from cryptography.fernet import Fernet
from django.contrib import admin
from django.db import IntegrityError, connection, transaction
from django.test import RequestFactory
from django.urls import reverse

from profiles.models import TelegramUser
from profiles.services import TelegramIdentity, member_sync
from relove.core import blind_index
from relove.core.rotation import reencrypt_all
from testkit.factories import TelegramUserFactory, TriggerFactory

pytestmark = pytest.mark.django_db


def _raw(member_pk: int) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT telegram_id, telegram_id_hash, username, first_name, last_name, search_tokens "
                       "FROM profiles_telegramuser WHERE id = %s", [member_pk])
        return dict(zip([c[0] for c in cursor.description], cursor.fetchone(), strict=True))


def test_identity_columns_hold_ciphertext_and_digests_only():
    member = TelegramUserFactory(telegram_id=7_123_456_789, username="olga_k", first_name="Ольга",
                                 last_name="Семёнова")
    raw = _raw(member.pk)
    for column in ("telegram_id", "username", "first_name", "last_name"):
        assert raw[column].startswith("gAAAA"), column  # Fernet token
    assert len(raw["telegram_id_hash"]) == 64 and "7123456789" not in raw["telegram_id_hash"]
    assert len(raw["search_tokens"].split()) == 3  # olga_k, ольга, семенова
    for clear in ("olga", "Ольга", "ольга", "Семёнова", "7123456789"):
        assert clear not in str(raw)
    member.refresh_from_db()
    assert (member.telegram_id, member.username, member.first_name, member.last_name, str(member)) == (
        7_123_456_789, "olga_k", "Ольга", "Семёнова", "@olga_k")


def test_lookups_by_telegram_id_compare_digests():
    member = TelegramUserFactory(telegram_id=424242)
    other = TelegramUserFactory(telegram_id=434343)
    trigger = TriggerFactory(user=member)
    assert TelegramUser.objects.get(telegram_id=424242) == member
    assert TelegramUser.objects.get(telegram_id="424242") == member  # a typed id
    assert set(TelegramUser.objects.filter(telegram_id__in=[424242, 434343, 1])) == {member, other}
    assert list(type(trigger).objects.filter(user__telegram_id=424242)) == [trigger]  # across a join
    assert not TelegramUser.objects.filter(telegram_id="Ольга").exists()
    assert TelegramUser.objects.filter(telegram_id__isnull=False).count() == 2
    again, created = TelegramUser.objects.get_or_create(telegram_id=424242)
    assert (again, created) == (member, False)


def test_bulk_created_members_are_indexed_too():
    TelegramUser.objects.bulk_create([TelegramUser(telegram_id=525252, first_name="Ия", username="iya")])
    assert TelegramUser.objects.get(telegram_id=525252).first_name == "Ия"
    assert TelegramUser.objects.filter(search_tokens__matches="ИЯ").get().username == "iya"


def test_the_digest_is_unique():
    TelegramUserFactory(telegram_id=515151)
    with pytest.raises(IntegrityError), transaction.atomic():
        TelegramUser.objects.create(telegram_id=515151)


def test_renaming_through_sync_keeps_the_search_current():
    member = member_sync(identity=TelegramIdentity(telegram_id=616161, first_name="Вера"))
    assert TelegramUser.objects.filter(search_tokens__matches="вера").get() == member
    member_sync(identity=TelegramIdentity(telegram_id=616161, first_name="Надежда", username="nadya"))
    assert not TelegramUser.objects.filter(search_tokens__matches="вера").exists()
    assert TelegramUser.objects.filter(search_tokens__matches="НАДЕЖДА").get() == member
    assert TelegramUser.objects.filter(search_tokens__matches="@nadya").get() == member
    # A save naming only the names refreshes the digests too.
    member.first_name = "Любовь"
    member.save(update_fields=["first_name"])
    assert TelegramUser.objects.filter(search_tokens__matches="любовь").get() == member


@pytest.fixture
def people():
    return {
        "olga": TelegramUserFactory(telegram_id=700_001, first_name="Ольга", last_name="Петрова", username="olga_k"),
        "semyon": TelegramUserFactory(telegram_id=700_002, first_name="Семён", last_name="", username="Sem_Win"),
        "anna": TelegramUserFactory(telegram_id=700_003, first_name="Анна-Мария", last_name="Ольгина",
                                    username=""),
    }


@pytest.mark.parametrize(("query", "expected"), [
    ("ольга", {"olga"}),  # Cyrillic, any case
    ("ОЛЬГА", {"olga"}),
    ("Ольга Петрова", {"olga"}),  # every word must match
    ("Ольга Семён", set()),
    ("семен", {"semyon"}),  # ё = е
    ("@sem_win", {"semyon"}),  # @username, any case
    ("sem_win", {"semyon"}),
    ("мария", {"anna"}),  # a part of a hyphenated name is a word
    ("оль", set()),  # whole words only: no substrings
    ("700002", {"semyon"}),  # the exact Telegram id
    ("70000", set()),
])
def test_admin_member_search(client, superuser, people, query, expected):
    client.force_login(superuser)
    response = client.get(reverse("admin:profiles_telegramuser_changelist"), {"q": query})
    assert response.status_code == 200
    found = {pk for pk in response.context["cl"].result_list.values_list("pk", flat=True)}
    assert found == {people[name].pk for name in expected}


def test_api_member_filters(client, superuser, people):
    client.force_login(superuser)
    by_id = client.get("/api/v1/users/", {"telegram_id": 700_001}).json()
    rows = by_id["results"] if isinstance(by_id, dict) else by_id
    assert [(r["id"], r["telegram_id"], r["username"]) for r in rows] == [(people["olga"].pk, 700_001, "olga_k")]
    for query, expected in (("ольга", {"olga"}), ("@OLGA_K", {"olga"}), ("семен 700002", {"semyon"}),
                            ("Ольгина", {"anna"}), ("оль", set())):
        body = client.get("/api/v1/users/", {"search": query}).json()
        rows = body["results"] if isinstance(body, dict) else body
        assert {r["id"] for r in rows} == {people[n].pk for n in expected}, query


def test_every_admin_search_runs_on_encrypted_identity(superuser, people):
    """A search field such as ``user__username`` (icontains on an encrypted column) fails at
    query time; this walks every registered admin so none is left behind."""
    request = RequestFactory().get("/admin/", {"q": "ольга"})
    request.user = superuser
    for model, model_admin in admin.site._registry.items():
        if not model_admin.get_search_fields(request):
            continue
        queryset, _ = model_admin.get_search_results(request, model._default_manager.all(), "ольга @olga_k 700001")
        list(queryset[:1])  # compiles and runs the query


def test_lookups_and_search_survive_a_key_rotation(settings, people):
    old_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    old_digest = TelegramUser.objects.get(pk=people["olga"].pk).telegram_id_hash
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *old_keys]
    # New key deployed, rotation not run yet: old digests are still found.
    assert TelegramUser.objects.get(telegram_id=700_001) == people["olga"]
    assert TelegramUser.objects.filter(search_tokens__matches="ольга").get() == people["olga"]
    done = reencrypt_all()
    assert done["profiles.TelegramUser index"] == 3
    rotated = TelegramUser.objects.get(pk=people["olga"].pk)
    assert rotated.telegram_id_hash != old_digest
    assert rotated.telegram_id_hash == blind_index.exact_digest(700_001)
    settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[:1]  # the old key is dropped
    assert TelegramUser.objects.get(telegram_id=700_001).first_name == "Ольга"
    assert TelegramUser.objects.filter(search_tokens__matches="@olga_k").get() == people["olga"]
    assert reencrypt_all()["profiles.TelegramUser index"] == 0  # a rerun has nothing left


def test_a_member_writing_between_a_new_key_and_the_rotation_is_found(settings, people):
    """``member_sync`` looks the member up by the newest key's digest first; a digest still under
    the old key is found by the general lookup, never taken for a new member."""
    count = TelegramUser.objects.count()
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.FIELD_ENCRYPTION_KEYS]
    found = member_sync(identity=TelegramIdentity(telegram_id=700_001))
    assert found.pk == people["olga"].pk and found.first_name == "Ольга"
    assert TelegramUser.objects.count() == count
    reencrypt_all()
    assert member_sync(identity=TelegramIdentity(telegram_id=700_001)).pk == people["olga"].pk
    assert TelegramUser.objects.count() == count
