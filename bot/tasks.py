"""Celery interface of the bot app: thin, idempotent, calling services."""

from celery import shared_task


@shared_task(name="bot.tasks.archive_logs")
def archive_logs() -> dict:
    """Archive activity logs past retention and forget old processed update ids."""
    from profiles.services import activity_logs_archive

    from .services.updates import processed_updates_prune

    return {"archived": activity_logs_archive(), "updates_pruned": processed_updates_prune()}


@shared_task(name="bot.tasks.end_idle_sessions")
def end_idle_sessions() -> int:
    """End conversations idle longer than SESSION_IDLE_MINUTES."""
    from .services.sessions import sessions_end_idle

    return sessions_end_idle()


@shared_task(name="bot.tasks.deliver_outbound")
def deliver_outbound(outbound_id: int) -> str:
    """Deliver one staff alert or test message; a retry is enqueued by the service with its backoff."""
    from .services.notify import outbound_deliver

    step = outbound_deliver(outbound_id=outbound_id)
    return step.next if step else "not-claimed"


@shared_task(name="bot.tasks.sweep_outbound")
def sweep_outbound() -> dict:
    """Repair staff alerts a dead worker left behind; re-enqueue those whose task was lost."""
    from .services.notify import outbound_sweep

    return outbound_sweep()


@shared_task(name="bot.tasks.crisis_realert")
def crisis_realert() -> int:
    """Page the staff chat again for crisis alerts unresolved past CRISIS_REALERT_AFTER_MINUTES."""
    from .services.safety import crisis_realert_due

    return crisis_realert_due()


@shared_task(name="bot.tasks.apply_conversation_retention")
def apply_conversation_retention() -> dict:
    """Summarise and remove conversation text older than CONVERSATION_RETENTION_DAYS."""
    from .services.sessions import conversations_apply_retention

    return conversations_apply_retention()


@shared_task(name="bot.tasks.prompt_sandbox_for_staff")
def prompt_sandbox_for_staff(staff_task_id: int) -> str | None:
    """The prompt sandbox's two replies (LLM calls), off the web request."""
    from relove.core.staff_tasks import staff_task_run

    from .services.sandbox import prompt_sandbox_outcome

    return staff_task_run(task_id=staff_task_id, work=prompt_sandbox_outcome)
