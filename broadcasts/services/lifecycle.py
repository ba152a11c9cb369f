"""A broadcast's life: draft → scheduled → sending → done, or cancelled; repairs after crashes.

Every transition is a conditional UPDATE on the status, so two staff members, the beat job
and any number of workers can act at once and each transition happens exactly once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from bot import outbound

from ..models import Broadcast, BroadcastDelivery
from ..selectors import audience, segment_of
from .compose import EDITABLE, NO_RECIPIENTS, BroadcastError
from .local_time import check_local_time, deliveries_schedule_local

logger = logging.getLogger(__name__)

Status = Broadcast.Status
Row = BroadcastDelivery.Status
CREATE_CHUNK = 2000
STALLED_AFTER = timedelta(seconds=90)


def _enqueue_delivery(broadcast_id: int) -> None:
    from ..tasks import send_broadcast

    transaction.on_commit(lambda: send_broadcast.delay(broadcast_id))


def _create_deliveries(broadcast: Broadcast, *, now: datetime) -> int:
    """One pending row per audience member, in chunks (flat memory for any audience size)."""
    members = audience(segment=segment_of(broadcast), now=now).order_by("pk").values_list("pk", flat=True)
    chunk: list[BroadcastDelivery] = []
    for user_id in members.iterator(chunk_size=CREATE_CHUNK):
        chunk.append(BroadcastDelivery(broadcast_id=broadcast.pk, user_id=user_id))
        if len(chunk) == CREATE_CHUNK:
            BroadcastDelivery.objects.bulk_create(chunk, ignore_conflicts=True)
            chunk = []
    if chunk:
        BroadcastDelivery.objects.bulk_create(chunk, ignore_conflicts=True)
    return BroadcastDelivery.objects.filter(broadcast_id=broadcast.pk).count()


def _start(broadcast_id: int, *, allowed: tuple[str, ...], enqueue: bool, now: datetime,
           refuse_empty: bool = False) -> int | None:
    """Move to ``sending`` and fix the recipient list, in one transaction; None if not startable.

    With ``refuse_empty`` an empty audience raises ``BroadcastError`` and nothing changes
    (staff pressing "send"); the beat job closes an empty scheduled broadcast as done instead.
    A broadcast in members' local time gets each row's due moment before anyone may claim it.
    """
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().filter(pk=broadcast_id, status__in=allowed).first()
        if broadcast is None:
            return None
        if refuse_empty and (problems := check_local_time(broadcast.local_time)):
            raise BroadcastError(problems[0])
        Broadcast.objects.filter(pk=broadcast_id).update(status=Status.SENDING, started_at=now)
        total = _create_deliveries(broadcast, now=now)
        if total == 0 and refuse_empty:
            raise BroadcastError(NO_RECIPIENTS)  # rolls the status back: it stays a draft
        if total == 0:
            Broadcast.objects.filter(pk=broadcast_id).update(status=Status.DONE, finished_at=now)
            return 0
        if broadcast.local_time is not None:
            deliveries_schedule_local(broadcast=broadcast, now=now)
        if enqueue:
            _enqueue_delivery(broadcast_id)
    logger.info("broadcast %s started: %d recipients", broadcast_id, total)
    return total


def broadcast_send_now(*, broadcast_id: int, enqueue: bool = True) -> int:
    """Start sending a draft or scheduled broadcast now; returns the number of recipients.

    The audience is fixed at this moment (one delivery row per member, unique per broadcast
    and member); an empty audience is refused (``BroadcastError``). With ``enqueue`` a Celery
    worker is started after commit; the ``send_broadcast`` command passes False and delivers
    in the foreground.
    """
    total = _start(broadcast_id, allowed=EDITABLE, enqueue=enqueue, now=timezone.now(), refuse_empty=True)
    if total is None:
        raise BroadcastError("Отправить можно только черновик или запланированную рассылку.")
    return total


def broadcast_schedule(*, broadcast_id: int, at: datetime) -> Broadcast:
    """Schedule (or re-schedule) a draft for ``at``; the beat job starts it when due."""
    if at <= timezone.now():
        raise BroadcastError("Время отправки должно быть в будущем.")
    broadcast = Broadcast.objects.filter(pk=broadcast_id).first()
    if broadcast is not None and audience(segment=segment_of(broadcast)).count() == 0:
        raise BroadcastError(NO_RECIPIENTS)
    if broadcast is not None and (problems := check_local_time(broadcast.local_time)):
        raise BroadcastError(problems[0])
    changed = Broadcast.objects.filter(pk=broadcast_id, status__in=EDITABLE).update(
        status=Status.SCHEDULED, scheduled_at=at)
    if not changed:
        raise BroadcastError("Запланировать можно только черновик или запланированную рассылку.")
    return Broadcast.objects.get(pk=broadcast_id)


def broadcast_deletable(broadcast: Broadcast) -> bool:
    """Only a broadcast that never started may be deleted: afterwards its delivery rows are the
    record of who got what (and a sending one would lose its queue mid-way)."""
    return broadcast.started_at is None and broadcast.status != Status.SENDING


@transaction.atomic
def broadcast_cancel(*, broadcast_id: int) -> bool:
    """Cancel a broadcast that has not finished; False if there was nothing to cancel.

    Rows not yet claimed are cancelled here; workers notice the status within
    ``BROADCAST_STATUS_POLL_SECONDS`` and drop what they claimed but have not sent.
    Messages already on their way to Telegram cannot be recalled.
    """
    now = timezone.now()
    changed = Broadcast.objects.filter(pk=broadcast_id, status__in=(*EDITABLE, Status.SENDING)).update(
        status=Status.CANCELLED, cancelled_at=now, finished_at=now)
    if changed:
        dropped = BroadcastDelivery.objects.filter(broadcast_id=broadcast_id, status=Row.PENDING).update(
            status=Row.CANCELLED)
        logger.info("broadcast %s cancelled: %d deliveries dropped", broadcast_id, dropped)
    return bool(changed)


def broadcast_finish_if_complete(*, broadcast_id: int) -> bool:
    """Mark a sending broadcast done once none of its rows is pending or in flight."""
    if BroadcastDelivery.objects.filter(broadcast_id=broadcast_id, status__in=(Row.PENDING, Row.SENDING)).exists():
        return False
    finished = Broadcast.objects.filter(pk=broadcast_id, status=Status.SENDING).update(
        status=Status.DONE, finished_at=timezone.now())
    if finished:
        logger.info("broadcast %s done", broadcast_id)
    return bool(finished)


def deliveries_recover_stuck(*, older_than: timedelta | None = None, broadcast_id: int | None = None,
                             now: datetime | None = None) -> dict[int, int]:
    """Mark rows left ``sending`` by a dead worker as ``unknown``; returns {broadcast id: rows}.

    Never re-sends them: the worker may have died after Telegram accepted the message, and
    a second copy is worse than a missing one. Staff see the count on the broadcast page.
    """
    now = now or timezone.now()
    if older_than is None:
        older_than = timedelta(seconds=settings.BROADCAST_STUCK_AFTER_SECONDS)
    stuck = BroadcastDelivery.objects.filter(status=Row.SENDING, claimed_at__lt=now - older_than)
    if broadcast_id is not None:
        stuck = stuck.filter(broadcast_id=broadcast_id)
    report: dict[int, int] = {}
    for bid in stuck.values_list("broadcast_id", flat=True).distinct().order_by():
        _requeued, marked = outbound.sweep_stuck(
            BroadcastDelivery.objects.filter(broadcast_id=bid), now=now, older_than=older_than,
            unknown={"status": Row.UNKNOWN, "last_error": "воркер остановился во время отправки: доставка неизвестна"})
        if marked:
            report[bid] = marked
            logger.warning("broadcast %s: %d deliveries of a stopped worker marked unknown", bid, marked)
            broadcast_finish_if_complete(broadcast_id=bid)
    return report


def broadcasts_resume_stalled(*, now: datetime | None = None) -> list[int]:
    """Hand broadcasts with due rows but no live worker (none claimed anything lately) to a worker.

    A broadcast in members' local time is handed over as soon as rows are due and none is in
    flight: its workers stop while the next zone's moment is far away, so rows become due
    with nobody working on them. A spare task costs nothing (claims are exclusive).
    """
    now = now or timezone.now()
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    resumed = []
    for broadcast in Broadcast.objects.filter(status=Status.SENDING).annotate(last_claim=Max("deliveries__claimed_at")):
        last_seen = max(filter(None, [broadcast.last_claim, broadcast.started_at]), default=None)
        if broadcast.local_time is not None:
            if BroadcastDelivery.objects.filter(broadcast_id=broadcast.pk, status=Row.SENDING).exists():
                continue
        elif last_seen and last_seen > now - STALLED_AFTER:
            continue
        if BroadcastDelivery.objects.filter(due, broadcast_id=broadcast.pk, status=Row.PENDING).exists():
            _enqueue_delivery(broadcast.pk)
            resumed.append(broadcast.pk)
    return resumed


def broadcasts_start_due(*, now: datetime | None = None) -> int:
    """The beat job: start due scheduled broadcasts, repair stuck rows, resume stalled ones.

    Idempotent and safe to run on several beat ticks at once. Returns how many started.
    """
    now = now or timezone.now()
    started = 0
    due = Broadcast.objects.filter(status=Status.SCHEDULED, scheduled_at__lte=now).values_list("pk", flat=True)
    for broadcast_id in list(due):
        if _start(broadcast_id, allowed=(Status.SCHEDULED,), enqueue=True, now=now) is not None:
            started += 1
    deliveries_recover_stuck(now=now)
    broadcasts_resume_stalled(now=now)
    for broadcast_id in Broadcast.objects.filter(status=Status.SENDING).values_list("pk", flat=True):
        broadcast_finish_if_complete(broadcast_id=broadcast_id)
    return started
