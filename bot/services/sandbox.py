"""The prompt sandbox: Natasha's current and draft replies to one conversation, side by side.

A content editor picks a stage and a conversation (a recent one, anonymised, if they may read
conversations; else one they type), edits a draft prompt and compares the two replies before
publishing. The LLM calls run in a worker (``relove.core.staff_tasks``); nothing is sent to
a member and nothing is stored but the staff task's encrypted result. Publishing saves the
prompt with its history version (simple-history) naming the staff member.
"""

from __future__ import annotations

import hashlib
import re

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction

from bot.models import ConversationTurn, PersonaPrompt, UserSession
from bot.template_keys import check_prompt
from journeys.models import JourneyStage
from relove import llm
from relove.core.models import StaffTask
from relove.core.staff_tasks import Outcome

from . import natasha, sessions

SANDBOX = "bot.prompt_sandbox"
# The prompts that shape a reply to a member: the persona, and the gentle mode after a crisis.
SANDBOX_KEYS = (PersonaPrompt.Key.PERSONA, PersonaPrompt.Key.CRISIS_MODE)
SANDBOX_TURNS = 12  # the tail of a picked conversation that is replayed
TYPED_TURNS_MAX = 24
TURN_MAX_CHARS = 2000
RECENT_SESSIONS = 20

# What could identify someone in a conversation, besides the member's own names and ids.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_LINK = re.compile(r"(?:https?://|t\.me/|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"@\w{3,}")
_PHONE = re.compile(r"\+?\d[\d\s()-]{7,}\d")
_NUMBER = re.compile(r"\d{6,}")
_ASSISTANT = re.compile(r"^\s*(?:наташа|natasha|бот)\s*:\s*", re.IGNORECASE)
_MEMBER = re.compile(r"^\s*(?:участник|участница|я|user)\s*:\s*", re.IGNORECASE)


def prompt_fingerprint(text: str) -> str:
    return hashlib.sha256((text or "").encode()).hexdigest()[:16]


# --- conversations ----------------------------------------------------------------------------

def sandbox_sessions() -> list[tuple[int, str]]:
    """Recent sessions with at least one member turn, labelled without names or ids."""
    rows = (UserSession.objects.filter(turns__role=ConversationTurn.Role.USER).distinct()
            .order_by("-last_activity_at").values("pk", "stage_snapshot", "message_count", "last_activity_at")
            [:RECENT_SESSIONS])
    return [(row["pk"], f"Разговор №{row['pk']} · этап {row['stage_snapshot'] or '—'} · реплик: "
                        f"{row['message_count']} · {row['last_activity_at']:%d.%m %H:%M}") for row in rows]


def anonymise(text: str, *, member=None) -> str:
    """The text without the member's names, username and Telegram id, e-mails, phones, links and handles."""
    if member is not None:
        names = [member.first_name, member.last_name, member.username, str(member.telegram_id)]
        for name in sorted({n for n in names if n and len(n) >= 2}, key=len, reverse=True):
            text = re.sub(rf"(?<!\w)@?{re.escape(name)}(?!\w)", "[имя]", text, flags=re.IGNORECASE)
    text = _EMAIL.sub("[почта]", text)
    text = _LINK.sub("[ссылка]", text)
    text = _HANDLE.sub("[ник]", text)
    text = _PHONE.sub("[телефон]", text)
    return _NUMBER.sub("[число]", text)


def _ending_with_member(turns: list[dict]) -> list[dict]:
    """Natasha answers the member's last words: drop her own turns after them."""
    while turns and turns[-1]["role"] != ConversationTurn.Role.USER:
        turns = turns[:-1]
    return turns


def sandbox_turns_from_session(*, session_id: int) -> list[dict]:
    """The tail of a stored conversation, anonymised, ending with the member's turn."""
    session = UserSession.objects.select_related("user").filter(pk=session_id).first()
    if session is None:
        return []
    turns = sessions.session_recent_turns(session=session, limit=SANDBOX_TURNS)
    return _ending_with_member([
        {"role": t["role"], "content": anonymise(t["content"], member=session.user)[:TURN_MAX_CHARS]} for t in turns])


def check_typed_conversation(text: str) -> list[dict]:
    """Lines «Участник: …» / «Наташа: …» (a line without a name is the member's) as turns.

    Raises ``ValidationError`` with a Russian message when there is nothing to answer.
    """
    turns = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        role = ConversationTurn.Role.USER
        if _ASSISTANT.match(line):
            role, line = ConversationTurn.Role.ASSISTANT, _ASSISTANT.sub("", line, count=1)
        else:
            line = _MEMBER.sub("", line, count=1)
        if line.strip():
            turns.append({"role": role, "content": line.strip()[:TURN_MAX_CHARS]})
    if len(turns) > TYPED_TURNS_MAX:
        raise ValidationError(f"Не больше {TYPED_TURNS_MAX} реплик.")
    turns = _ending_with_member(turns)
    if not turns:
        raise ValidationError("Нужна хотя бы одна реплика участника: Наташа отвечает на неё.")
    return turns


# --- the comparison (in the worker) -------------------------------------------------------------

def _reply(*, stage: JourneyStage, turns: list[dict], crisis: bool, prompts: dict[str, str] | None) -> dict:
    generated = natasha.sandbox_reply(stage=stage, turns=turns, crisis=crisis, prompts=prompts)
    return {"html": generated.html, "quick_replies": generated.quick_replies, "source": generated.source}


def prompt_sandbox_outcome(task: StaffTask) -> Outcome:
    """Both replies for a queued sandbox run: the saved prompt's, then the draft's."""
    params = task.params
    stage = JourneyStage.objects.get(order=params["stage"])
    if params.get("session_id"):
        turns = sandbox_turns_from_session(session_id=params["session_id"])
    else:
        turns = params.get("turns") or []
    if not turns:
        return Outcome("Разговор не найден (возможно, данные участника удалены). Выберите другой.", messages.ERROR)
    crisis = params["key"] == PersonaPrompt.Key.CRISIS_MODE
    result = {
        "turns": turns,
        "current": _reply(stage=stage, turns=turns, crisis=crisis, prompts=None),
        "draft": _reply(stage=stage, turns=turns, crisis=crisis, prompts={params["key"]: params["draft"]}),
        "llm": llm.llm_enabled(),
    }
    return Outcome("Ответы готовы: текущий промпт и черновик.", messages.SUCCESS, result)


# --- publishing ---------------------------------------------------------------------------------

def persona_prompt_publish(*, key: str, text: str, staff, expected_fingerprint: str | None = None) -> PersonaPrompt:
    """Save ``text`` as the prompt ``key`` with a history version naming ``staff``.

    With ``expected_fingerprint`` (the prompt the draft was compared with) it refuses when
    someone published another text in between, instead of silently overwriting it.
    """
    if errors := check_prompt(text):
        raise ValidationError(errors)
    with transaction.atomic():
        prompt = PersonaPrompt.objects.select_for_update().filter(key=key).first()
        if prompt is None:
            prompt = PersonaPrompt(key=key, text=text)
        elif expected_fingerprint and prompt_fingerprint(prompt.text) != expected_fingerprint:
            raise ValidationError("Промпт уже изменили после сравнения: запустите сравнение заново.")
        prompt.text = text
        prompt._history_user = staff  # simple-history records who published
        prompt._change_reason = "опубликовано из песочницы"
        prompt.save()
    return prompt
