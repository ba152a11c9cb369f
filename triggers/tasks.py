"""Celery interface of the trigger engine: thin, idempotent, calling services."""

from celery import shared_task


@shared_task(name="triggers.tasks.scan_triggers")
def scan_triggers() -> dict:
    """Detect reasons to write first, then deliver what is due. Safe to overlap."""
    from .services import triggers_run_scan

    return triggers_run_scan()
