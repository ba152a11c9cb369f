"""The admin's test send, done by a worker (``relove.core.staff_tasks``): it calls Telegram."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError

from relove.core.models import StaffTask
from relove.core.staff_tasks import Outcome

from ..models import Broadcast
from ..selectors import telegram_said
from .compose import BroadcastError, broadcast_test_send

TEST_SEND = "broadcasts.test_send"


def broadcast_target(broadcast_id: int) -> str:
    return f"broadcast:{broadcast_id}"


def broadcast_test_send_outcome(task: StaffTask) -> Outcome:
    """Send the broadcast as it is now to the staff member's own Telegram and say how it went."""
    broadcast = Broadcast.objects.filter(pk=task.params["broadcast_id"]).first()
    if broadcast is None:
        return Outcome("Рассылка удалена: тест не отправлен.", messages.WARNING)
    try:
        outcome = broadcast_test_send(broadcast=broadcast, staff_user=task.requested_by)
    except BroadcastError as exc:
        return Outcome(str(exc), messages.ERROR)
    except ValidationError as exc:
        return Outcome("; ".join(exc.messages), messages.ERROR)
    if outcome.ok:
        return Outcome("Тест отправлен вам в Telegram.", messages.SUCCESS)
    return Outcome(f"Тест не доставлен: {telegram_said(outcome.error)}.", messages.ERROR)
