"""Celery interface of privacy: thin and idempotent."""

from celery import shared_task


@shared_task(name="privacy.tasks.prune_archives")
def prune_archives() -> int:
    """Delete archived activity-log lines past ARCHIVE_RETENTION_DAYS."""
    from .retention import archives_prune

    return archives_prune()
