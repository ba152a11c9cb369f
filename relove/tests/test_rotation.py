"""Key rotation while the product serves: nothing written meanwhile is lost; archives too."""

import threading
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from profiles.models import TelegramUser, UserActivityLog
from profiles.services import activity_logs_archive
from relove.core.archive import archive_files, archive_read
from relove.core.rotation import is_current, reencrypt_all
from testkit.factories import ActivityLogFactory, TelegramUserFactory

WRITES = 60


@pytest.mark.django_db(transaction=True)
def test_rotation_while_turns_are_written_loses_none(settings):
    if connection.vendor != "postgresql":
        pytest.skip("real concurrent writers need PostgreSQL (CI sets DATABASE_URL)")
    old_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    members = [TelegramUserFactory(last_summary="начало") for _ in range(4)]
    for m in members:
        ActivityLogFactory.create_batch(40, user=m, content="старая запись")
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *old_keys]  # every process has the new key first
    errors: list[BaseException] = []
    started = threading.Barrier(len(members) + 1)

    def writer(member_pk: int) -> None:
        # Like a conversation turn: read the member's text, append, write back — under a row lock.
        try:
            started.wait()
            for i in range(WRITES):
                with transaction.atomic():
                    member = TelegramUser.objects.select_for_update().get(pk=member_pk)
                    member.last_summary = f"{member.last_summary}|{i}"
                    member.save(update_fields=["last_summary"])
                UserActivityLog.objects.create(user_id=member_pk, kind="message_in", content=f"реплика {i}")
        except BaseException as exc:  # noqa: BLE001 — reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(m.pk,)) for m in members]
    for t in threads:
        t.start()
    started.wait()
    rounds = 0
    while any(t.is_alive() for t in threads):  # rotate again and again while they write
        reencrypt_all(batch_size=7)
        rounds += 1
    for t in threads:
        t.join()
    reencrypt_all(batch_size=7)
    assert not errors, errors
    assert rounds >= 1

    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key is dropped: everything must read
    for m in members:
        summary = TelegramUser.objects.get(pk=m.pk).last_summary
        assert summary == "начало" + "".join(f"|{i}" for i in range(WRITES)), "a write was lost"
        contents = set(UserActivityLog.objects.filter(user_id=m.pk).values_list("content", flat=True))
        assert contents == {"старая запись"} | {f"реплика {i}" for i in range(WRITES)}


@pytest.mark.django_db
def test_rotation_reencrypts_archives_and_resumes(settings, tmp_path):
    settings.ARCHIVE_DIR = str(tmp_path / "archive")
    old_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    log = ActivityLogFactory(content="архивная запись")
    UserActivityLog.objects.filter(pk=log.pk).update(created_at=timezone.now() - timedelta(days=400))
    activity_logs_archive()
    ActivityLogFactory.create_batch(3)
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *old_keys]

    call_command("rotate_keys", verbosity=0)
    assert all(is_current(p.read_bytes()) for p in archive_files())
    again = reencrypt_all()  # a rerun finds nothing left: it resumes from where the first stopped
    assert sum(again.values()) == 0

    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert [r["content"] for p in archive_files() for r in archive_read(p)] == ["архивная запись"]
