"""Journey writes: starting a member's path, moving them between stages, streams and their programmes.

Stage changes are recorded as ``JourneyProgress`` rows; a forward change with source ``llm``
or ``staff`` is what the trigger engine turns into a "stage completed" message (see
``selectors.stage_changes_since``). The LLM analysis that proposes changes is in
``journeys.analysis``.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from profiles.models import TelegramUser, UserInteraction
from profiles.zones import member_zone
from relove.core.process_cache import ProcessCached

from .models import STAGE_COUNT, JourneyProgress, JourneyStage, Stream, StreamEnrollment, StreamStep, StreamStepDelivery

logger = logging.getLogger(__name__)

REASON_MAX = 500
EVIDENCE_MAX = 300


def _load_stages() -> dict[int, JourneyStage]:
    return {stage.order: stage for stage in JourneyStage.objects.all()}


# Read on every turn, edited by staff a few times a year: a per-process copy (see process_cache).
STAGES = ProcessCached("journey-stages", _load_stages, JourneyStage)


def stage_get(order: int | None) -> JourneyStage:
    """The stage with this order (the first stage when the member has none yet).

    From the per-process copy: treat it as read-only.
    """
    stage = STAGES.get().get(order or 1)
    if stage is None:
        raise JourneyStage.DoesNotExist(f"no journey stage {order or 1}")
    return stage


@transaction.atomic
def journey_start(*, user: TelegramUser) -> JourneyStage:
    """Put a member who just consented on stage 1; idempotent for members already on a path."""
    if user.journey_stage:
        return stage_get(user.journey_stage)
    first = stage_get(1)
    user.journey_stage = first.order
    user.save(update_fields=["journey_stage", "updated_at"])
    JourneyProgress.objects.create(user=user, stage=first, source=JourneyProgress.Source.INITIAL,
                                   confidence=1.0, reason="начало пути")
    return first


def _record_change(*, user_id: int, stage: JourneyStage, previous: JourneyStage | None, source: str,
                   confidence: float, evidence: str = "", staff=None, reason: str = "",
                   announced: bool = False) -> JourneyProgress:
    skipped = []
    if previous is not None and stage.order > previous.order + 1:
        skipped = list(range(previous.order + 1, stage.order))
    progress = JourneyProgress.objects.create(
        user_id=user_id, stage=stage, previous_stage=previous, source=source, confidence=confidence,
        evidence=evidence[:EVIDENCE_MAX], changed_by=staff, reason=reason[:REASON_MAX], skipped_stages=skipped,
        announced_at=timezone.now() if announced else None)
    UserInteraction.objects.create(
        user_id=user_id, kind=UserInteraction.Kind.STAGE_CHANGED, stage=stage.order,
        metadata={"from": previous.order if previous else None, "to": stage.order, "source": source,
                  "progress_id": progress.pk, "skipped": skipped})
    logger.info("journey: member %s moved %s -> %s (%s)", user_id, previous.order if previous else None,
                stage.order, source)
    return progress


@transaction.atomic
def journey_advance(*, user_id: int, from_order: int, to_order: int, confidence: float, evidence: str,
                    reason: str) -> JourneyProgress | None:
    """Move a member forward from ``from_order`` straight to ``to_order``, on the analysis' word.

    A conditional UPDATE is the claim: if the member is no longer on ``from_order`` (staff or
    a concurrent analysis moved them) or is in crisis, nothing happens. Never moves backwards;
    stages jumped over are recorded as skipped. The first move after consent is a placement.
    """
    if not from_order < to_order <= STAGE_COUNT:
        return None
    target = stage_get(to_order)
    moved = TelegramUser.objects.filter(pk=user_id, journey_stage=from_order, crisis_flag=False).update(
        journey_stage=target.order, updated_at=timezone.now())
    if not moved:
        return None
    placed = JourneyProgress.objects.filter(user_id=user_id).exclude(source=JourneyProgress.Source.INITIAL).exists()
    return _record_change(user_id=user_id, stage=target, previous=stage_get(from_order),
                          source=JourneyProgress.Source.LLM if placed else JourneyProgress.Source.PLACEMENT,
                          confidence=confidence, evidence=evidence, reason=reason)


@transaction.atomic
def journey_set_stage(*, user: TelegramUser, stage: JourneyStage | int, staff, reason: str,
                      notify: bool = False) -> JourneyProgress | None:
    """Staff put a member on any stage, in either direction; recorded with who and why.

    Returns None when the member is already on that stage. ``reason`` is required. The member
    hears of it (congratulation with the indicator) only with ``notify`` and only forwards.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("A reason is required to set a stage by hand.")
    if staff is None or not getattr(staff, "is_staff", False):
        raise PermissionError("Only staff can set a stage by hand.")
    target = stage if isinstance(stage, JourneyStage) else stage_get(int(stage))
    locked = TelegramUser.objects.select_for_update().get(pk=user.pk)
    if locked.journey_stage == target.order:
        return None
    previous = stage_get(locked.journey_stage) if locked.journey_stage else None
    TelegramUser.objects.filter(pk=user.pk).update(journey_stage=target.order, updated_at=timezone.now())
    user.journey_stage = target.order
    return _record_change(user_id=user.pk, stage=target, previous=previous, source=JourneyProgress.Source.STAFF,
                          confidence=1.0, staff=staff, reason=reason, announced=not notify)


