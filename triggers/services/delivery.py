"""Delivery: due triggers go out through the one outbound path, each at most once.

The life of a trigger: ``pending`` → (rules say "not now": still ``pending``, later
``scheduled_for``) → claimed ``sending`` (``outbound.claim``), holding a ``DailyMessageSlot``
→ Natasha's text stored in the member's conversation → one Bot API call → what
``outbound.next_step`` says: ``sent`` / ``failed`` / back to ``pending`` at a later time.
A claim is taken under a lock on the member row, so two scanners never send one trigger
twice and never put two messages to one member closer than ``min_interval``; the unique
daily slot is the last guard of the daily budget.
"""

from __future__ import annotations

import html
import logging
import queue
import re
import threading
import time as monotonic_time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from bot import outbound
from bot.services import members, natasha, sessions
from bot.services.budget import Source, daily_budget_usage, daily_slot_release, daily_slot_take
from bot.services.natasha import Generated, with_progress_bar
from bot.services.orchestrator import decorate
from bot.ui import Button, callback, escape, render
from journeys.models import JourneyInsight, JourneyStage, Stream, StreamEnrollment, StreamStep
from journeys.services import journey_announcement_claim, stream_step_mark_delivered
from profiles.models import TelegramUser, UserActivityLog, UserInteraction
from relove.core.ratelimit import RateLimiter
from relove.core.staff_errors import describe

from ..budget import member_zone
from ..models import ProactiveTrigger, ProactivityConfig
from ..selectors import triggers_due
from .rules import Rules, plan_send
from .windows import local_date, next_day_window_start

logger = logging.getLogger(__name__)

Kind, Status = ProactiveTrigger.Kind, ProactiveTrigger.Status
DELIVERY_BATCH = 500
MAX_BATCHES = 50  # a guard: each batch leaves nothing of itself due, so the loop ends anyway
STUCK_AFTER = timedelta(minutes=10)
BACKOFF = outbound.Backoff(base=timedelta(minutes=1), cap=timedelta(hours=1))
# When several reasons are due for one member, the most personal goes first; the rest wait
# for ``min_interval`` (or the next day).
KIND_PRIORITY = {Kind.STREAM_STEP: 0, Kind.STAGE_COMPLETED: 1, Kind.AVOIDANCE: 2, Kind.MORNING_CHECKIN: 3,
                 Kind.INACTIVITY: 4, Kind.STREAM_INVITE: 5}
REASON_BLOCKED = "участник заблокировал бота"


class Stale(Exception):
    """The reason has gone away since detection (the member moved on, the row was deleted)."""


@dataclass(frozen=True)
class Decision:
    action: str  # "send" | "defer" | "skipped" | "cancelled"
    at: datetime | None = None
    reason: str = ""


# --- rules -----------------------------------------------------------------------------------

def _ineligible(user: TelegramUser) -> Decision | None:
    if user.is_blocked:
        return Decision(Status.CANCELLED, reason=REASON_BLOCKED)
    if not user.consent_at:
        return Decision(Status.SKIPPED, reason="нет согласия участника")
    if not user.proactive_enabled:
        return Decision(Status.SKIPPED, reason="участник отключил проактивные сообщения")
    if user.is_paused:
        return Decision(Status.SKIPPED, reason="участник на паузе")
    if user.crisis_flag:
        return Decision(Status.SKIPPED, reason="кризисный флаг")
    return None


def _expires_at(trigger: ProactiveTrigger) -> datetime | None:
    value = (trigger.payload or {}).get("expires_at")
    return parse_datetime(value) if isinstance(value, str) else None


