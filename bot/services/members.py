"""What the chat does with members beyond plain writes: consent words, consent with its
journey, export and erasure (they span sessions, journeys and profiles).

Plain member writes live in ``profiles.services``; the names the bot runtime and the
delivery engines import from here are re-exported below.
"""

from __future__ import annotations

from django.db import transaction

from journeys.services import journey_start
from privacy.erasure import member_erase
from privacy.export import member_export_json
from profiles.models import TelegramUser
from profiles.services import (  # noqa: F401 — re-exported for the runtime and delivery engines
    TelegramIdentity,
    member_log,
    member_mark_blocked,
    member_mark_unblocked,
    member_record_consent,
    member_sync,
    members_mark_blocked,
)

CONSENT_WORDS = {"да", "да!", "согласен", "согласна", "согласен(на)", "я согласен", "я согласна", "давай",
                 "конечно", "ок", "окей", "хорошо", "поехали", "начнём", "начнем", "yes"}


def is_consent(text: str) -> bool:
    return " ".join(text.lower().replace("ё", "е").split()).strip(" .!") in CONSENT_WORDS


@transaction.atomic
def member_give_consent(*, user: TelegramUser) -> bool:
    """Record consent once and put the member on stage 1. Returns False if already given."""
    if not member_record_consent(user=user):
        return False
    journey_start(user=user)
    return True


def member_export(*, user: TelegramUser) -> bytes:
    """Everything we keep about the member, as a JSON document (their /export)."""
    return member_export_json(user=user)


def member_forget(*, user: TelegramUser) -> None:
    """Erase the member everywhere (their /forget, after confirmation); see privacy.erasure."""
    member_erase(user=user)
