"""Celery interface of journeys: thin, idempotent, calling services."""

import logging

from celery import shared_task
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


@shared_task(name="journeys.tasks.analyse_member")
def analyse_member(user_id: int, force: bool = False) -> str:
    """Stage analysis of the member's latest turn; a turn already analysed is not sent again
    unless ``force`` (staff "re-analyse now")."""
    from .analysis import journey_analyse

    return journey_analyse(user_id=user_id, force=force).status


def _enqueue_analysis(user_id: int, force: bool) -> None:
    try:
        # retry=False: with the broker down, fail at once instead of holding up the caller.
        analyse_member.apply_async(args=[user_id], kwargs={"force": force}, retry=False)
    except Exception as exc:  # noqa: BLE001 — the member's reply must not depend on the broker
        logger.warning("stage analysis for member %s not enqueued: %s", user_id, type(exc).__name__)


def analyse_member_later(user_id: int, *, force: bool = False) -> None:
    """Enqueue the stage analysis once the current transaction commits; never raises.

    Called by the orchestrator after a member turn and by the session service at session
    end. Switched off with ``JOURNEY_ANALYSIS_ENABLED = False``.
    """
    if getattr(settings, "JOURNEY_ANALYSIS_ENABLED", True):
        transaction.on_commit(lambda: _enqueue_analysis(user_id, force))
