"""Celery interface of profiles: thin, idempotent, calling services."""

from celery import shared_task


@shared_task(name="profiles.tasks.rotate_profiles")
def rotate_profiles() -> dict:
    """Daily profile rotation for recently active, consenting members (resumable)."""
    from .rotation import profiles_rotate

    return profiles_rotate()


@shared_task(name="profiles.tasks.rotate_member_profile")
def rotate_member_profile(user_id: int) -> str:
    """Staff asked for a fresh profile of one member now ("rotate profile now")."""
    from .rotation import profile_rotate_member

    return profile_rotate_member(user_id=user_id, force=True)
