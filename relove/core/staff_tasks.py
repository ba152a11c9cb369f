"""Slow admin actions run by workers: queue from the request, run in Celery, announce the outcome.

An admin action that talks to Telegram or the LLM must not hold a web request (and a
gunicorn/uvicorn worker) for seconds. The request calls ``staff_task_queue`` — one row plus
a Celery task by id, sent on commit — and tells staff it is queued. The app's task calls
``staff_task_run`` with the work to do; the page the staff member returns to calls
``staff_tasks_announce`` and shows each finished outcome once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib import messages
from django.db import transaction
from django.utils import timezone

from . import liveness
from .models import StaffTask
from .staff_errors import WORKER_DOWN, describe

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What a finished staff task tells the staff member (and, for previews, what it shows)."""

    message: str
    level: int = messages.INFO
    result: dict = field(default_factory=dict)


def staff_task_queue(*, kind: str, requested_by, task, params: dict | None = None, target: str = "") -> StaffTask:
    """Record the request and queue ``task`` (a Celery task taking the row id) once the transaction commits.

    If the broker refuses the task, the row is failed with the reason, so the page says so
    instead of waiting forever (``staff_task_queued_notice``).
    """
    row = StaffTask.objects.create(kind=kind, target=target, requested_by=requested_by, params=params or {})

    def send():
        try:
            # retry=False: with the broker down, say so now instead of holding the request.
            task.apply_async(args=[row.pk], retry=False)
        except Exception as exc:  # noqa: BLE001 — becomes the row's outcome, shown to staff
            logger.warning("staff task %s (%s) not queued: %s", row.pk, kind, type(exc).__name__)
            StaffTask.objects.filter(pk=row.pk, status=StaffTask.Status.QUEUED).update(
                status=StaffTask.Status.FAILED, level=messages.ERROR, finished_at=timezone.now(),
                message=f"Не поставлено в очередь: {describe(exc)}."[:500])

    transaction.on_commit(send)
    return row


def staff_queued_notice(*, request, text: str) -> None:
    """Tell staff their work is queued, and whether a worker is there to take it."""
    if liveness.worker_alive():
        messages.info(request, text)
    else:
        messages.warning(request, f"{text} Но {WORKER_DOWN}.")


def staff_task_queued_notice(*, request, row: StaffTask, text: str) -> None:
    """After ``staff_task_queue``: the queued notice, or at once why it could not be queued."""
    row.refresh_from_db(fields=["status", "message"])
    if row.status == StaffTask.Status.FAILED and StaffTask.objects.filter(pk=row.pk, announced_at=None).update(
            announced_at=timezone.now()):
        messages.error(request, row.message)
        return
    staff_queued_notice(request=request, text=text)


def staff_enqueue(*, request, send: Callable[[], object], text: str) -> bool:
    """Queue background work for a staff action once the transaction commits, and tell staff the
    truth: queued, queued with no worker running, or not queued and why. Returns whether it was.

    ``send`` should publish with ``retry=False`` so a dead broker fails fast.
    """
    refused: list[BaseException] = []

    def run():
        try:
            send()
        except Exception as exc:  # noqa: BLE001 — shown to staff below
            logger.warning("staff action not queued: %s", type(exc).__name__)
            refused.append(exc)

    transaction.on_commit(run)
    if refused:  # with eager Celery (local runs) the work itself ran here and failed
        failed = "Не поставлено в очередь" if liveness.worker_required() else "Не получилось"
        messages.error(request, f"{failed}: {describe(refused[0])}.")
        return False
    staff_queued_notice(request=request, text=text)
    return True


def staff_task_run(*, task_id: int, work: Callable[[StaffTask], Outcome]) -> str | None:
    """Run ``work`` for a queued row, at most once, and store its outcome.

    The row is claimed ``queued → running`` with a conditional UPDATE, so a task delivered
    twice does the work once. An exception is stored as a failure staff can read (its cause in
    Russian from ``staff_errors.describe``, which never quotes personal data) and not
    re-raised: retrying a send could deliver it twice.
    """
    if not StaffTask.objects.filter(pk=task_id, status=StaffTask.Status.QUEUED).update(
            status=StaffTask.Status.RUNNING):
        return None
    row = StaffTask.objects.get(pk=task_id)
    try:
        outcome = work(row)
        status = StaffTask.Status.DONE
    except Exception as exc:  # any failure becomes a message on the staff member's page
        logger.exception("staff task %s (%s) failed", row.pk, row.kind)
        outcome = Outcome(f"Не получилось: {describe(exc)}.", messages.ERROR)
        status = StaffTask.Status.FAILED
    StaffTask.objects.filter(pk=task_id).update(status=status, message=outcome.message[:500], level=outcome.level,
                                                result=outcome.result, finished_at=timezone.now())
    return status


def staff_tasks_announce(*, request, kinds: tuple[str, ...], target: str | None = None) -> list[StaffTask]:
    """Show the staff member each of their finished tasks of ``kinds`` once, as an admin message."""
    rows = StaffTask.objects.filter(requested_by=request.user, kind__in=kinds, announced_at=None,
                                    status__in=[StaffTask.Status.DONE, StaffTask.Status.FAILED])
    if target is not None:
        rows = rows.filter(target=target)
    shown = []
    for row in rows.order_by("created_at"):
        # Claimed like a send: two open tabs never show the same outcome twice.
        if StaffTask.objects.filter(pk=row.pk, announced_at=None).update(announced_at=timezone.now()):
            messages.add_message(request, row.level, row.message)
            shown.append(row)
    return shown


def staff_tasks_prune(*, now=None) -> int:
    """Delete finished staff tasks older than STAFF_TASK_RETENTION_DAYS (previews and sandbox runs
    hold Natasha's words and replayed conversations; nobody needs them after that). Idempotent."""
    from datetime import timedelta

    from django.conf import settings

    cutoff = (now or timezone.now()) - timedelta(days=settings.STAFF_TASK_RETENTION_DAYS)
    finished = (StaffTask.Status.DONE, StaffTask.Status.FAILED)
    deleted, _ = StaffTask.objects.filter(status__in=finished, created_at__lt=cutoff).delete()
    return deleted
