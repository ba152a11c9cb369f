"""What the chat does with members beyond plain writes: consent words, consent with its
journey, export and erasure (they span sessions, journeys and profiles).

Plain member writes live in ``profiles.services``; the names the bot runtime and the
delivery engines import from here are re-exported below.
"""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from journeys.services import journey_start
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
    data = {
        "exported_at": timezone.now(),
        "member": {"telegram_id": user.telegram_id, "username": user.username, "first_name": user.first_name,
                   "timezone": user.timezone, "consent_at": user.consent_at, "journey_stage": user.journey_stage,
                   "proactive_enabled": user.proactive_enabled, "last_summary": user.last_summary},
        "sessions": [{"started_at": s.started_at, "ended_at": s.ended_at, "history": s.conversation_history}
                     for s in user.sessions.order_by("started_at")],
        "journey": [{"at": p.created_at, "stage": p.stage.name, "source": p.source}
                    for p in user.journey_progress.select_related("stage").order_by("created_at")],
        "insights": [{"at": i.created_at, "kind": i.kind, "text": i.text}
                     for i in user.insights.order_by("created_at")],
        "profiles": [{"version": p.version, "summary": p.summary, "data": p.data,
                      "light_shadow_balance": p.light_shadow_balance} for p in user.profiles.order_by("version")],
        "streams": [{"stream": e.stream.title, "enrolled_at": e.enrolled_at}
                    for e in user.enrollments.select_related("stream")],
        "activity": [{"at": a.created_at, "kind": a.kind, "content": a.content}
                     for a in user.activity_logs.order_by("created_at")],
    }
    return json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2).encode("utf-8")


@transaction.atomic
def member_forget(*, user: TelegramUser) -> None:
    """Erase the member and everything personal about them (cascades to every related row)."""
    TelegramUser.objects.filter(pk=user.pk).delete()
