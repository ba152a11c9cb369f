"""Every write and decision about broadcasts; admin, API, tasks and the command call these."""

from .buttons import broadcast_button_pressed
from .compose import (
    BroadcastError,
    broadcast_create,
    broadcast_save,
    broadcast_test_send,
    broadcast_validate,
    staff_telegram_set,
)
from .delivery import broadcast_deliver
from .lifecycle import (
    broadcast_cancel,
    broadcast_deletable,
    broadcast_finish_if_complete,
    broadcast_schedule,
    broadcast_send_now,
    broadcasts_resume_stalled,
    broadcasts_start_due,
    deliveries_recover_stuck,
)

__all__ = [
    "BroadcastError",
    "broadcast_button_pressed",
    "broadcast_cancel",
    "broadcast_create",
    "broadcast_deletable",
    "broadcast_deliver",
    "broadcast_finish_if_complete",
    "broadcast_save",
    "broadcast_schedule",
    "broadcast_send_now",
    "broadcast_test_send",
    "broadcast_validate",
    "broadcasts_resume_stalled",
    "broadcasts_start_due",
    "deliveries_recover_stuck",
    "staff_telegram_set",
]
