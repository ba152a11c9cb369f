import pytest
from django_celery_beat.models import PeriodicTask

from relove.celery import app
from relove.core.schedules import PERIODIC_TASKS, ensure_periodic_tasks


@pytest.mark.django_db
def test_periodic_tasks_exist_once_and_point_at_registered_tasks():
    names = {row[1] for row in PERIODIC_TASKS}
    assert set(PeriodicTask.objects.values_list("task", flat=True)) >= names
    app.loader.import_default_modules()
    assert names <= set(app.tasks.keys())


@pytest.mark.django_db
def test_schedules_are_created_idempotently_and_keep_staff_edits():
    task = PeriodicTask.objects.get(task="triggers.tasks.scan_triggers")
    task.enabled = False
    task.save()
    assert ensure_periodic_tasks() == 0
    assert PeriodicTask.objects.filter(task="triggers.tasks.scan_triggers").count() == 1
    assert PeriodicTask.objects.get(pk=task.pk).enabled is False
