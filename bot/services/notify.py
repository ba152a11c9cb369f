"""Staff alerts and test sends: one-off messages through the outbound path, claimed before sending."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from bot import outbound
from bot.models import OutboundMessage
from bot.ui import OutgoingMessage
from profiles.models import TelegramUser

logger = logging.getLogger(__name__)

Status = OutboundMessage.Status
MAX_ATTEMPTS = 5
BACKOFF = outbound.Backoff(base=timedelta(seconds=4), cap=timedelta(minutes=5))
STUCK_AFTER = timedelta(minutes=5)
# A pending row whose task should have run this long ago was lost (broker restart): enqueue it again.
LOST_AFTER = timedelta(minutes=2)


def _enqueue(outbound_id: int, *, countdown: float = 0) -> None:
    from bot.tasks import deliver_outbound

    transaction.on_commit(lambda: deliver_outbound.apply_async((outbound_id,), countdown=max(0.0, countdown)))


def outbound_enqueue(*, kind: str, chat_id: int, text: str, dedupe_key: str,
                     user: TelegramUser | None = None) -> OutboundMessage:
    """Record the message once (``dedupe_key`` is unique) and deliver it after commit."""
    row, created = OutboundMessage.objects.get_or_create(
        dedupe_key=dedupe_key, defaults={"kind": kind, "chat_id": chat_id, "text": text, "user": user})
    if created:
        _enqueue(row.pk)
    return row


def outbound_deliver(*, outbound_id: int, now: datetime | None = None) -> outbound.Step | None:
    """Send one recorded message at most once; safe to run concurrently and to repeat.

    Returns what the outbound policy decided, or None when another worker has the row (or it
    is not due yet). A retry is stored as ``pending`` with ``next_attempt_at``; a send that
    may have reached Telegram becomes ``unknown`` and is never repeated.
    """
    now = now or timezone.now()
    due = OutboundMessage.objects.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
                                         pk=outbound_id)
    if not outbound.claim(due, now=now, attempts=F("attempts") + 1):
        return None
    row = OutboundMessage.objects.get(pk=outbound_id)
    result = outbound.send(row.chat_id, [OutgoingMessage(text=row.text)])
    step = outbound.next_step(result, attempts=row.attempts, max_attempts=MAX_ATTEMPTS, now=timezone.now(),
                              backoff=BACKOFF)
    fields = {"last_error": (step.reason or result.error)[:255], "next_attempt_at": None}
    match step.next:
        case outbound.Next.SENT:
            fields.update(status=Status.SENT, sent_at=timezone.now(), last_error="")
        case outbound.Next.RETRY | outbound.Next.UNSENT:
            fields.update(status=Status.PENDING, next_attempt_at=step.at, claimed_at=None)
        case outbound.Next.UNKNOWN:
            fields.update(status=Status.UNKNOWN)
        case _:
            fields.update(status=Status.FAILED)
    if not step.attempt_used:
        fields["attempts"] = row.attempts - 1
    OutboundMessage.objects.filter(pk=outbound_id, status=Status.SENDING).update(**fields)
    if fields["status"] == Status.PENDING:
        _enqueue(outbound_id, countdown=((step.at or now) - timezone.now()).total_seconds())
    if step.next is not outbound.Next.SENT:
        logger.warning("outbound message %s (%s): %s", outbound_id, row.kind, step.next)
    return step


def outbound_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic repair: rows a dead worker left ``sending`` become ``unknown`` (never resent);
    pending rows whose delivery task was lost are enqueued again (claiming makes that harmless)."""
    now = now or timezone.now()
    _requeued, unknown = outbound.sweep_stuck(
        OutboundMessage.objects.all(), now=now, older_than=STUCK_AFTER,
        unknown={"status": Status.UNKNOWN, "last_error": "воркер остановился во время отправки: доставка неизвестна"})
    lost = OutboundMessage.objects.filter(
        Q(next_attempt_at__lte=now - LOST_AFTER) | Q(next_attempt_at__isnull=True, created_at__lte=now - LOST_AFTER),
        status=Status.PENDING).values_list("pk", flat=True)
    lost = list(lost[:500])
    for outbound_id in lost:
        _enqueue(outbound_id)
    return {"unknown": unknown, "reenqueued": len(lost)}
