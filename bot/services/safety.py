"""The crisis workflow: what happens after the gate (``bot.safety.gate``) sees risk.

- ``crisis_signal``: flag the member (gentle mode, no proactive messages or broadcasts), put the
  signal on the member's one open alert (creating it and paging staff once), and say whether the
  helplines go out again (first signal, acute, or not within ``CRISIS_HELPLINES_EVERY_MINUTES``).
- Staff workflow: take, assign, note, resolve (a note is required); resolving the last open
  alert clears the flag. Manual flag changes (crisis flag, "blocked") are recorded with who and why.
- ``crisis_realert_due``: unresolved alerts page the staff chat again every
  ``CRISIS_REALERT_AFTER_MINUTES``; each page is one claimed outbound row, never two.
Nothing here logs the member's words.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from bot.models import CrisisAlert, CrisisContact, CrisisNote, MemberFlagChange
from bot.safety.detector import CATEGORY_LABELS
from bot.safety.gate import Decision
from bot.ui import escape, render
from profiles.models import TelegramUser, UserInteraction

logger = logging.getLogger(__name__)

Status = CrisisAlert.Status
OPEN = ~Q(status=Status.RESOLVED)


def contacts_text() -> str:
    """The active helplines as Telegram HTML (the plain-text fields are escaped)."""
    return "\n".join(f"• {escape(c.name)}: <b>{escape(c.phone)}</b>"
                     + (f" — {escape(c.description)}" if c.description else "")
                     for c in CrisisContact.objects.filter(is_active=True))


def open_alert(*, user_id: int) -> CrisisAlert | None:
    return CrisisAlert.objects.filter(OPEN, user_id=user_id).first()


def open_alerts_count() -> int:
    return CrisisAlert.objects.filter(OPEN).count()


@dataclass(frozen=True)
class Signal:
    alert: CrisisAlert
    helplines: bool  # send the full support reply with helplines (else a short follow-up)
    new: bool


def _category_label(decision: Decision) -> str:
    if decision.detected_by == "llm":
        return "оценка LLM" + (" (острая опасность)" if decision.acute else "")
    return CATEGORY_LABELS.get(decision.category, decision.category or "—")


def _staff_alert(alert: CrisisAlert, *, reason: str, dedupe_key: str) -> None:
    """Page the staff chat once per ``dedupe_key`` (member id and category only, never the text)."""
    if not settings.TELEGRAM_STAFF_CHAT_ID:
        return
    from .notify import outbound_enqueue

    link = ""
    if settings.PUBLIC_BASE_URL:
        link = f"\n{settings.PUBLIC_BASE_URL.rstrip('/')}/admin/bot/crisisalert/{alert.pk}/change/"
    outbound_enqueue(
        kind="crisis_alert", chat_id=settings.TELEGRAM_STAFF_CHAT_ID, user=alert.user, dedupe_key=dedupe_key,
        text=render("⚠️ <b>Кризисный сигнал</b> {reason}: участник #{id}, {category}, обнаружено: {how}. "
                    "Статус: {status}. Откройте «Кризисные сигналы» в админке и свяжитесь с ним.{link}",
                    reason=reason, id=alert.user_id, category=alert.category_label, how=alert.detected_by,
                    status=alert.get_status_display(), link=link),
    )
    CrisisAlert.objects.filter(pk=alert.pk).update(staff_alerts=F("staff_alerts") + 1, staff_alerted_at=timezone.now())


@transaction.atomic
def crisis_signal(*, user: TelegramUser, text: str, decision: Decision) -> Signal:
    """Record a risk signal for the member; page staff once per alert (and again when it turns acute).

    Safe to run concurrently for one member: the member row is locked, so two signals end on
    one open alert (a partial unique constraint is the final guard).
    """
    now = timezone.now()
    TelegramUser.objects.select_for_update().filter(pk=user.pk).update(crisis_flag=True, crisis_flagged_at=now)
    user.crisis_flag, user.crisis_flagged_at = True, now
    alert = open_alert(user_id=user.pk)
    new = alert is None
    every = timedelta(minutes=settings.CRISIS_HELPLINES_EVERY_MINUTES)
    if new:
        alert = CrisisAlert.objects.create(
            user=user, excerpt=text[:1000], detected_by=decision.detected_by, category=decision.category[:16],
            evidence=" / ".join(decision.evidence)[:500], acute=decision.acute, last_signal_at=now,
            helplines_sent_at=now)
        helplines, became_acute = True, False
    else:
        helplines = decision.acute or alert.helplines_sent_at is None or now - alert.helplines_sent_at >= every
        became_acute = decision.acute and not alert.acute
        updates = {"signals": F("signals") + 1, "last_signal_at": now}
        if helplines:
            updates["helplines_sent_at"] = now
        if became_acute:
            updates.update(acute=True, excerpt=text[:1000], category=decision.category[:16],
                           detected_by=decision.detected_by, evidence=" / ".join(decision.evidence)[:500])
        CrisisAlert.objects.filter(pk=alert.pk).update(**updates)
        alert.refresh_from_db()
    alert.category_label = _category_label(decision)
    UserInteraction.objects.create(user=user, kind=UserInteraction.Kind.CRISIS, stage=user.journey_stage,
                                   metadata={"alert_id": alert.pk, "detected_by": decision.detected_by,
                                             "category": decision.category, "acute": decision.acute})
    logger.warning("crisis signal for member %s (alert %s, %s, %s)", user.pk, alert.pk, decision.detected_by,
                   decision.category)
    if new:
        _staff_alert(alert, reason="", dedupe_key=f"crisis:{alert.pk}")
    elif became_acute:
        _staff_alert(alert, reason="(острая опасность)", dedupe_key=f"crisis:{alert.pk}:acute")
    return Signal(alert, helplines, new)


def _require_staff(staff) -> None:
    if staff is None or not getattr(staff, "is_staff", False):
        raise PermissionError("Only staff can change a crisis alert.")


def crisis_take(*, alert: CrisisAlert, staff, assignee=None) -> bool:
    """Put an open alert in progress with an assignee (``staff`` themselves by default)."""
    _require_staff(staff)
    return bool(CrisisAlert.objects.filter(OPEN, pk=alert.pk).update(
        status=Status.IN_PROGRESS, assignee=assignee or staff))


def crisis_note_add(*, alert: CrisisAlert, author, text: str) -> CrisisNote:
    """A note with author and time; a note on a new alert puts it in progress."""
    _require_staff(author)
    text = (text or "").strip()
    if not text:
        raise ValueError("A note cannot be empty.")
    note = CrisisNote.objects.create(alert=alert, author=author, text=text[:4000])
    CrisisAlert.objects.filter(pk=alert.pk, status=Status.NEW).update(status=Status.IN_PROGRESS,
                                                                      assignee=alert.assignee or author)
    return note


def crisis_resolve(*, alert: CrisisAlert, staff, note: str) -> bool:
    """Close the alert with a note (required); the last open alert's closing clears the member's flag.

    Returns False when the alert was already resolved (by someone else meanwhile).
    """
    _require_staff(staff)
    note = (note or "").strip()
    if not note:
        raise ValueError("Resolving a crisis alert needs a note.")
    with transaction.atomic():
        TelegramUser.objects.select_for_update().filter(pk=alert.user_id).exists()
        if not CrisisAlert.objects.filter(OPEN, pk=alert.pk).update(
                status=Status.RESOLVED, resolved_at=timezone.now(), resolved_by=staff,
                assignee=alert.assignee or staff):
            return False
        CrisisNote.objects.create(alert=alert, author=staff, text=note[:4000])
        if not CrisisAlert.objects.filter(OPEN, user_id=alert.user_id).exists():
            if TelegramUser.objects.filter(pk=alert.user_id, crisis_flag=True).update(crisis_flag=False):
                MemberFlagChange.objects.create(
                    user_id=alert.user_id, field=MemberFlagChange.Field.CRISIS_FLAG, value=False, staff=staff,
                    reason=f"Сигнал #{alert.pk} разобран: {note}"[:4000])
    return True


def member_flag_set(*, user: TelegramUser, field: str, value: bool, staff, reason: str) -> bool:
    """Staff set or clear the crisis flag or "blocked" by hand, with a reason; returns False if unchanged.

    Setting the crisis flag opens an alert (detected by staff) so the workflow follows;
    clearing it resolves the member's open alerts with the reason as the note.
    """
    _require_staff(staff)
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("A reason is required.")
    if field not in MemberFlagChange.Field.values:
        raise ValueError(f"Unknown flag {field}")
    with transaction.atomic():
        locked = TelegramUser.objects.select_for_update().get(pk=user.pk)
        if getattr(locked, field) == value:
            return False
        if field == MemberFlagChange.Field.CRISIS_FLAG and value:
            crisis_signal(user=locked, text="", decision=Decision(True, detected_by="staff", category="staff"))
        elif field == MemberFlagChange.Field.CRISIS_FLAG:
            # Resolving the open alerts clears the flag and records the change with this reason.
            for alert in CrisisAlert.objects.filter(OPEN, user=locked):
                crisis_resolve(alert=alert, staff=staff, note=reason)
            if TelegramUser.objects.filter(pk=user.pk, crisis_flag=True).update(crisis_flag=False):
                MemberFlagChange.objects.create(user=locked, field=field, value=False, staff=staff,
                                                reason=reason[:4000])
        else:
            now = timezone.now()
            TelegramUser.objects.filter(pk=user.pk).update(is_blocked=value, blocked_at=now if value else None,
                                                           updated_at=now)
        if value or field != MemberFlagChange.Field.CRISIS_FLAG:
            MemberFlagChange.objects.create(user=locked, field=field, value=value, staff=staff, reason=reason[:4000])
    user.refresh_from_db()
    return True


def crisis_realert_due(*, now=None) -> int:
    """Page the staff chat again for every alert unresolved longer than CRISIS_REALERT_AFTER_MINUTES
    since it was created or last paged. Idempotent and safe to run concurrently: each page is
    claimed by a conditional UPDATE on ``staff_alerts`` and has its own dedupe key."""
    now = now or timezone.now()
    due_before = now - timedelta(minutes=settings.CRISIS_REALERT_AFTER_MINUTES)
    due = CrisisAlert.objects.filter(OPEN).filter(
        Q(staff_alerted_at__lte=due_before) | Q(staff_alerted_at__isnull=True, created_at__lte=due_before))
    paged = 0
    for alert in due.select_related("user"):
        count = alert.staff_alerts
        with transaction.atomic():
            if not CrisisAlert.objects.filter(pk=alert.pk, staff_alerts=count).filter(OPEN).update(
                    staff_alerts=count + 1, staff_alerted_at=now):
                continue  # another run paged it just now
            alert.category_label = CATEGORY_LABELS.get(alert.category, alert.category or "—")
            alert.staff_alerts = count + 1
            if settings.TELEGRAM_STAFF_CHAT_ID:
                from .notify import outbound_enqueue

                hours = max(1, int((now - alert.created_at).total_seconds() // 3600))
                outbound_enqueue(
                    kind="crisis_alert", chat_id=settings.TELEGRAM_STAFF_CHAT_ID, user=alert.user,
                    dedupe_key=f"crisis:{alert.pk}:realert:{count + 1}",
                    text=render("⏰ <b>Кризисный сигнал не разобран</b> уже {hours} ч: участник #{id}, {category}. "
                                "Статус: {status}, ответственный: {assignee}.", hours=hours, id=alert.user_id,
                                category=alert.category_label, status=alert.get_status_display(),
                                assignee=str(alert.assignee) if alert.assignee_id else "не назначен"))
            paged += 1
    return paged
