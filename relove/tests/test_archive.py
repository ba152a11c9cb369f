from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from bot.models import ProcessedUpdate
from profiles.models import UserActivityLog
from profiles.services import read_archive
from testkit.factories import ActivityLogFactory


@pytest.mark.django_db
def test_archive_logs_moves_old_entries_into_encrypted_files(settings, tmp_path):
    settings.ARCHIVE_DIR = str(tmp_path)
    old = ActivityLogFactory(content="старая запись о страхе")
    UserActivityLog.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=91))
    recent = ActivityLogFactory(content="свежая запись")
    ProcessedUpdate.objects.create(update_id=1)
    ProcessedUpdate.objects.filter(update_id=1).update(received_at=timezone.now() - timedelta(days=8))
    ProcessedUpdate.objects.create(update_id=2)

    call_command("archive_logs")

    assert list(UserActivityLog.objects.values_list("pk", flat=True)) == [recent.pk]
    assert list(ProcessedUpdate.objects.values_list("update_id", flat=True)) == [2]
    files = list(Path(tmp_path).iterdir())
    assert len(files) == 1
    assert "страх".encode() not in files[0].read_bytes()  # encrypted on disk
    rows = read_archive(files[0])
    assert rows[0]["content"] == "старая запись о страхе"
    call_command("archive_logs")  # nothing left to archive: no new file
    assert len(list(Path(tmp_path).iterdir())) == 1
