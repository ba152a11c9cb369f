"""Attribution: a member's reply after a proactive message counts as its answer."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, Subquery

from profiles.models import TelegramUser, UserInteraction
from relove.core.precompiled import Precompiled

from ..models import ProactiveTrigger

logger = logging.getLogger(__name__)

Kind, Status = ProactiveTrigger.Kind, ProactiveTrigger.Status
REPLY_WINDOW = timedelta(hours=24)
# Reasons that a member's own message makes pointless ("you've been quiet", "good morning").
MOOT_WHEN_MEMBER_WRITES = (Kind.INACTIVITY, Kind.MORNING_CHECKIN)


def _moot_or_latest(user_id: int):
    latest_sent = (ProactiveTrigger.objects.filter(user_id=user_id, status=Status.SENT, sent_at__isnull=False)
                   .order_by("-sent_at").values("pk")[:1])
    return ProactiveTrigger.objects.filter(
        Q(status=Status.PENDING, kind__in=MOOT_WHEN_MEMBER_WRITES) | Q(pk=Subquery(latest_sent)), user_id=user_id,
    ).only("pk", "kind", "status", "sent_at", "answered_at")


# Read on every member message: compiled once per process (relove.core.precompiled).
MOOT_OR_LATEST = Precompiled(_moot_or_latest, user_id=int)


def proactive_reply_record(*, user: TelegramUser, at: datetime) -> ProactiveTrigger | None:
    """Record that the member wrote at ``at``; returns the proactive message it answered, if any.

    Any message ends the run of unanswered proactive messages (fatigue resets) and drops
    pending nudges it makes pointless. If the latest proactive message was sent within
    ``REPLY_WINDOW`` before ``at`` and is not answered yet, it is marked answered and a
    ``proactive_replied`` event is recorded — once, even if two messages race.

    One read on a member's ordinary turn: the pending nudges and the latest sent message come
    back together, and each write below is conditional, so no transaction is needed.
    """
    if user.unanswered_proactive:  # read with the member at the start of the turn: most turns skip the UPDATE
        TelegramUser.objects.filter(pk=user.pk, unanswered_proactive__gt=0).update(unanswered_proactive=0)
        user.unanswered_proactive = 0
    rows = MOOT_OR_LATEST.objects(user_id=user.pk)
    moot = [row.pk for row in rows if row.status == Status.PENDING]
    if moot:  # conditional: a nudge claimed for sending meanwhile is left to its sender
        ProactiveTrigger.objects.filter(pk__in=moot, status=Status.PENDING).update(
            status=Status.SKIPPED, last_error="участник написал сам")
    latest = next((row for row in rows if row.status == Status.SENT), None)
    if latest is None or latest.answered_at is not None or not latest.sent_at <= at <= latest.sent_at + REPLY_WINDOW:
        return None
    with transaction.atomic():  # the answer and its event together
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
