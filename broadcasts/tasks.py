"""Celery interface of broadcasts: thin, idempotent, calling services."""

from celery import shared_task


@shared_task(name="broadcasts.tasks.dispatch_scheduled_broadcasts")
def dispatch_scheduled_broadcasts() -> int:
    """Start broadcasts whose time has come and hand their deliveries to workers."""
    from .services import broadcasts_start_due

    return broadcasts_start_due()


@shared_task(name="broadcasts.tasks.send_broadcast")
def send_broadcast(broadcast_id: int) -> dict:
    """Deliver one broadcast's pending rows; several workers may run this at once."""
    from .services import broadcast_deliver

    return broadcast_deliver(broadcast_id=broadcast_id)


@shared_task(name="broadcasts.tasks.test_send_for_staff")
def test_send_for_staff(staff_task_id: int) -> str | None:
    """The admin's test send, off the web request; runs at most once per request."""
    from relove.core.staff_tasks import staff_task_run

    from .services.staff import broadcast_test_send_outcome

    return staff_task_run(task_id=staff_task_id, work=broadcast_test_send_outcome)
