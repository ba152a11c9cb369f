import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from bot.models import UserSession
from bot.services.sessions import session_history
from profiles.models import UserActivityLog
from relove.core.crypto import DecryptionError, verify_keys
from testkit.factories import ActivityLogFactory, TelegramUserFactory, UserSessionFactory

SECRET = "Я боюсь уйти с работы"


def raw_column(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_round_trip_and_no_plaintext_in_raw_columns():
    session = UserSessionFactory(turns=[{"role": "user", "content": SECRET}])
    log = ActivityLogFactory(content=SECRET)

    turn = session.turns.get()
    assert session_history(UserSession.objects.get(pk=session.pk))[0]["content"] == SECRET
    assert UserActivityLog.objects.get(pk=log.pk).content == SECRET
    for table, column, pk in [("bot_conversationturn", "content", turn.pk),
                              ("profiles_useractivitylog", "content", log.pk)]:
        raw = raw_column(table, column, pk)
        assert SECRET not in raw
        assert "боюсь" not in raw
        assert raw.startswith("gAAAA")  # a Fernet token


@pytest.mark.django_db
def test_wrong_key_raises_instead_of_returning_ciphertext():
    log = ActivityLogFactory(content=SECRET)
    with override_settings(FIELD_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]):
        with pytest.raises(DecryptionError):
            UserActivityLog.objects.get(pk=log.pk)
        with pytest.raises(ImproperlyConfigured):
            verify_keys()  # the canary written at migrate time no longer decrypts


@pytest.mark.django_db
def test_missing_or_malformed_key_fails_loudly():
    with override_settings(FIELD_ENCRYPTION_KEYS=[]), pytest.raises(ImproperlyConfigured):
        verify_keys()
    with override_settings(FIELD_ENCRYPTION_KEYS=["not-a-key"]), pytest.raises(ImproperlyConfigured):
        verify_keys()


@pytest.mark.django_db
def test_system_check_reports_a_wrong_key():
    from relove.core.checks import check_encryption_keys

    assert check_encryption_keys(None) == []
    with override_settings(FIELD_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]):
        errors = check_encryption_keys(None)
    assert [e.id for e in errors] == ["relove.E001"]


@pytest.mark.django_db
def test_rotate_keys_reencrypts_every_row_with_the_newest_key(settings):
    old_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    log = ActivityLogFactory(content=SECRET)
    member = TelegramUserFactory(last_summary="Говорили о страхе")
    before = raw_column("profiles_useractivitylog", "content", log.pk)

    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *old_keys]
    call_command("rotate_keys", verbosity=0)

    after = raw_column("profiles_useractivitylog", "content", log.pk)
    assert after != before
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # old key removed: everything still reads
    assert UserActivityLog.objects.get(pk=log.pk).content == SECRET
    member.refresh_from_db()
    assert member.last_summary == "Говорили о страхе"
    verify_keys()
