"""Celery interface of profiles: thin, idempotent, calling services."""

from celery import shared_task


@shared_task(name="profiles.tasks.rotate_profiles")
def rotate_profiles() -> dict:
    """Daily profile rotation for recently active, consenting members (resumable)."""
    from .rotation import profiles_rotate

    return profiles_rotate()
