"""Delivering a broadcast: claim rows in small batches, send them concurrently, record outcomes.

The database thread (the caller's) claims and records; a sender thread runs an asyncio loop
with ``concurrency`` requests in flight through the one outbound path (``send_limited``),
all paced by the Redis rate limiter shared with every other worker and process. Requests
must overlap: one at a time, each round trip would eat into the 1/30 s slot and the total
would stay well under Telegram's limit.

At-most-once: a row is sent only by the worker whose UPDATE moved it ``pending → sending``;
outcomes are recorded right after each short cycle. A worker killed in between leaves rows
``sending``, and the sweeper (``deliveries_recover_stuck``) marks them ``unknown`` instead
of sending them again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import queue
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from bot import outbound
from bot.outbound import Delivery, Next, Outcome, OutgoingPhoto, build_bot, send_limited
from bot.services.budget import Source, daily_slot_release, daily_slot_take
from bot.services.members import members_mark_blocked
from bot.ui import OutgoingMessage
from profiles.models import TelegramUser, UserInteraction
from relove.core.ratelimit import RateLimiter
from relove.core.staff_errors import describe

from ..models import Broadcast, BroadcastDelivery
from ..rendering import broadcast_message, broadcast_photo
from .lifecycle import broadcast_finish_if_complete
from .local_time import outside_window, sending_window, zone_resolver

logger = logging.getLogger(__name__)

# While delivering, threads hand over the GIL after 1 ms instead of 5 ms. The sender thread
# needs the GIL several times per message (wake-up, Redis, HTTP) and the database thread's ORM
# work would otherwise delay each of those by up to 5 ms: tens of ms of jitter in the moment a
# request reaches Telegram, which turns into 429s in a strict 1 s window.
SENDER_SWITCH_INTERVAL = 0.001

# Outcomes are written in cycles of at most this long (or one batch): fewer, larger writes
# keep the database thread's CPU use, and so the sender's jitter, low. A crash inside a cycle
# only turns its rows into "unknown".
RECORD_INTERVAL = 0.2

Row = BroadcastDelivery.Status
RECORDED_FIELDS = ["status", "attempts", "sent_at", "telegram_message_id", "last_error", "next_attempt_at"]


@dataclass(frozen=True)
class Job:
    delivery_id: int
    user_id: int
    chat_id: int
    attempts: int  # including the one about to happen
    stage: int | None


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def backoff() -> outbound.Backoff:
    return outbound.Backoff(base=timedelta(seconds=settings.BROADCAST_RETRY_BASE_SECONDS),
                            cap=timedelta(seconds=settings.BROADCAST_RETRY_MAX_SECONDS))


class Sender:
    """A thread with an event loop sending jobs, ``concurrency`` at a time, under the shared limiter.

    Every submitted job yields exactly one ``(job, outcome)`` in ``results``; after ``stop()``
    jobs not yet on the wire come back ``NOT_SENT``.
    """

    def __init__(self, *, message: OutgoingMessage, concurrency: int, limiter: RateLimiter):
        self.message = message
        self.concurrency = concurrency
        self.limiter = limiter
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._jobs: asyncio.Queue | None = None
        self._thread = threading.Thread(target=self._run, name="broadcast-sender", daemon=True)

    # --- called from the database thread ---------------------------------------------------
    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def submit(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._loop.call_soon_threadsafe(self._jobs.put_nowait, job)

    def take(self, timeout: float) -> list[tuple[Job, Outcome]]:
        """Outcomes ready now, waiting up to ``timeout`` for the first one."""
        out = []
        try:
            out.append(self.results.get(timeout=timeout) if timeout > 0 else self.results.get_nowait())
            while True:
                out.append(self.results.get_nowait())
        except queue.Empty:
            return out

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        if self._loop is not None and self._thread.is_alive():
            for _ in range(self.concurrency):
                self._loop.call_soon_threadsafe(self._jobs.put_nowait, None)
        self._thread.join(timeout=30)

    # --- the sender thread -------------------------------------------------------------------
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 — reported to start() or seen as a dead sender
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._jobs = asyncio.Queue()
        async with build_bot(connection_pool_size=self.concurrency + 2) as bot:
            self._ready.set()
            await asyncio.gather(*(self._consume(bot) for _ in range(self.concurrency)))

    async def _consume(self, bot) -> None:
        while (job := await self._jobs.get()) is not None:
            if self._stop.is_set():
                outcome = Outcome(Delivery.NOT_SENT)
            else:
                try:
                    outcome = await send_limited(bot, self.limiter, job.chat_id, [self.message],
                                                 should_send=self._may_send)
                except Exception as exc:  # noqa: BLE001 — send_limited classifies Bot API errors itself,
                    # so this is the limiter (Redis) failing before the request: safe to retry.
                    outcome = Outcome(Delivery.TRANSIENT, error=describe(exc)[:255])
            if outcome.photo_file_id and isinstance(self.message, OutgoingPhoto):
                # Uploaded once: everyone after this gets Telegram's file_id instead of the bytes.
                self.message = dataclasses.replace(self.message, photo=outcome.photo_file_id)
            self.results.put((job, outcome))

    def _may_send(self) -> bool:
        return not self._stop.is_set()


class _Run:
    """One worker's pass over a broadcast."""

    def __init__(self, broadcast: Broadcast, *, worker: str, concurrency: int, batch_size: int,
                 on_progress: Callable[[int], None] | None):
        self.broadcast = broadcast
        self.worker = worker
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.on_progress = on_progress
        self.max_attempts = settings.BROADCAST_MAX_ATTEMPTS
        self.poll = settings.BROADCAST_STATUS_POLL_SECONDS
        self.report: Counter = Counter()
        self.in_flight = 0
        self.cancelled = False
        self._next_status_check = 0.0
        self._next_claim = 0.0
        self._next_record = 0.0
        self._unrecorded: list[tuple[Job, Outcome]] = []
        # In members' local time each row must also go out inside its member's sending window.
        self.window = sending_window() if broadcast.local_time is not None else None
        self.zone_of = zone_resolver() if self.window is not None else None

    def execute(self) -> dict:
        message = broadcast_message(self.broadcast, photo=broadcast_photo(self.broadcast))
        sender = Sender(message=message, concurrency=self.concurrency, limiter=RateLimiter())
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(switch_interval, SENDER_SWITCH_INTERVAL))
        try:
            sender.start()
        except Exception as exc:  # noqa: BLE001 — e.g. the Bot API is unreachable: nothing was claimed
            sys.setswitchinterval(switch_interval)
            logger.warning("broadcast %s: cannot start sending: %s", self.broadcast.pk, type(exc).__name__)
            return self._result("error")
        try:
            self._loop(sender)
        finally:
            sender.close()
            sys.setswitchinterval(switch_interval)
        broadcast_finish_if_complete(broadcast_id=self.broadcast.pk)
        return self._result(Broadcast.objects.filter(pk=self.broadcast.pk).values_list("status", flat=True).first())

    def _result(self, status) -> dict:
        return {"status": status, "worker": self.worker, **{k: self.report[k] for k in
                ("sent", "failed", "blocked", "unknown", "skipped", "cancelled", "retried")}}

    def _loop(self, sender: Sender) -> None:
        """Keep about one batch beyond the requests in flight claimed; record outcomes in cycles."""
        while True:
            self._check_status(sender)
            if not sender.stopping and self.in_flight <= self.concurrency and time.monotonic() >= self._next_claim:
                jobs = self._claim()
                sender.submit(jobs)
                self.in_flight += len(jobs)
                if not jobs and self.in_flight == 0:
                    wait = self._seconds_to_next_due()
                    if wait is None:
                        return  # nothing pending: done (other workers may still finish theirs)
                    if self.window is not None and wait > self.poll:
                        return  # local time: the next zone is far off; the beat dispatcher resumes it
                    self._next_claim = time.monotonic() + min(max(wait, 0.05), self.poll)
                elif not jobs:
                    self._next_claim = time.monotonic() + 0.5  # the rest are in flight or backing off
            # Wait for outcomes, or just sleep until the next claim when nothing is in flight.
            timeout = 0.05 if self.in_flight else max(0.0, min(self._next_claim - time.monotonic(), self.poll))
            self._unrecorded += sender.take(timeout=timeout)
            if self._unrecorded and (len(self._unrecorded) >= min(self.in_flight, self.batch_size)
                                     or sender.stopping or time.monotonic() >= self._next_record):
                self._record(self._unrecorded)
                self.in_flight -= len(self._unrecorded)
                self._unrecorded = []
                self._next_record = time.monotonic() + RECORD_INTERVAL
            if self.in_flight and not sender.alive:
                logger.error("broadcast %s: sender thread died; its rows will be recovered as unknown",
                             self.broadcast.pk)
                return
            if self.in_flight == 0 and sender.stopping:
                return

    def _check_status(self, sender: Sender) -> None:
        if time.monotonic() < self._next_status_check:
            return
        self._next_status_check = time.monotonic() + self.poll
        status = Broadcast.objects.filter(pk=self.broadcast.pk).values_list("status", flat=True).first()
        if status != Broadcast.Status.SENDING and not sender.stopping:
            self.cancelled = status in (Broadcast.Status.CANCELLED, None)
            sender.stop()

    def _seconds_to_next_due(self) -> float | None:
        """None when nothing is left to claim, else how long until a pending row is due."""
        now = timezone.now()
        pending = BroadcastDelivery.objects.filter(broadcast_id=self.broadcast.pk, status=Row.PENDING)
        nearest = pending.order_by(F("next_attempt_at").asc(nulls_first=True)).values_list(
            "next_attempt_at", flat=True)[:1]
        nearest = list(nearest)
        if not nearest:
            return None
        if nearest[0] is None or nearest[0] <= now:
            return 0.1  # due, but locked by another worker's claim right now
        return (nearest[0] - now).total_seconds()

    # --- claiming ----------------------------------------------------------------------------
    def _claim(self) -> list[Job]:
        """Move up to ``batch_size`` due rows ``pending → sending`` for this worker.

        ``SKIP LOCKED`` lets workers claim disjoint batches without waiting for each other;
        the status condition in the UPDATE keeps the claim exclusive on SQLite too, where
        IMMEDIATE transactions serialize writers instead.
        """
        now = timezone.now()
        due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
        with transaction.atomic():
            rows = list(
                BroadcastDelivery.objects.filter(due, broadcast_id=self.broadcast.pk, status=Row.PENDING)
                .order_by("id")
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("id", "user_id", "attempts", "daily_slot_id", "user__telegram_id",
                             "user__is_blocked", "user__crisis_flag", "user__journey_stage",
                             "user__timezone")[: self.batch_size]
            )
            if self.window is not None:
                rows = self._defer_outside_window(rows, now)
            if not rows:
                return []
            blocked = [r[0] for r in rows if r[5]]
            crisis = [r[0] for r in rows if r[6] and not r[5]]
            sendable = [r for r in rows if not (r[5] or r[6])]
            self._finalize_unsent(blocked, Row.BLOCKED, "участник заблокировал бота")
            self._finalize_unsent(crisis, Row.SKIPPED, "кризисный флаг: рассылки не отправляются")
            ids = [r[0] for r in sendable]
            claimed = outbound.claim(BroadcastDelivery.objects.filter(pk__in=ids), now=now, claimed_by=self.worker,
                                     attempts=F("attempts") + 1)
            if claimed != len(ids):  # cannot happen under the row lock; if it ever does, send only ours
                mine = set(BroadcastDelivery.objects.filter(pk__in=ids, status=Row.SENDING, claimed_by=self.worker,
                                                            claimed_at=now).values_list("id", flat=True))
                sendable = [r for r in sendable if r[0] in mine]
        jobs = [Job(r[0], r[1], r[4], r[2] + 1, r[7]) for r in sendable]
        if self.broadcast.counts_against_budget:
            jobs = self._charge_budget(jobs, [r[0] for r in sendable if r[3] is not None], now)
        return jobs

    def _defer_outside_window(self, rows: list[tuple], now: datetime) -> list[tuple]:
        """Rows whose member's clock is outside the sending window (a worker came late) wait
        for the window's next opening instead of waking the member up."""
        kept = []
        for row in rows:
            opens = outside_window(zone=self.zone_of(row[8]), now=now, window=self.window)
            if opens is None:
                kept.append(row)
            else:
                BroadcastDelivery.objects.filter(pk=row[0]).update(next_attempt_at=opens)
        return kept

    def _finalize_unsent(self, ids: list[int], status: str, reason: str) -> None:
        if ids:
            BroadcastDelivery.objects.filter(pk__in=ids).update(status=status, last_error=reason)
            self.report[status] += len(ids)
            self._progress(len(ids))

    def _charge_budget(self, jobs: list[Job], already_charged: list[int], now: datetime) -> list[Job]:
        """Take one of each member's daily proactive slots; a member with none left is skipped.

        A retried row keeps the slot its first attempt took; a message that ends undelivered
        gives its slot back (``_release_budget``).
        """
        users = TelegramUser.objects.in_bulk([j.user_id for j in jobs if j.delivery_id not in already_charged])
        kept, over_budget = [], []
        for job in jobs:
            if job.delivery_id in already_charged:
                kept.append(job)
                continue
            slot = daily_slot_take(user=users[job.user_id], at=now, source=Source.BROADCAST)
            if slot is None:
                over_budget.append(job.delivery_id)
                continue
            BroadcastDelivery.objects.filter(pk=job.delivery_id).update(daily_slot=slot)
            kept.append(job)
        self._finalize_unsent(over_budget, Row.SKIPPED, "дневной лимит проактивных сообщений исчерпан")
        return kept

    def _release_budget(self, delivery_ids: list[int]) -> None:
        """Give back the daily slots of messages that were certainly not delivered."""
        if self.broadcast.counts_against_budget and delivery_ids:
            daily_slot_release(slot_ids=list(BroadcastDelivery.objects.filter(
                pk__in=delivery_ids, daily_slot__isnull=False).values_list("daily_slot_id", flat=True)))

    # --- recording ---------------------------------------------------------------------------
    def _record(self, results: list[tuple[Job, Outcome]]) -> None:
        """Write the outcomes of one short cycle in a few queries."""
        now = timezone.now()
        rows, blocked_users, interactions, undelivered, final = [], [], [], [], 0
        for job, outcome in results:
            row = BroadcastDelivery(pk=job.delivery_id, attempts=job.attempts, sent_at=None,
                                    telegram_message_id=None, last_error=outcome.error[:255], next_attempt_at=None)
            row.status = self._next_status(job, outcome, row, now)
            if row.status == Row.SENT:
                row.sent_at, row.telegram_message_id = now, outcome.message_id
                interactions.append(UserInteraction(user_id=job.user_id, kind=UserInteraction.Kind.BROADCAST_DELIVERED,
                                                    stage=job.stage, metadata={"broadcast_id": self.broadcast.pk}))
            elif row.status == Row.BLOCKED:
                blocked_users.append(job.user_id)
            if row.status in (Row.BLOCKED, Row.FAILED, Row.CANCELLED):
                undelivered.append(job.delivery_id)
            if row.status != Row.PENDING:
                final += 1
            self.report["retried" if row.status == Row.PENDING else row.status] += 1
            rows.append(row)
            if outcome.photo_file_id and not self.broadcast.photo_file_id:
                self._remember_photo(outcome.photo_file_id)
        with transaction.atomic():
            BroadcastDelivery.objects.bulk_update(rows, RECORDED_FIELDS)
            if blocked_users:
                members_mark_blocked(user_ids=blocked_users, now=now)
            if interactions:
                UserInteraction.objects.bulk_create(interactions)
            self._release_budget(undelivered)
        self._progress(final)

    def _next_status(self, job: Job, outcome: Outcome, row: BroadcastDelivery, now: datetime) -> str:
        """This table's spelling of ``outbound.next_step``; fills the retry fields of ``row``."""
        step = outbound.next_step(outcome, attempts=job.attempts, max_attempts=self.max_attempts, now=now,
                                  backoff=backoff())
        if not step.attempt_used:
            row.attempts = job.attempts - 1
        match step.next:
            case Next.RETRY:
                row.next_attempt_at = step.at
                return Row.PENDING
            case Next.UNSENT:
                row.last_error = ""
                return Row.CANCELLED if self.cancelled else Row.PENDING
            case Next.FAILED:
                row.last_error = step.reason[:255]
                return Row.FAILED
        return {Next.SENT: Row.SENT, Next.BLOCKED: Row.BLOCKED, Next.UNKNOWN: Row.UNKNOWN}[step.next]

    def _remember_photo(self, file_id: str) -> None:
        """Keep Telegram's file_id of the uploaded photo for other workers and later runs."""
        self.broadcast.photo_file_id = file_id
        Broadcast.objects.filter(pk=self.broadcast.pk, photo_file_id="").update(photo_file_id=file_id)

    def _progress(self, n: int) -> None:
        if n and self.on_progress is not None:
            self.on_progress(n)


def broadcast_deliver(*, broadcast_id: int, worker: str | None = None, concurrency: int | None = None,
                      batch_size: int | None = None, on_progress: Callable[[int], None] | None = None) -> dict:
    """Send a ``sending`` broadcast's due rows until none is left or it is cancelled.

    Guarantees: no member gets the broadcast twice, with any number of workers and processes
    running this at once (rows are claimed before sending, the database arbitrates); the
    total rate of every sender together stays under the shared Redis limiter; a 429 pauses
    all of them; cancellation stops sending within ``BROADCAST_STATUS_POLL_SECONDS`` plus
    the requests already in flight. Returns what this worker did (counts by outcome).
    """
    broadcast = Broadcast.objects.filter(pk=broadcast_id).first()
    if broadcast is None or broadcast.status != Broadcast.Status.SENDING:
        return {"status": broadcast.status if broadcast else "missing", "sent": 0}
    run = _Run(broadcast, worker=worker or worker_name(),
               concurrency=concurrency or settings.BROADCAST_CONCURRENCY,
               batch_size=batch_size or settings.BROADCAST_BATCH_SIZE, on_progress=on_progress)
    return run.execute()
