"""Staff alerts and test sends: one-off messages through the outbound path, claimed before sending."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from bot import outbound
from bot.models import OutboundMessage
from bot.ui import OutgoingMessage
from profiles.models import TelegramUser


def outbound_enqueue(*, kind: str, chat_id: int, text: str, dedupe_key: str,
                     user: TelegramUser | None = None) -> OutboundMessage:
    """Record the message once (``dedupe_key`` is unique) and deliver it after commit."""
    row, created = OutboundMessage.objects.get_or_create(
        dedupe_key=dedupe_key, defaults={"kind": kind, "chat_id": chat_id, "text": text, "user": user})
    if created:
        from bot.tasks import deliver_outbound

        transaction.on_commit(lambda: deliver_outbound.delay(row.pk))
    return row


def outbound_deliver(*, outbound_id: int, max_attempts: int = 5) -> str:
    """Send one recorded message at most once; safe to run concurrently and to retry."""
    if not outbound.claim_row(OutboundMessage, outbound_id):
        return "not-claimed"
    row = OutboundMessage.objects.get(pk=outbound_id)
    result = outbound.send(row.chat_id, [OutgoingMessage(text=row.text)])
    attempts = row.attempts + 1
    if result.ok:
        status = OutboundMessage.Status.SENT
    elif result.status in (outbound.Delivery.RETRY_AFTER, outbound.Delivery.TRANSIENT) and attempts < max_attempts:
        status = OutboundMessage.Status.PENDING
    else:
        status = OutboundMessage.Status.FAILED
    OutboundMessage.objects.filter(pk=outbound_id).update(
        status=status, attempts=attempts, last_error=result.error,
        sent_at=timezone.now() if result.ok else None)
    return status
