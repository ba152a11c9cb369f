"""Session Service: the conversation record that survives restarts.

The database is the truth: every turn is written before the reply is sent. The cache
(Redis in production, TTL ``SESSION_CACHE_TTL``) only saves a decryption per message; a
cached copy is used only if its session id and turn count match the row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from bot.models import UserSession
from journeys.tasks import analyse_member_later
from profiles.models import TelegramUser, UserInteraction

logger = logging.getLogger(__name__)



@dataclass
class Turn:
    role: str  # "user" | "assistant"
    content: str
    quick_replies: list[str] | None = None
    kind: str = ""  # "" for conversation, "proactive" for a message Natasha wrote first

    def as_dict(self) -> dict:
        data = {"role": self.role, "content": self.content, "ts": timezone.now().isoformat(timespec="seconds")}
        if self.quick_replies:
            data["qr"] = self.quick_replies
        if self.kind:
            data["kind"] = self.kind
        return data


def _cache_key(user_id: int) -> str:
    return f"session:{user_id}"


def _remember(session: UserSession) -> None:
    cache.set(_cache_key(session.user_id), {"id": session.pk, "count": session.message_count,
                                             "history": session.conversation_history,
                                             "summary": session.summary}, settings.SESSION_CACHE_TTL)


def _idle_cutoff(now=None):
    return (now or timezone.now()) - timedelta(minutes=settings.SESSION_IDLE_MINUTES)


def session_get_active(*, user: TelegramUser, now=None) -> UserSession:
    """The member's open conversation; an idle one is ended first and a new one started.

    Safe when two processes race: the partial unique index allows one active session per
    member, and the loser reads the winner's row.
    """
    now = now or timezone.now()
    session = (UserSession.objects.filter(user=user, status=UserSession.Status.ACTIVE)
               .defer("conversation_history", "summary").first())
    if session is not None and session.last_activity_at < _idle_cutoff(now):
        session_end(session=session, reason=UserSession.EndReason.IDLE, now=now)
        session = None
    if session is None:
        try:
            with transaction.atomic():
                session = UserSession.objects.create(user=user, stage_at_start=user.journey_stage,
                                                     stage_snapshot=user.journey_stage)
                TelegramUser.objects.filter(pk=user.pk).update(sessions_count=F("sessions_count") + 1)
                UserInteraction.objects.create(user=user, kind=UserInteraction.Kind.SESSION_STARTED,
                                               stage=user.journey_stage)
        except IntegrityError:
            session = UserSession.objects.get(user=user, status=UserSession.Status.ACTIVE)
        _remember(session)
        return session
    cached = cache.get(_cache_key(user.pk))
    if cached and cached["id"] == session.pk and cached["count"] == session.message_count:
        # Same row, same number of turns: the deferred columns need not be read and decrypted.
        session.conversation_history, session.summary = cached["history"], cached["summary"]
    else:
        _remember(session)  # reading the deferred fields loads them from the database
    return session


@transaction.atomic
def session_append(*, session: UserSession, turns: list[Turn], now=None) -> UserSession:
    """Append turns and persist them now (before anything is sent to the member).

    Locks the row so concurrent writers (a reply and a proactive message) never lose a turn.
    """
    now = now or timezone.now()
    locked = UserSession.objects.select_for_update().get(pk=session.pk)
    locked.conversation_history = [*locked.conversation_history, *(t.as_dict() for t in turns)]
    locked.message_count = len(locked.conversation_history)
    locked.last_activity_at = now
    locked.save(update_fields=["conversation_history", "message_count", "last_activity_at"])
    transaction.on_commit(lambda: _remember(locked))
    return locked


def session_set_summary(*, session: UserSession, summary: str, summarized_turns: int) -> None:
    UserSession.objects.filter(pk=session.pk).update(summary=summary, summarized_turns=summarized_turns)
    session.summary, session.summarized_turns = summary, summarized_turns
    cache.delete(_cache_key(session.user_id))


@transaction.atomic
def session_end(*, session: UserSession, reason: str, now=None) -> bool:
    """End a session once and fold it into the member record (counts, last summary).

    Returns False when it was already ended (e.g. by a concurrent sweeper).
    """
    now = now or timezone.now()
    changed = UserSession.objects.filter(pk=session.pk, status=UserSession.Status.ACTIVE).update(
        status=UserSession.Status.ENDED, ended_at=now, end_reason=reason)
    if not changed:
        return False
    session.refresh_from_db()
    user = session.user
    summary = session_digest(session)
    if summary:
        user.last_summary = summary
        user.save(update_fields=["last_summary", "updated_at"])
    UserInteraction.objects.create(user=user, kind=UserInteraction.Kind.SESSION_ENDED,
                                   stage=user.journey_stage,
                                   metadata={"session_id": session.pk, "turns": session.message_count,
                                             "reason": reason})
    cache.delete(_cache_key(user.pk))
    analyse_member_later(user.pk)  # a last stage analysis once the session row is committed
    return True


def session_end_for(*, user: TelegramUser, reason: str) -> bool:
    session = UserSession.objects.filter(user=user, status=UserSession.Status.ACTIVE).first()
    return bool(session) and session_end(session=session, reason=reason)


def sessions_end_idle(*, now=None) -> int:
    """End every session idle past SESSION_IDLE_MINUTES (periodic job; safe to overlap)."""
    ended = 0
    stale = UserSession.objects.filter(status=UserSession.Status.ACTIVE,
                                       last_activity_at__lt=_idle_cutoff(now)).select_related("user")
    for session in stale.iterator(chunk_size=200):
        ended += session_end(session=session, reason=UserSession.EndReason.IDLE, now=now)
    return ended


def session_digest(session: UserSession, *, limit: int = 1500) -> str:
    """A short plain summary of a session for the member record (no LLM needed)."""
    parts = [session.summary] if session.summary else []
    member_lines = [t["content"] for t in session.conversation_history if t.get("role") == "user"]
    if member_lines:
        parts.append("Участник говорил: " + " / ".join(line[:200] for line in member_lines[-6:]))
    return "\n".join(parts)[:limit]