def journey_announcement_claim(*, user_id: int, progress_id: int | None = None,
                               now: datetime | None = None) -> JourneyProgress | None:
    """Claim the member's latest forward stage change that they have not seen yet.

    The conditional UPDATE makes it the caller's to show exactly once: the next reply and the
    proactive congratulation race for it, and only one of them shows it. With ``progress_id``
    only that change is claimed (and only while it is still the latest).
    """
    latest = JourneyProgress.objects.filter(user_id=user_id).order_by("-created_at", "-id").first()
    if latest is None or latest.announced_at is not None or latest.previous_stage_id is None:
        return None
    if progress_id is not None and latest.pk != progress_id:
        return None
    if latest.stage.order <= latest.previous_stage.order:
        return None
    claimed = JourneyProgress.objects.filter(pk=latest.pk, announced_at__isnull=True).update(
        announced_at=now or timezone.now())
    return latest if claimed else None


# --- streams -----------------------------------------------------------------------------

_REF = re.compile(r"^tg(\d{1,10})s(\d{1,10})h([0-9a-f]{8})$")


def _ref_signature(user_id: int, stream_id: int) -> str:
    return salted_hmac("journeys.stream-ref", f"{user_id}:{stream_id}").hexdigest()[:8]


def stream_ref_code(*, user: TelegramUser, stream) -> str:
    """A ref parameter that attributes a click or registration to this member and stream.

    Signed (8 hex characters of an HMAC with SECRET_KEY), so clicks cannot be forged for
    another member; fits the 32 characters of ``StreamEnrollment.ref_code``.
    """
    return f"tg{user.pk}s{stream.pk}h{_ref_signature(user.pk, stream.pk)}"


def stream_ref_parse(ref: str) -> tuple[int, int] | None:
    """(member id, stream id) of a genuine ref code, else None."""
    match = _REF.match(ref or "")
    if not match:
        return None
    user_id, stream_id = int(match.group(1)), int(match.group(2))
    if not constant_time_compare(match.group(3), _ref_signature(user_id, stream_id)):
        return None
    return user_id, stream_id


