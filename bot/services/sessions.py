"""Session Service: the conversation record that survives restarts.

The database is the truth: every turn is one encrypted ``ConversationTurn`` row, inserted
before the reply is sent and never rewritten, so a turn costs the same at message 10 and
message 800. Readers take only what they need (the last few turns for the LLM, one turn for
a quick reply). Nothing decrypted is cached.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, F, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.utils import timezone

from bot.models import ConversationTurn, UserSession
from journeys.models import JourneyProgress, JourneyStage
from journeys.tasks import analyse_member_later
from profiles.models import TelegramUser, UserInteraction
from relove.core.precompiled import Precompiled, Statement, execute_together

logger = logging.getLogger(__name__)

DIGEST_RECENT_TURNS = 24  # the digest quotes the member's last few lines from this window


@dataclass
class Turn:
    role: str  # "user" | "assistant"
    content: str
    quick_replies: list[str] | None = None
    kind: str = ""  # "" for conversation, "proactive" for a message Natasha wrote first


TURN_FIELDS = ("role", "content", "created_at", "position", "kind", "quick_replies")
CONTEXT_TURN_FIELDS = TURN_FIELDS[:-1]  # what the LLM context reads: no buttons


def _as_dict(row: dict) -> dict:
    """A stored turn (a ``values(*TURN_FIELDS)`` row) in the shape prompts, export and admin read:
    {role, content, ts, position[, qr][, kind]}."""
    data = {"role": row["role"], "content": row["content"], "ts": row["created_at"].isoformat(timespec="seconds"),
            "position": row["position"]}
    if row.get("quick_replies"):
        data["qr"] = row["quick_replies"]
    if row["kind"]:
        data["kind"] = row["kind"]
    return data


def _idle_cutoff(now=None):
    return (now or timezone.now()) - timedelta(minutes=settings.SESSION_IDLE_MINUTES)


def _stage_news_sql() -> str:
    progress, stage = JourneyProgress._meta.db_table, JourneyStage._meta.db_table
    return (f'EXISTS (SELECT 1 FROM {progress} p JOIN {stage} s ON s.id = p.stage_id '  # noqa: S608 — table names only
            f'JOIN {stage} ps ON ps.id = p.previous_stage_id '
            f'WHERE p.user_id = {UserSession._meta.db_table}.user_id AND p.announced_at IS NULL '
            f'AND s."order" > ps."order")')


# Whether the member has a forward stage change not yet shown (``journey_announcement_claim``
# decides exactly; this only spares the members without one that read). Hand-written: it is
# read on every turn, and building the same ``Exists(…OuterRef…)`` with the ORM cost more CPU
# than the rest of the session read (docs/benchmarks.md). Tested against the ORM's own answer.
STAGE_NEWS = RawSQL(_stage_news_sql(), [], output_field=BooleanField())  # noqa: S611 — no parameters at all


def _active(user_id: int) -> QuerySet[UserSession]:
    return UserSession.objects.filter(user_id=user_id, status=UserSession.Status.ACTIVE).order_by("-started_at")[:1]


# Read on every turn: compiled once per process (relove.core.precompiled).
ACTIVE = Precompiled(_active, user_id=int)
ACTIVE_WITH_NEWS = Precompiled(lambda user_id: _active(user_id).annotate(stage_news=STAGE_NEWS), user_id=int)


def session_get_active(*, user: TelegramUser, now=None, with_stage_news: bool = False) -> UserSession:
    """The member's open conversation; an idle one is ended first and a new one started.

    Safe when two processes race: the partial unique index allows one active session per
    member, and the loser reads the winner's row. ``with_stage_news`` reads, in the same
    query, whether a stage change awaits announcement (``session.stage_news``; a new session
    lacks the attribute, so callers treat a missing one as "maybe").
    """
    now = now or timezone.now()
    session = (ACTIVE_WITH_NEWS if with_stage_news else ACTIVE).first(user_id=user.pk)
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
    return session


def session_append(*, session: UserSession, turns: list[Turn], now=None) -> UserSession:
    """Append turns and persist them now (before anything is sent to the member).

    Inserts one row per turn: the cost does not grow with the session. Positions are taken
    by one atomic ``UPDATE … RETURNING`` (PostgreSQL and SQLite ≥ 3.35) that locks the session
    row until the rows are in, so concurrent writers (a reply and a proactive message) never
    collide or lose a turn. The returned session's ``message_count`` is the number of turns
    taken, so the last one appended is at ``message_count - 1``.

    Two statements, all or nothing (``execute_together``: one round trip on PostgreSQL). A caller
    with more to write in the same breath runs ``append_statements`` with its own statements.
    """
    now = now or timezone.now()
    return appended(session, execute_together(append_statements(session=session, turns=turns, now=now)), now)


def append_statements(*, session: UserSession, turns: list[Turn], now) -> list[Statement]:
    """The statements of ``session_append``, first in a list for ``execute_together``; ``appended``
    reads the result. The positions come from the session row's own count, taken first."""
    count = len(turns)
    fields = {name: ConversationTurn._meta.get_field(name) for name in ("content", "quick_replies", "created_at")}
    at = fields["created_at"].get_db_prep_save(now, connection)
    take = Statement("UPDATE bot_usersession SET message_count = message_count + %s, last_activity_at = %s "
                     "WHERE id = %s RETURNING message_count", [count, at, session.pk])
    params = []
    for i, turn in enumerate(turns):
        params += [count - i, turn.role, turn.kind, fields["content"].get_db_prep_save(turn.content, connection),
                   fields["quick_replies"].get_db_prep_save(turn.quick_replies or [], connection), at, session.pk]
    row = "SELECT id, message_count - %s, %s, %s, %s, %s, %s FROM bot_usersession WHERE id = %s"
    insert = Statement("INSERT INTO bot_conversationturn (session_id, position, role, kind, content, quick_replies, "
                       f"created_at) {' UNION ALL '.join([row] * count)}", params)
    return [take, insert]


