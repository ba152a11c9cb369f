from celery import shared_task

from .services import activity_rollup_due


@shared_task(name="analytics.tasks.rollup_activity")
def rollup_activity() -> int:
    """Keep the daily activity rollups current (finished days once, today every run)."""
    return activity_rollup_due()
