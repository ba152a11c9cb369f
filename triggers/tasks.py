"""Celery interface of the trigger engine: thin, idempotent, calling services."""

from celery import shared_task


@shared_task(name="triggers.tasks.scan_triggers")
def scan_triggers() -> dict:
    """Detect reasons to write first, then deliver what is due. Safe to overlap."""
    from relove.core import liveness
    from relove.core.staff_errors import describe

    from .services import triggers_run_scan

    try:
        counts = triggers_run_scan()
    except Exception as exc:
        liveness.record(liveness.TRIGGER_SCAN, ok=False, detail=describe(exc))
        raise
    liveness.record(liveness.TRIGGER_SCAN, detail=scan_summary(counts))
    return counts


def scan_summary(counts: dict) -> str:
    """One line for the dashboard about what a scan did."""
    if counts.get("disabled"):
        return "проактивность выключена в настройках"
    return f"отправлено {counts.get('sent', 0)}, отложено {counts.get('deferred', 0)}"


@shared_task(name="triggers.tasks.send_now_for_staff")
def send_now_for_staff(staff_task_id: int) -> str | None:
    """The admin's "send now", off the web request; runs at most once per request."""
    from relove.core.staff_tasks import staff_task_run

    from .services.staff import triggers_send_now_outcome

    return staff_task_run(task_id=staff_task_id, work=triggers_send_now_outcome)


@shared_task(name="triggers.tasks.preview_for_staff")
def preview_for_staff(staff_task_id: int) -> str | None:
    """The admin's message preview (may call the LLM), off the web request."""
    from relove.core.staff_tasks import staff_task_run

    from .services.staff import triggers_preview_outcome

    return staff_task_run(task_id=staff_task_id, work=triggers_preview_outcome)