def plan_due(*, trigger: ProactiveTrigger, config: ProactivityConfig, rules: Rules, now: datetime,
             sent_today: int, last_sent_at: datetime | None) -> Decision:
    """What to do with one due trigger now: send, defer (to when), or drop (and why)."""
    if not config.kind_enabled(trigger.kind):
        return Decision(Status.SKIPPED, reason="этот тип сообщений выключен")
    user = trigger.user
    ineligible = _ineligible(user)
    if ineligible:
        return ineligible
    expires = _expires_at(trigger)
    if expires and now >= expires:
        return Decision(Status.SKIPPED, reason="устарело")
    if trigger.kind == Kind.INACTIVITY and user.last_user_message_at and \
            user.last_user_message_at > trigger.created_at:
        return Decision(Status.SKIPPED, reason="участник написал сам")
    at = plan_send(now=now, zone=member_zone(user, config), rules=rules, sent_today=sent_today,
                   last_sent_at=last_sent_at)
    if at is None:
        return Decision("send")
    if expires and at >= expires:
        return Decision(Status.SKIPPED, reason="устарело: не успели в разрешённое время")
    return Decision("defer", at=at)


def _defer(trigger_ids: list[int], at: datetime) -> int:
    return ProactiveTrigger.objects.filter(pk__in=trigger_ids, status=Status.PENDING).update(scheduled_for=at)


def _drop(trigger_ids: list[int], status: str, reason: str) -> int:
    return ProactiveTrigger.objects.filter(pk__in=trigger_ids, status=Status.PENDING).update(
        status=status, last_error=reason)


# --- the whole batch -----------------------------------------------------------------------------

def triggers_deliver_due(*, config: ProactivityConfig, now: datetime, time_budget: float | None = None,
                         ids: list[int] | None = None, live_clock: bool = False,
                         batch_size: int = DELIVERY_BATCH) -> Counter:
    """Apply the rules to every due trigger and send those that may go now.

    Works in batches of ``batch_size`` (oldest first) until nothing is due or ``time_budget``
    seconds are used; what is left stays due for the next scan. Deferrals and drops are
    written in bulk, conditional on the row still being pending; sends go one by one.
    Safe to run concurrently with other scanners. ``live_clock``: stamp claims and sends
    with the real time instead of ``now`` (long runs in production).
    """
    counts: Counter = Counter()
    deadline = monotonic_time.monotonic() + (time_budget if time_budget is not None else float("inf"))
    rules = Rules.from_config(config)
    for _batch in range(MAX_BATCHES):
        due = triggers_due(now=now, limit=batch_size, ids=ids)
        if not due:
            break
        held: list[ProactiveTrigger] = []
        sendable = _plan_batch(due, config=config, rules=rules, now=now, counts=counts, held=held)
        finished = _send_all(sendable, config=config, rules=rules, now=now, live_clock=live_clock,
                             deadline=deadline, counts=counts)
        if held:
            _plan_held(held, config=config, rules=rules, now=now, counts=counts)
        if not finished:
            break  # out of time: the rest stays due for the next scan
        if len(due) < batch_size:
            break
    return counts


def _threads(count: int) -> int:
    # Inside a transaction (tests, a caller's atomic block) other threads could not see its
    # rows: deliver in this thread. SQLite has one writer anyway.
    if transaction.get_connection().in_atomic_block or transaction.get_connection().vendor != "postgresql":
        return 1
    return max(1, min(count, getattr(settings, "TRIGGERS_DELIVERY_THREADS", 4)))


