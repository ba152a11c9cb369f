"""Staff tasks carry conversations (sandbox runs) and Natasha's words (previews): encrypted, and gone after a while."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from relove.core.models import StaffTask
from relove.core.staff_tasks import staff_tasks_prune
from relove.core.tasks import prune_staff_tasks

pytestmark = pytest.mark.django_db


def test_params_are_encrypted_at_rest():
    task = StaffTask.objects.create(kind="sandbox", params={"conversation": "Мне страшно уходить с работы"})
    with connection.cursor() as cursor:
        cursor.execute("SELECT params, result FROM core_stafftask WHERE id = %s", [task.pk])
        raw = " ".join(str(v) for v in cursor.fetchone())
    assert "страшно" not in raw and "conversation" not in raw
    assert StaffTask.objects.get(pk=task.pk).params == {"conversation": "Мне страшно уходить с работы"}


def test_finished_tasks_older_than_the_retention_are_deleted(settings):
    settings.STAFF_TASK_RETENTION_DAYS = 30
    old = timezone.now() - timedelta(days=31)
    done_old = StaffTask.objects.create(kind="preview", status=StaffTask.Status.DONE)
    failed_old = StaffTask.objects.create(kind="preview", status=StaffTask.Status.FAILED)
    queued_old = StaffTask.objects.create(kind="preview", status=StaffTask.Status.QUEUED)
    StaffTask.objects.filter(pk__in=[done_old.pk, failed_old.pk, queued_old.pk]).update(created_at=old)
    recent = StaffTask.objects.create(kind="preview", status=StaffTask.Status.DONE)
    assert prune_staff_tasks.delay().get() == 2
    assert set(StaffTask.objects.values_list("pk", flat=True)) == {queued_old.pk, recent.pk}
    assert staff_tasks_prune() == 0  # idempotent


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_the_params_of_existing_tasks():
    from django.db.migrations.executor import MigrationExecutor

    def migrate(targets):
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(targets)
        return executor.loader.project_state(targets).apps

    try:
        old = migrate([("core", "0003_heartbeat")])
        row = old.get_model("core", "StaffTask").objects.create(kind="preview", params={"text": "тревога"})
        new = migrate([("core", "0004_stafftask_params_encrypted")])
        assert new.get_model("core", "StaffTask").objects.get(pk=row.pk).params == {"text": "тревога"}
        with connection.cursor() as cursor:
            cursor.execute("SELECT params FROM core_stafftask WHERE id = %s", [row.pk])
            assert "тревога" not in str(cursor.fetchone()[0])
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