def appended(session: UserSession, results: list[list[tuple]], now) -> UserSession:
    """The session after ``append_statements`` ran (their results first in ``results``)."""
    if not results[0]:
        raise UserSession.DoesNotExist(f"session {session.pk} is gone")
    session.message_count, session.last_activity_at = results[0][0][0], now
    return session


def session_turns(*, session: UserSession, start: int = 0, stop: int | None = None) -> list[dict]:
    """Turns ``start <= position < stop`` in order (all of them by default: export, admin)."""
    rows = ConversationTurn.objects.filter(session_id=session.pk, position__gte=start)
    if stop is not None:
        rows = rows.filter(position__lt=stop)
    return [_as_dict(row) for row in rows.order_by("position").values(*TURN_FIELDS)]


# The LLM context's read, on every turn: compiled once per process (relove.core.precompiled).
RECENT_WITHOUT_REPLIES = Precompiled(lambda session_id, start: ConversationTurn.objects.filter(
    session_id=session_id, position__gte=start).order_by("position").values_list(*CONTEXT_TURN_FIELDS),
    session_id=int, start=int)


def session_recent_turns(*, session: UserSession, limit: int, start: int = 0, quick_replies: bool = True) -> list[dict]:
    """The last ``limit`` turns (not before ``start``), oldest first: one indexed query.

    ``quick_replies=False`` leaves out the buttons under Natasha's turns (no "qr"): the LLM
    context never shows them, and each one is a second decryption per row.
    """
    start = max(start, session.message_count - limit)
    if quick_replies:
        return session_turns(session=session, start=start)
    return [_as_dict(dict(zip(CONTEXT_TURN_FIELDS, row, strict=True)))
            for row in RECENT_WITHOUT_REPLIES.rows(session_id=session.pk, start=start)]


