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
