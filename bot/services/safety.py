"""Safety layer: runs before any persona logic on every member message.

A curated list of Russian phrasings catches clear crisis signals at once; softer signals
("нет смысла", "больше не могу") are confirmed by the LLM's judgement when it is available
(and count as a crisis when it is not — a false alarm costs less than a missed one).
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from bot.models import CrisisAlert, CrisisContact
from bot.ui import escape, render
from profiles.models import TelegramUser, UserInteraction
from relove import llm

logger = logging.getLogger(__name__)

_HARD = [
    r"суицид", r"самоубийств", r"покончить\s+с\s+собой", r"поконч\w*\s+с\s+(собой|жизнью)",
    r"убить\s+себя", r"убью\s+себя", r"наложить\s+на\s+себя\s+руки", r"не\s+хочу\s+(больше\s+)?жить",
    r"жить\s+не\s+хочу", r"жить\s+не\s+хочется", r"хочу\s+умереть", r"лучше\s+бы\s+я\s+умер",
    r"повеситься", r"повешусь", r"вскрыть\s+вены", r"вскрою\s+вены", r"порезать\s+себя", r"режу\s+себя",
    r"прыгнуть\s+с\s+(крыши|моста)", r"спрыгну\s+с", r"выпилиться", r"уйти\s+из\s+жизни",
    r"свести\s+счеты\s+с\s+жизнью", r"наглотаться\s+таблеток", r"причинить\s+себе\s+вред",
    r"меня\s+(избивают|бьют)", r"мне\s+угрожают\s+убить",
]
_SOFT = [
    r"нет\s+смысла\s+жить", r"незачем\s+жить", r"больше\s+не\s+могу", r"хочу\s+исчезнуть",
    r"всем\s+будет\s+лучше\s+без\s+меня", r"устал\w*\s+жить", r"не\s+вижу\s+выхода", r"конец\s+всему",
    r"хочу\s+уснуть\s+и\s+не\s+проснуться", r"я\s+никому\s+не\s+нужн",
]
HARD_RE = re.compile("|".join(_HARD), re.IGNORECASE)
SOFT_RE = re.compile("|".join(_SOFT), re.IGNORECASE)


def _normalize(text: str) -> str:
    return " ".join(text.lower().replace("ё", "е").split())


def _validate_judgement(data: dict) -> bool:
    value = data.get("crisis")
    if not isinstance(value, bool):
        raise ValueError("crisis must be a boolean")
    return value


def detect_crisis(text: str) -> str | None:
    """How a crisis was detected ("keywords" or "llm"), or None when the message is not one."""
    normalized = _normalize(text)
    if HARD_RE.search(normalized):
        return "keywords"
    if not SOFT_RE.search(normalized):
        return None
    if not llm.llm_enabled():
        return "keywords"
    judgement = llm.complete_json(
        [{"role": "system", "content": _safety_prompt()},
         {"role": "user", "content": llm.delimit_member_text(text[:2000])}],
        validate=_validate_judgement, temperature=0.0, max_tokens=20, purpose="safety")
    if judgement is None:
        return "keywords"  # the LLM did not answer: err on the side of care
    return "llm" if judgement else None


def _safety_prompt() -> str:
    from .natasha import prompt_text

    return prompt_text("safety")


def contacts_text() -> str:
    """The active helplines as Telegram HTML (the plain-text fields are escaped)."""
    return "\n".join(f"• {escape(c.name)}: <b>{escape(c.phone)}</b>"
                     + (f" — {escape(c.description)}" if c.description else "")
                     for c in CrisisContact.objects.filter(is_active=True))


@transaction.atomic
def crisis_register(*, user: TelegramUser, text: str, detected_by: str) -> CrisisAlert:
    """Flag the member (no provocation, no proactive messages), record an alert, notify staff."""
    now = timezone.now()
    TelegramUser.objects.filter(pk=user.pk).update(crisis_flag=True, crisis_flagged_at=now)
    user.crisis_flag, user.crisis_flagged_at = True, now
    alert = CrisisAlert.objects.create(user=user, excerpt=text[:1000], detected_by=detected_by)
    UserInteraction.objects.create(user=user, kind=UserInteraction.Kind.CRISIS, stage=user.journey_stage,
                                   metadata={"alert_id": alert.pk, "detected_by": detected_by})
    logger.warning("crisis signal for member %s (alert %s, %s)", user.pk, alert.pk, detected_by)
    if settings.TELEGRAM_STAFF_CHAT_ID:
        from .notify import outbound_enqueue

        outbound_enqueue(
            kind="crisis_alert", chat_id=settings.TELEGRAM_STAFF_CHAT_ID, user=user,
            dedupe_key=f"crisis:{alert.pk}",
            text=render("⚠️ <b>Кризисный сигнал</b> от участника #{id} ({how}). Откройте «Кризисные сигналы» "
                        "в админке и свяжитесь с ним.", id=user.pk, how=detected_by),
        )
    return alert


def crisis_resolve(*, alert: CrisisAlert, staff) -> bool:
    """Staff have looked after the member: close the alert and clear the member's flag."""
    with transaction.atomic():
        if not CrisisAlert.objects.filter(pk=alert.pk, resolved_at__isnull=True).update(
                resolved_at=timezone.now(), resolved_by=staff):
            return False
        if not CrisisAlert.objects.filter(user_id=alert.user_id, resolved_at__isnull=True).exists():
            TelegramUser.objects.filter(pk=alert.user_id).update(crisis_flag=False)
    return True

