"""The Celery app. Periodic jobs live in django-celery-beat's database scheduler and are
created on ``migrate`` (see ``relove.core.schedules``), so staff can edit them in admin."""

import os

from celery import Celery
from celery.signals import worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relove.settings")

app = Celery("relove")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _verify_encryption_keys(**kwargs):
    """A worker with a wrong key must not start writing data nobody can read."""
    from relove.core.crypto import verify_keys

    verify_keys()


@worker_ready.connect
def _start_heartbeat(**kwargs):
    """The worker tells the dashboard and /healthz it is alive, independently of any task."""
    from relove.core.liveness import start_worker_heartbeat

    start_worker_heartbeat()