def url_with_ref(url: str, ref: str) -> str:
    """``url`` with ``ref=`` set (replacing one already there), keeping its other parameters."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "ref"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("ref", ref)])))


def stream_link(*, user: TelegramUser, stream: Stream) -> str:
    """The link a member gets for a stream.

    With ``PUBLIC_BASE_URL`` set, it goes through our click-tracking redirect (``/r/s/<ref>/``),
    which records the click and forwards to the stream page with ``?ref=``; without it, the
    stream page with ``?ref=`` directly (registrations still attributable, clicks not counted).
    """
    ref = stream_ref_code(user=user, stream=stream)
    base = getattr(settings, "PUBLIC_BASE_URL", "")
    if base:
        return f"{base.rstrip('/')}/r/s/{ref}/"
    return url_with_ref(stream.url, ref)


def stream_click_record(*, ref: str) -> str | None:
    """Record a member's click on a stream link; returns the URL to send them on, or None.

    Unknown or forged refs return None (the view answers 404). A member who has since erased
    their data still gets redirected, but no click is recorded (nobody to attribute it to).
    """
    parsed = stream_ref_parse(ref)
    if parsed is None:
        return None
    user_id, stream_id = parsed
    stream = Stream.objects.filter(pk=stream_id).first()
    if stream is None:
        return None
    user = TelegramUser.objects.filter(pk=user_id).only("id", "journey_stage").first()
    if user is not None:
        UserInteraction.objects.create(user=user, kind=UserInteraction.Kind.STREAM_CLICKED,
                                       stage=user.journey_stage, metadata={"stream_id": stream.pk, "ref": ref})
    return url_with_ref(stream.url, ref)


def _programme(stream: Stream) -> list[StreamStep]:
    return list(stream.steps.order_by("day_offset", "order", "id"))


def _due_on(enrollment: StreamEnrollment, step: StreamStep, *, enrolled_at: datetime | None = None):
    """The member-local calendar day a step is due, on the stream's schedule.

    A stream with a start date counts ``day_offset`` from that date (a member who joins late
    gets the steps already past on their enrolment day, which the daily budget then spreads);
    a stream without one counts from the member's enrolment day.
    """
    enrolled_on = timezone.localtime(enrolled_at or enrollment.enrolled_at, member_zone(enrollment.user)).date()
    starts = enrollment.stream.starts_at
    if starts is None:
        return enrolled_on + timedelta(days=step.day_offset)
    return max(starts + timedelta(days=step.day_offset), enrolled_on)


CONVERSATION = "conversation"  # analytics source of an invitation, click or enrolment inside the conversation


@transaction.atomic
def stream_offer_claim(*, user: TelegramUser, stream: Stream, session_id: int | None = None,
                       now: datetime | None = None) -> bool:
    """Record Natasha's invitation to ``stream`` inside the conversation; True when it may be shown.

    False (nothing recorded) in crisis mode, when the member is enrolled in the stream, or when
    they were invited to it within ``STREAM_OFFER_EVERY_DAYS`` (fatigue). The member row is
    locked while checking, so two turns at once never both invite.
    """
    from .selectors import streams_offered_recently

    locked = TelegramUser.objects.select_for_update().filter(pk=user.pk).values_list("crisis_flag", flat=True)
    if next(iter(locked), True):
        return False
    if StreamEnrollment.objects.filter(user=user, stream=stream).exists():
        return False
    if stream.pk in streams_offered_recently(user=user, now=now):
        return False
    UserInteraction.objects.create(user=user, kind=UserInteraction.Kind.STREAM_OFFERED, stage=user.journey_stage,
                                   metadata={"stream_id": stream.pk, "source": CONVERSATION, "session_id": session_id})
    return True


def stream_click_in_conversation(*, user: TelegramUser, stream: Stream, action: str) -> None:
    """A press on a stream button under Natasha's reply («Узнать о потоке» or «Начать поток»)."""
    UserInteraction.objects.create(user=user, kind=UserInteraction.Kind.STREAM_CLICKED, stage=user.journey_stage,
                                   metadata={"stream_id": stream.pk, "source": CONVERSATION, "action": action})


@transaction.atomic
def stream_enroll(*, user: TelegramUser, stream, now: datetime | None = None,
                  source: str = "") -> tuple[StreamEnrollment, bool]:
    """Enrol a member in a stream once and lay out their programme; returns (enrollment, created).

    The first step is written as delivered now (the caller sends it at once); every later
    step gets a due day on the stream's schedule (``_due_on``, member's time zone) for the
    trigger engine. Enrolling twice changes nothing. ``source`` (e.g. ``CONVERSATION``)
    attributes the enrolment in analytics.
    """
    enrollment, created = StreamEnrollment.objects.get_or_create(
        user=user, stream=stream, defaults={"ref_code": stream_ref_code(user=user, stream=stream)})
    if not created:
        return enrollment, False
    UserInteraction.objects.create(user=user, kind=UserInteraction.Kind.STREAM_ENROLLED, stage=user.journey_stage,
                                   metadata={"stream_id": stream.pk, **({"source": source} if source else {})})
    now = now or timezone.now()
    steps = _programme(stream)
    StreamStepDelivery.objects.bulk_create([
        StreamStepDelivery(enrollment=enrollment, step=step, due_on=_due_on(enrollment, step, enrolled_at=now),
                           delivered_at=now if i == 0 else None)
        for i, step in enumerate(steps)
    ])
    return enrollment, True


