"""Trigger engine services: detection, rules, delivery, attribution and the scan tying them.

Entry points (admin, API, Celery task, ``manage.py run_triggers``) call these only.
"""

from .attribution import proactive_reply_record
from .delivery import (
    stage_completed_preview,
    trigger_compose,
    trigger_deliver,
    triggers_cancel,
    triggers_cancel_for_member,
    triggers_deliver_due,
    triggers_send_now,
    triggers_sweep_stuck,
)
from .rules import Rules, plan_send
from .scan import triggers_detect, triggers_run_scan
from .windows import next_allowed_moment

__all__ = [
    "Rules",
    "next_allowed_moment",
    "plan_send",
    "proactive_reply_record",
    "stage_completed_preview",
    "trigger_compose",
    "trigger_deliver",
    "triggers_cancel",
    "triggers_cancel_for_member",
    "triggers_deliver_due",
    "triggers_detect",
    "triggers_run_scan",
    "triggers_send_now",
    "triggers_sweep_stuck",
]
