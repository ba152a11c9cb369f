"""What staff ask of the trigger queue from the admin, done by a worker (``relove.core.staff_tasks``).

Both touch Telegram or the LLM, so neither runs inside the admin's web request.
"""

from __future__ import annotations

import re

from django.contrib import messages

from relove.core.models import StaffTask
from relove.core.staff_errors import describe
from relove.core.staff_tasks import Outcome

from ..models import ProactiveTrigger
from .delivery import trigger_compose, triggers_send_now

SEND_NOW = "triggers.send_now"
PREVIEW = "triggers.preview"
PREVIEW_LIMIT = 10
_CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)


def triggers_send_now_outcome(task: StaffTask) -> Outcome:
    """Deliver the chosen triggers now, under the usual rules, and say what happened."""
    counts = triggers_send_now(trigger_ids=task.params["trigger_ids"])
    if counts.get("disabled"):
        return Outcome("Проактивность выключена в настройках: ничего не отправлено.", messages.WARNING)
    dropped = counts.get("skipped", 0) + counts.get("cancelled", 0) + counts.get("failed", 0)
    retry = counts.get("retry", 0) + counts.get("postponed", 0)
    text = (f"Отправлено: {counts.get('sent', 0)}; отложено по правилам: {counts.get('deferred', 0)}; "
            f"пропущено или отменено: {dropped}; повтор позже: {retry}")
    reasons = _not_sent_reasons(task.params["trigger_ids"]) if dropped or retry else []
    if reasons:
        return Outcome(f"{text}. Причины: {'; '.join(reasons)}", messages.WARNING)
    return Outcome(text)


def _not_sent_reasons(trigger_ids: list[int], limit: int = 3) -> list[str]:
    """Why the chosen triggers did not go out, each reason once (Telegram's words marked as such)."""
    errors = (ProactiveTrigger.objects.filter(pk__in=trigger_ids).exclude(status=ProactiveTrigger.Status.SENT)
              .exclude(last_error="").values_list("last_error", flat=True).distinct()[:limit])
    return [error if _CYRILLIC.search(error) else f"Telegram ответил: {error}" for error in errors]


def _preview(trigger: ProactiveTrigger) -> dict:
    title = f"{trigger.get_kind_display().capitalize()} → {trigger.user} · {trigger.get_status_display()}"
    try:
        generated = trigger_compose(trigger=trigger)
    except Exception as exc:  # noqa: BLE001 — e.g. the reason is gone: show why instead of nothing
        return {"trigger_id": trigger.pk, "title": title, "error": describe(exc)}
    return {"trigger_id": trigger.pk, "title": title, "html": generated.html,
            "quick_replies": list(generated.quick_replies), "source": generated.source}


def triggers_preview_outcome(task: StaffTask) -> Outcome:
    """Natasha's message for each chosen trigger, generated now; nothing is stored on the trigger or sent."""
    ids = task.params["trigger_ids"][:PREVIEW_LIMIT]
    triggers = ProactiveTrigger.objects.select_related("user").filter(pk__in=ids).order_by("-scheduled_for")
    previews = [_preview(trigger) for trigger in triggers]
    return Outcome(f"Предпросмотр готов: {len(previews)}", result={"previews": previews})