@transaction.atomic
def stream_programme_sync(*, stream: Stream) -> int:
    """After staff edit a programme: give active members the new steps and re-date undelivered ones.

    Returns the number of delivery rows created or re-dated. Delivered steps are history
    and stay as they are; deleted steps take their undelivered rows with them (cascade).
    """
    changed = 0
    steps = _programme(stream)
    enrollments = stream.enrollments.filter(status=StreamEnrollment.Status.ACTIVE).select_related("user")
    for enrollment in enrollments:
        existing = {d.step_id: d for d in enrollment.step_deliveries.all()}
        for step in steps:
            due_on = _due_on(enrollment, step)
            row = existing.get(step.pk)
            if row is None:
                StreamStepDelivery.objects.create(enrollment=enrollment, step=step, due_on=due_on)
                changed += 1
            elif row.delivered_at is None and row.due_on != due_on:
                StreamStepDelivery.objects.filter(pk=row.pk).update(due_on=due_on)
                changed += 1
    return changed


@transaction.atomic
def stream_step_mark_delivered(*, delivery_id: int, now: datetime | None = None) -> bool:
    """The trigger engine sent this step; returns False if it was already marked (idempotent).

    When the last step of a programme goes out, the enrolment is completed.
    """
    now = now or timezone.now()
    marked = StreamStepDelivery.objects.filter(pk=delivery_id, delivered_at__isnull=True).update(delivered_at=now)
    if not marked:
        return False
    enrollment_id = StreamStepDelivery.objects.filter(pk=delivery_id).values_list("enrollment_id", flat=True).get()
    if not StreamStepDelivery.objects.filter(enrollment_id=enrollment_id, delivered_at__isnull=True).exists():
        StreamEnrollment.objects.filter(pk=enrollment_id, status=StreamEnrollment.Status.ACTIVE).update(
            status=StreamEnrollment.Status.COMPLETED)
    return True


@transaction.atomic
def _steps_check(steps: list[dict]) -> None:
    """The programme's own rules (the model's, plus one step per day and order), before any write."""
    errors, seen = [], set()
    for item in steps:
        key = (item["day_offset"], item.get("order", 0))
        if key in seen:
            errors.append(f"Два шага с одним днём и порядком: день {key[0]}, порядок {key[1]}.")
        seen.add(key)
        step = StreamStep(day_offset=key[0], order=key[1], text=item.get("text", ""),
                          quick_replies=item.get("quick_replies", []))
        try:
            step.full_clean(exclude=["stream"], validate_constraints=False)
        except ValidationError as error:
            errors.extend(message for messages in error.message_dict.values() for message in messages)
    if errors:
        raise ValidationError({"steps": errors})


@transaction.atomic
def stream_save(*, stream: Stream | None, fields: dict, stage_orders: list[int] | None = None,
                steps: list[dict] | None = None) -> Stream:
    """Create or update a stream, its suitable stages and (when given) its whole programme.

    Validated as the admin validates (``Stream.clean``, ``StreamStep.clean``) before anything
    is written; raises ``ValidationError`` keyed by field. Steps are matched on
    (day_offset, order): matching ones are updated in place (so their delivery history
    stays), new ones created, missing ones removed. Members already in the stream get the
    changed programme (``stream_programme_sync``).
    """
    stream = stream or Stream()
    for name, value in fields.items():
        setattr(stream, name, value)
    stream.full_clean()
    if steps is not None:
        _steps_check(steps)
    stream.save()
    if stage_orders is not None:
        stream.suitable_stages.set(JourneyStage.objects.filter(order__in=stage_orders))
    if steps is not None:
        existing = {(s.day_offset, s.order): s for s in stream.steps.all()}
        keep = []
        for item in steps:
            key = (item["day_offset"], item.get("order", 0))
            step = existing.get(key) or StreamStep(stream=stream, day_offset=key[0], order=key[1])
            step.text, step.quick_replies = item["text"], item.get("quick_replies", [])
            step.save()
            keep.append(step.pk)
        stream.steps.exclude(pk__in=keep).delete()
        stream_programme_sync(stream=stream)
    return stream
