"""Attribution: a member's reply after a proactive message counts as its answer."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction

from profiles.models import TelegramUser, UserInteraction

from ..models import ProactiveTrigger

logger = logging.getLogger(__name__)

Kind, Status = ProactiveTrigger.Kind, ProactiveTrigger.Status
REPLY_WINDOW = timedelta(hours=24)
# Reasons that a member's own message makes pointless ("you've been quiet", "good morning").
MOOT_WHEN_MEMBER_WRITES = (Kind.INACTIVITY, Kind.MORNING_CHECKIN)


@transaction.atomic
def proactive_reply_record(*, user: TelegramUser, at: datetime) -> ProactiveTrigger | None:
    """Record that the member wrote at ``at``; returns the proactive message it answered, if any.

    Any message ends the run of unanswered proactive messages (fatigue resets) and drops
    pending nudges it makes pointless. If the latest proactive message was sent within
    ``REPLY_WINDOW`` before ``at`` and is not answered yet, it is marked answered and a
    ``proactive_replied`` event is recorded — once, even if two messages race.
    """
    if user.unanswered_proactive:  # read with the member at the start of the turn: most turns skip the UPDATE
        TelegramUser.objects.filter(pk=user.pk, unanswered_proactive__gt=0).update(unanswered_proactive=0)
        user.unanswered_proactive = 0
    ProactiveTrigger.objects.filter(user=user, status=Status.PENDING, kind__in=MOOT_WHEN_MEMBER_WRITES).update(
        status=Status.SKIPPED, last_error="участник написал сам")
    latest = (ProactiveTrigger.objects.filter(user=user, status=Status.SENT, sent_at__isnull=False)
              .order_by("-sent_at").first())
    if latest is None or latest.answered_at is not None or not latest.sent_at <= at <= latest.sent_at + REPLY_WINDOW:
        return None
    if not ProactiveTrigger.objects.filter(pk=latest.pk, answered_at__isnull=True).update(answered_at=at):
        return None
    UserInteraction.objects.create(
        user=user, kind=UserInteraction.Kind.PROACTIVE_REPLIED, stage=user.journey_stage,
        metadata={"trigger_id": latest.pk, "kind": latest.kind,
                  "after_seconds": int((at - latest.sent_at).total_seconds())})
    latest.answered_at = at
    return latest


def on_member_message(*, user: TelegramUser, at: datetime) -> None:
    """Registered with ``bot.hooks`` as a message listener (which logs its failures)."""
    proactive_reply_record(user=user, at=at)