def session_history(session: UserSession) -> list[dict]:
    """Every turn of the session, oldest first."""
    return session_turns(session=session)


def session_turn(*, session: UserSession, position: int) -> dict | None:
    row = ConversationTurn.objects.filter(session_id=session.pk, position=position).values(*TURN_FIELDS).first()
    return _as_dict(row) if row else None


def session_latest_turn(*, user: TelegramUser, position: int) -> dict | None:
    """The turn at ``position`` of the member's latest conversation (a pressed quick reply), one query."""
    latest = UserSession.objects.filter(user=user).order_by("-started_at", "-id").values("pk")[:1]
    row = ConversationTurn.objects.filter(session_id=Subquery(latest), position=position).values(*TURN_FIELDS).first()
    return _as_dict(row) if row else None


def session_latest(*, user: TelegramUser) -> UserSession | None:
    """The member's current conversation, else their most recent one (a button from yesterday)."""
    return (UserSession.objects.filter(user=user, status=UserSession.Status.ACTIVE).first()
            or UserSession.objects.filter(user=user).order_by("-started_at").first())


def session_last_turn(*, session: UserSession, role: str) -> dict | None:
    """The latest turn by ``role`` (e.g. what Natasha said last, for /resume)."""
    row = ConversationTurn.objects.filter(session_id=session.pk, role=role).order_by("-position").values(
        *TURN_FIELDS).first()
    return _as_dict(row) if row else None


def session_set_summary(*, session: UserSession, summary: str, summarized_turns: int) -> None:
    UserSession.objects.filter(pk=session.pk).update(summary=summary, summarized_turns=summarized_turns)
    session.summary, session.summarized_turns = summary, summarized_turns


def contradiction_statement(*, session: UserSession, now) -> Statement:
    """Natasha named a contradiction or avoidance in this session (R9: once a session; the first mark
    stays), as a statement for ``execute_together`` with the turn that raised it (the session is
    updated now)."""
    at = UserSession._meta.get_field("contradiction_raised_at").get_db_prep_save(now, connection)
    session.contradiction_raised_at = session.contradiction_raised_at or now
    return Statement("UPDATE bot_usersession SET contradiction_raised_at = %s "
                     "WHERE id = %s AND contradiction_raised_at IS NULL", [at, session.pk])


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
    recent = session_recent_turns(session=session, limit=DIGEST_RECENT_TURNS)
    member_lines = [t["content"] for t in recent if t.get("role") == "user"]
    if member_lines:
        parts.append("Участник говорил: " + " / ".join(line[:200] for line in member_lines[-6:]))
    return "\n".join(parts)[:limit]


def conversations_apply_retention(*, now=None, batch: int = 500) -> dict[str, int]:
    """Conversation text older than ``CONVERSATION_RETENTION_DAYS`` is summarised and removed.

    For each session holding such turns, what the member said in them is folded into the
    session's summary (bounded, no LLM) and the turn rows are deleted. Idempotent: a second run
    finds nothing; at most ``batch`` sessions per run (the daily job catches up over days).
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.CONVERSATION_RETENTION_DAYS)
    old = ConversationTurn.objects.filter(created_at__lt=cutoff)
    session_ids = list(old.values_list("session_id", flat=True).distinct().order_by("session_id")[:batch])
    removed = 0
    for session_id in session_ids:
        with transaction.atomic():
            session = UserSession.objects.select_for_update().get(pk=session_id)
            turns = old.filter(session_id=session_id).order_by("position")
            said = [row.content[:200] for row in turns if row.role == ConversationTurn.Role.USER]
            if said:
                folded = "Участник говорил (старше срока хранения): " + " / ".join(said[-6:])
                session.summary = "\n".join(p for p in (folded, session.summary) if p)[-2500:]
                session.save(update_fields=["summary"])
            removed += turns.delete()[0]
    return {"sessions": len(session_ids), "turns_removed": removed}
