"""Celery interface of the core app: thin and idempotent."""

from celery import shared_task


@shared_task(name="relove.core.tasks.prune_staff_tasks")
def prune_staff_tasks() -> int:
    """Delete finished staff tasks past STAFF_TASK_RETENTION_DAYS."""
    from .staff_tasks import staff_tasks_prune

    return staff_tasks_prune()
