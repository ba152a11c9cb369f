"""Archive retention: archived lines past ARCHIVE_RETENTION_DAYS are deleted, idempotently."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from privacy.retention import archives_prune
from privacy.tasks import prune_archives
from profiles.models import UserActivityLog
from profiles.services import activity_logs_archive
from relove.core.archive import archive_files, archive_read
from testkit.factories import ActivityLogFactory

pytestmark = pytest.mark.django_db


def _archive(content, days_ago):
    log = ActivityLogFactory(content=content)
    UserActivityLog.objects.filter(pk=log.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    activity_logs_archive()


def test_old_archived_lines_are_deleted_and_recent_ones_kept(settings, tmp_path):
    settings.ARCHIVE_DIR = str(tmp_path / "archive")
    settings.ARCHIVE_RETENTION_DAYS = 365
    _archive("очень старое", 500)  # its own file: removed whole
    ActivityLogFactory.create_batch(1, content="тоже старое")
    UserActivityLog.objects.filter(content__isnull=False).update(created_at=timezone.now() - timedelta(days=400))
    ActivityLogFactory(content="недавнее архивное")
    UserActivityLog.objects.filter(created_at__gt=timezone.now() - timedelta(days=1)).update(
        created_at=timezone.now() - timedelta(days=100))
    activity_logs_archive()  # one file mixing a 400-day and a 100-day line
    assert len(archive_files()) == 2

    assert prune_archives() == 2
    remaining = [r["content"] for p in archive_files() for r in archive_read(p)]
    assert remaining == ["недавнее архивное"] and len(archive_files()) == 1
    assert archives_prune() == 0  # idempotent


def test_retention_runs_on_a_beat_schedule():
    assert PeriodicTask.objects.filter(task="privacy.tasks.prune_archives", enabled=True).exists()