def _send_all(sendable: list[ProactiveTrigger], *, config: ProactivityConfig, rules: Rules, now: datetime,
              live_clock: bool, deadline: float, counts: Counter) -> bool:
    """Deliver ``sendable`` with a few threads (each its own connection and Bot); False when out of time.

    Per-member order does not matter here: a batch holds at most one sendable trigger per
    member unless ``min_interval`` is zero, and claims are serialised per member anyway.
    """
    jobs: queue.SimpleQueue = queue.SimpleQueue()
    for trigger in sendable:
        jobs.put(trigger)
    lock, limiter = threading.Lock(), RateLimiter()

    def work(close_connection: bool) -> None:
        try:
            with outbound.BotSession(limiter=limiter) as sender:
                while monotonic_time.monotonic() <= deadline:
                    try:
                        trigger = jobs.get_nowait()
                    except queue.Empty:
                        return
                    at = timezone.now() if live_clock else now
                    try:
                        result = str(trigger_deliver(trigger=trigger, config=config, rules=rules, now=at,
                                                     sender=sender))
                    except Exception:  # one broken row must not stop the pass; a claimed one is swept later
                        logger.exception("trigger %s: delivery failed", trigger.pk)
                        result = "error"
                    with lock:
                        counts[result] += 1
        finally:
            if close_connection:
                connections.close_all()

    threads = _threads(len(sendable))
    if threads == 1:
        work(close_connection=False)
    else:
        pool = [threading.Thread(target=work, args=(True,), name=f"triggers-{i}") for i in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    left = jobs.qsize()
    counts["postponed"] += left
    return left == 0


def _plan_batch(due: list[ProactiveTrigger], *, config: ProactivityConfig, rules: Rules, now: datetime,
                counts: Counter, held: list[ProactiveTrigger]) -> list[ProactiveTrigger]:
    """Decide every due trigger of a batch; apply deferrals and drops; return those to send now.

    Triggers waiting only for a send planned in this batch go to ``held`` instead: the caller
    plans them again (:func:`_plan_held`) after the sends, against what was actually sent."""
    due.sort(key=lambda t: (KIND_PRIORITY.get(t.kind, 9), t.scheduled_for, t.pk))
    per_day, last_sent = daily_budget_usage(user_ids=[t.user_id for t in due],
                                            since_day=(now - timedelta(days=2)).date())
    sendable, deferred, dropped = [], defaultdict(list), defaultdict(list)
    planned: set[int] = set()  # members with a send planned in this batch
    for trigger in due:
        today = local_date(now, member_zone(trigger.user, config))
        decision = plan_due(trigger=trigger, config=config, rules=rules, now=now,
                            sent_today=per_day[(trigger.user_id, today)], last_sent_at=last_sent.get(trigger.user_id))
        if decision.action == "send":
            sendable.append(trigger)
            planned.add(trigger.user_id)
            # A second reason of the same member in this batch must respect this send.
            per_day[(trigger.user_id, today)] += 1
            last_sent[trigger.user_id] = now
        elif decision.action == "defer" and trigger.user_id in planned:
            # Held back only by a send this batch plans, which another scanner planning the same
            # member may win instead: deferred now, it could push away the very trigger that
            # scanner is about to send. Planned again once this batch's sends are done.
            held.append(trigger)
        elif decision.action == "defer":
            deferred[decision.at].append(trigger.pk)
        else:
            dropped[(decision.action, decision.reason)].append(trigger.pk)
    for at, trigger_ids in deferred.items():
        counts["deferred"] += _defer(trigger_ids, at)
    for (status, reason), trigger_ids in dropped.items():
        counts[str(status)] += _drop(trigger_ids, status, reason)
    return sendable


def _plan_held(held: list[ProactiveTrigger], *, config: ProactivityConfig, rules: Rules, now: datetime,
               counts: Counter) -> None:
    """Defer or drop the held-back triggers against the sends now committed (by any scanner). One
    that may still go now (a planned send was lost) stays due: the next scan sends it."""
    may_go = _plan_batch(held, config=config, rules=rules, now=now, counts=counts, held=[])
    counts["held"] += len(may_go)


# --- one trigger -------------------------------------------------------------------------------------

def _claim(*, trigger: ProactiveTrigger, config: ProactivityConfig, rules: Rules, now: datetime) -> str:
    """``pending → sending`` with a budget slot, if the rules still allow sending at ``now``.

    Returns "claimed", "deferred" or "lost" (another worker has it, or it is no longer due).
    Runs under a lock on the member row: concurrent claims for one member take turns, so
    the budget and ``min_interval`` are checked against what the other one committed.
    """
    zone = member_zone(trigger.user, config)
    today = local_date(now, zone)
    with transaction.atomic():
        list(TelegramUser.objects.select_for_update().filter(pk=trigger.user_id).values_list("pk"))
        per_day, last_sent = daily_budget_usage(user_ids=[trigger.user_id], since_day=today - timedelta(days=1))
        at = plan_send(now=now, zone=zone, rules=rules, sent_today=per_day[(trigger.user_id, today)],
                       last_sent_at=last_sent.get(trigger.user_id))
        if at is not None:
            return "deferred" if _defer([trigger.pk], at) else "lost"
        if not outbound.claim(ProactiveTrigger.objects.filter(pk=trigger.pk, scheduled_for__lte=now), now=now):
            return "lost"
        slot = daily_slot_take(user=trigger.user, at=now, day=today, max_per_day=rules.max_per_day,
                               source=Source.PROACTIVE)
        if slot is None:  # a broadcast spent the budget meanwhile: the first moment of tomorrow
            ProactiveTrigger.objects.filter(pk=trigger.pk).update(
                status=Status.PENDING, claimed_at=None,
                scheduled_for=next_day_window_start(now, zone, rules.window_start, rules.window_end))
            return "deferred"
        ProactiveTrigger.objects.filter(pk=trigger.pk).update(daily_slot=slot)
    trigger.status, trigger.claimed_at, trigger.daily_slot = Status.SENDING, now, slot
    return "claimed"
    return "claimed"


def trigger_deliver(*, trigger: ProactiveTrigger, config: ProactivityConfig, rules: Rules, now: datetime,
                    sender: outbound.BotSession | None = None) -> str:
    """Claim one due trigger and send it; returns what happened ("sent", "deferred", "retry", …).

    Never sends twice: only the worker whose conditional UPDATE claimed the row sends, and a
    row is marked ``in_flight`` before the Bot API call, so after a crash the sweeper knows
    the message may have gone out and does not send it again.
    """
    state = _claim(trigger=trigger, config=config, rules=rules, now=now)
    if state != "claimed":
        return state
    user = TelegramUser.objects.filter(pk=trigger.user_id).first()
    if user is None:  # erased meanwhile; the trigger went with them
        return "lost"
    ineligible = _ineligible(user)
    if ineligible:  # changed since the batch was planned (e.g. paused a second ago)
        _finish(trigger, ineligible.action, ineligible.reason, release=True)
        return ineligible.action
    try:
        generated, turn_index = _store_turn(trigger=trigger, user=user, now=now)
        parts = decorate(generated, turn_index=turn_index)
        parts[-1].buttons = [*parts[-1].buttons, *_extra_buttons(trigger)]
    except Stale as stale:
        _finish(trigger, Status.SKIPPED, str(stale), release=True)
        return Status.SKIPPED
    except Exception as exc:  # a database or template error: nothing was sent, try later
        logger.exception("trigger %s: preparing the message failed", trigger.pk)
        ProactiveTrigger.objects.filter(pk=trigger.pk).update(attempts=F("attempts") + 1)
        trigger.attempts += 1
        return _retry_or_fail(trigger, config, now, f"подготовка: {describe(exc)}")
    payload = {**trigger.payload, "in_flight": True}
    ProactiveTrigger.objects.filter(pk=trigger.pk).update(attempts=F("attempts") + 1, payload=payload)
    trigger.attempts += 1
    trigger.payload = payload
    outcome = sender.send(user.telegram_id, parts) if sender else outbound.send(user.telegram_id, parts)
    return _record_outcome(trigger=trigger, user=user, config=config, outcome=outcome, generated=generated, now=now)


# --- composing --------------------------------------------------------------------------------------

def _context(trigger: ProactiveTrigger, user: TelegramUser) -> dict[str, str]:
    """The data Natasha needs for this reason; raises Stale when the reason has gone away."""
    payload = trigger.payload or {}
    if trigger.kind == Kind.STAGE_COMPLETED:
        if payload.get("stage_order") != user.journey_stage:
            raise Stale("этап уже сменился")
        if not journey_announcement_claim(user_id=user.pk, progress_id=payload.get("progress_id")):
            raise Stale("участник уже увидел новый этап в ответе")
        stage = JourneyStage.objects.get(order=user.journey_stage)
        return {"next_step": _next_step(stage)}
    if trigger.kind == Kind.AVOIDANCE:
        insight = JourneyInsight.objects.filter(pk=payload.get("insight_id"), user=user).first()
        if insight is None:
            raise Stale("наблюдение удалено")
        return {"pattern": insight.text[:300]}
    if trigger.kind == Kind.STREAM_STEP:
        step = StreamStep.objects.select_related("stream").filter(pk=payload.get("step_id")).first()
        if step is None:
            raise Stale("шаг программы удалён")
        return {"stream": step.stream.title, "step": step.text}
    if trigger.kind == Kind.STREAM_INVITE:
        stream = Stream.objects.filter(pk=payload.get("stream_id"), is_active=True).first()
        if stream is None:
            raise Stale("поток недоступен")
        if StreamEnrollment.objects.filter(user=user, stream=stream).exists():
            raise Stale("участник уже в потоке")
        return {"stream": stream.title, "description": stream.description}
    return {}


def _next_step(stage: JourneyStage) -> str:
    return f"«{stage.name}». {stage.first_question}".strip()


def stage_completed_preview(*, stage: JourneyStage) -> str:
    """The congratulation a member moved forward to ``stage`` would get, as plain text.

    The ``proactive_stage_completed`` template filled in, with the stage indicator; with the
    LLM on, Natasha words the same message afresh. Sends and stores nothing.
    """
    row = natasha.template(f"proactive_{Kind.STAGE_COMPLETED}", stage=stage)
    if row is None:
        generated = natasha.first_question(stage=stage)
    else:
        text = html.unescape(re.sub(r"<[^>]+>", "", render(row.text, next_step=_next_step(stage))))
        generated = Generated(html=escape(text), plain=text)
    return with_progress_bar(generated, stage=stage.order).plain


def _extra_buttons(trigger: ProactiveTrigger) -> list[list[Button]]:
    if trigger.kind == Kind.STREAM_INVITE:
        return [[Button("🔥 Начать поток", callback_data=callback("st", trigger.payload["stream_id"]))]]
    return []


def trigger_compose(*, trigger: ProactiveTrigger, user: TelegramUser | None = None) -> Generated:
    """Natasha's words for this trigger (LLM, else the ``proactive_<kind>`` template). Stores nothing."""
    user = user or trigger.user
    return natasha.proactive(user=user, kind=trigger.kind, context=_context(trigger, user))


def _stored_turn(trigger: ProactiveTrigger, session) -> tuple[Generated, int] | None:
    """The text stored by an earlier attempt, when it is still the member's current conversation."""
    stored = (trigger.payload or {}).get("turn")
    if not stored or stored[0] != session.pk:
        return None
    index = stored[1]
    turn = sessions.session_turn(session=session, position=index)
    if turn is None or turn.get("kind") != "proactive":
        return None
    return Generated(html=escape(turn["content"]), plain=turn["content"], quick_replies=turn.get("qr") or [],
                     source="stored"), index


def _store_turn(*, trigger: ProactiveTrigger, user: TelegramUser, now: datetime) -> tuple[Generated, int]:
    """Compose and append the message to the member's conversation before it is sent.

    A retry reuses the turn stored by the first attempt instead of writing a second one.
    """
    session = sessions.session_get_active(user=user, now=now)
    reused = _stored_turn(trigger, session)
    if reused:
        return reused
    generated = trigger_compose(trigger=trigger, user=user)
    if trigger.kind == Kind.STAGE_COMPLETED:  # the member sees where they are now (R11)
        generated = with_progress_bar(generated, stage=user.journey_stage)
    session = sessions.session_append(session=session, now=now, turns=[
        sessions.Turn("assistant", generated.plain, generated.quick_replies, kind="proactive")])
    index = session.message_count - 1
    trigger.payload = {**trigger.payload, "turn": [session.pk, index], "source": generated.source}
    ProactiveTrigger.objects.filter(pk=trigger.pk).update(payload=trigger.payload)
    return generated, index


# --- outcomes --------------------------------------------------------------------------------------

def _settled_payload(trigger: ProactiveTrigger) -> dict:
    return {k: v for k, v in (trigger.payload or {}).items() if k != "in_flight"}


def _finish(trigger: ProactiveTrigger, status: str, reason: str, *, release: bool) -> None:
    """End a claimed trigger; ``release`` gives its budget slot back (nothing was delivered)."""
    with transaction.atomic():
        if ProactiveTrigger.objects.filter(pk=trigger.pk, status=Status.SENDING).update(
                status=status, last_error=reason[:255], payload=_settled_payload(trigger)) and release:
            daily_slot_release(slot_ids=[trigger.daily_slot_id])


def _reschedule(trigger: ProactiveTrigger, at: datetime, reason: str, *, attempt_used: bool = True) -> None:
    """Back to ``pending`` at ``at``; the slot is given back (it is taken again when sent)."""
    fields = {} if attempt_used else {"attempts": F("attempts") - 1}
    with transaction.atomic():
        if ProactiveTrigger.objects.filter(pk=trigger.pk, status=Status.SENDING).update(
                status=Status.PENDING, scheduled_for=at, claimed_at=None, last_error=reason[:255],
                payload=_settled_payload(trigger), **fields):
            daily_slot_release(slot_ids=[trigger.daily_slot_id])


def _retry_or_fail(trigger: ProactiveTrigger, config: ProactivityConfig, now: datetime, reason: str) -> str:
    """Preparing the message failed (nothing was sent): the same policy as a transient send error."""
    return _apply(trigger, outbound.next_step(outbound.Outcome(outbound.Delivery.TRANSIENT, error=reason),
                                              attempts=trigger.attempts, max_attempts=config.max_attempts,
                                              now=now, backoff=BACKOFF))


def _apply(trigger: ProactiveTrigger, step: outbound.Step) -> str:
    """Write what the outbound policy decided for an attempt that did not end in "sent"."""
    Next = outbound.Next
    if step.next is Next.RETRY:
        _reschedule(trigger, step.at, step.reason or "повтор", attempt_used=step.attempt_used)
        return "retry"
    if step.next is Next.UNSENT:
        _reschedule(trigger, timezone.now(), "отправка прервана", attempt_used=False)
        return "retry"
    if step.next is Next.UNKNOWN:
        # The request may have reached Telegram: sending again could deliver it twice.
        _finish(trigger, Status.FAILED, f"неизвестно, доставлено ли: {step.reason}", release=False)
        return Status.FAILED
    _finish(trigger, Status.FAILED, step.reason or "ошибка Telegram", release=True)
    return Status.FAILED


def _record_outcome(*, trigger: ProactiveTrigger, user: TelegramUser, config: ProactivityConfig,
                    outcome: outbound.Outcome, generated: Generated, now: datetime) -> str:
    step = outbound.next_step(outcome, attempts=trigger.attempts, max_attempts=config.max_attempts, now=now,
                              backoff=BACKOFF)
    if step.next is outbound.Next.SENT:
        _record_sent(trigger=trigger, user=user, outcome=outcome, generated=generated, now=now)
        return Status.SENT
    logger.info("trigger %s (%s) not delivered: %s", trigger.pk, trigger.kind, step.next)
    if step.next is outbound.Next.BLOCKED:
        members.member_mark_blocked(telegram_id=user.telegram_id)
        _finish(trigger, Status.FAILED, f"403: {REASON_BLOCKED}", release=True)
        triggers_cancel_for_member(user_id=user.pk, reason=REASON_BLOCKED)
        return "blocked"
    return _apply(trigger, step)


def _record_sent(*, trigger: ProactiveTrigger, user: TelegramUser, outcome: outbound.Outcome,
                 generated: Generated, now: datetime) -> None:
    with transaction.atomic():
        TelegramUser.objects.filter(pk=user.pk).update(unanswered_proactive=F("unanswered_proactive") + 1)
        ProactiveTrigger.objects.filter(pk=trigger.pk, status=Status.SENDING).update(
            status=Status.SENT, sent_at=now, telegram_message_id=outcome.message_id, last_error="",
            payload=_settled_payload(trigger))
        members.member_log(user=user, kind=UserActivityLog.Kind.PROACTIVE, content=generated.plain,
                           interaction=UserInteraction.Kind.PROACTIVE_SENT,
                           metadata={"trigger_id": trigger.pk, "kind": trigger.kind})
    delivery_id = (trigger.payload or {}).get("step_delivery_id")
    if trigger.kind == Kind.STREAM_STEP and delivery_id:
        stream_step_mark_delivered(delivery_id=delivery_id, now=now)


# --- queue operations (admin, API) -------------------------------------------------------------------

def triggers_cancel(*, trigger_ids: list[int], reason: str = "отменено сотрудником") -> int:
    """Cancel pending triggers; one already being sent cannot be stopped."""
    return _drop(list(trigger_ids), Status.CANCELLED, reason)


def triggers_cancel_for_member(*, user_id: int, reason: str) -> int:
    return ProactiveTrigger.objects.filter(user_id=user_id, status=Status.PENDING).update(
        status=Status.CANCELLED, last_error=reason[:255])


def triggers_send_now(*, trigger_ids: list[int], now: datetime | None = None) -> Counter:
    """Make pending triggers due now and deliver them under the same rules as the scan.

    Outside the member's window, over the budget or too soon after the last message, a
    trigger is deferred to its next allowed moment instead (the counts say so).
    """
    now = now or timezone.now()
    config = ProactivityConfig.load()
    if not config.enabled or config.max_per_day == 0:
        return Counter(disabled=len(trigger_ids))
    ProactiveTrigger.objects.filter(pk__in=trigger_ids, status=Status.PENDING, scheduled_for__gt=now).update(
        scheduled_for=now)
    return triggers_deliver_due(config=config, now=now, ids=list(trigger_ids))


def triggers_sweep_stuck(*, now: datetime, older_than: timedelta = STUCK_AFTER) -> dict[str, int]:
    """Repair rows left in ``sending`` by a crashed worker (``outbound.sweep_stuck``).

    If the crash came before the Bot API call the trigger goes back to ``pending`` and gives
    its slot back (nothing was sent); if the call may have happened (``in_flight``), it is
    ``failed`` as "unknown", never sent again. Safe to run concurrently.
    """
    stuck = ProactiveTrigger.objects.filter(status=Status.SENDING, claimed_at__lt=now - older_than)
    unsent_slots = list(stuck.exclude(payload__has_key="in_flight").values_list("daily_slot_id", flat=True))
    requeued, unknown = outbound.sweep_stuck(
        ProactiveTrigger.objects.all(), now=now, older_than=older_than, maybe_sent=Q(payload__has_key="in_flight"),
        unknown={"status": Status.FAILED, "last_error": "прервано во время отправки: доставка неизвестна"},
        requeue={"status": Status.PENDING, "scheduled_for": now, "claimed_at": None})
    daily_slot_release(slot_ids=list(ProactiveTrigger.objects.filter(
        daily_slot_id__in=[pk for pk in unsent_slots if pk], status=Status.PENDING).values_list("daily_slot_id",
                                                                                            flat=True)))
    return {"swept_requeued": requeued, "swept_unknown": unknown}
