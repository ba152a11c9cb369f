"""Message Orchestrator: the one entry point for every incoming text, command and button.

Telegram handlers (polling and webhook), the terminal chat and the tests all call
``handle``; it returns the messages to send, in order. Every member turn and Natasha's reply
are stored before the messages are returned, so nothing said is lost if sending fails.
"""

from __future__ import annotations

import enum
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.utils import timezone

from bot import hooks
from bot.models import UserSession
from bot.safety import gate
from bot.timezones import parse_timezone
from bot.ui import (
    MENU_PAUSE,
    MENU_PROFILE,
    MENU_RESUME,
    MENU_SESSION,
    MENU_STREAMS,
    Button,
    OutgoingMessage,
    callback,
    escape,
    light_shadow_scale,
    menu_keyboard,
    progress_bar,
    split_message,
)
from journeys import selectors as journey_selectors
from journeys.services import (
    CONVERSATION,
    journey_announcement_claim,
    stage_get,
    stream_click_in_conversation,
    stream_enroll,
    stream_link,
    stream_offer_claim,
)
from journeys.tasks import analyse_member_later
from profiles import selectors as profile_selectors
from profiles import services as member_services
from profiles.models import TelegramUser, UserActivityLog, UserInteraction
from profiles.zones import default_zone_name
from relove import llm
from relove.core.precompiled import execute_together

from . import members, natasha, safety, sessions
from .flood import Flood, flood_check
from .natasha import Generated, template_html

logger = logging.getLogger(__name__)

MEMBER_TEXT_MAX = 4000  # longer messages are answered, with the excess trimmed before storing
AWAIT_TZ_SECONDS = 600


class Kind(enum.StrEnum):
    TEXT = "text"
    COMMAND = "command"
    CALLBACK = "callback"
    NON_TEXT = "non_text"
    EDITED = "edited"


@dataclass
class Incoming:
    identity: members.TelegramIdentity
    kind: Kind
    text: str = ""
    command: str = ""
    callback_data: str = ""


def _msg(html: str, **kwargs) -> OutgoingMessage:
    return OutgoingMessage(text=html, **kwargs)


def _with_menu(user: TelegramUser, html: str) -> OutgoingMessage:
    return _msg(html, reply_keyboard=menu_keyboard(paused=user.is_paused))


Reply = list[OutgoingMessage]


def handle(incoming: Incoming) -> Reply:
    """Answer one update. Never raises for bad input; unexpected errors go to the caller's handler.

    The synchronous entry point (terminal chat, tests): waits for the LLM in this thread.
    """
    return llm.run_steps(handle_steps(incoming))


async def handle_async(incoming: Incoming, *, run_db: Callable) -> Reply:
    """``handle`` for the bot's event loop: database work through ``run_db`` (a bounded thread
    pool), the LLM awaited on the loop, so a slow LLM holds no thread and no connection."""
    return await llm.run_steps_async(handle_steps(incoming), run_db)


def _steps(result):
    """Actions may answer at once (a list) or need the LLM (steps); treat both as steps."""
    if inspect.isgenerator(result):
        return (yield from result)
    return result


def handle_steps(incoming: Incoming) -> llm.Steps[Reply]:
    """``handle`` as steps: every LLM call is yielded (see ``relove.llm.run_steps``)."""
    user = members.member_sync(identity=incoming.identity)
    if incoming.kind is Kind.EDITED:
        return [_msg(template_html("edited"))]
    if incoming.kind is Kind.NON_TEXT:
        return [_msg(template_html("non_text"))]

    flood = flood_check(user_id=user.pk)  # typed text, commands and button presses alike
    if flood is not Flood.OK:
        # Kept, not answered: the excess never reaches the LLM. The offline gate still reads it,
        # so a crisis message is never lost in a flood.
        verdict = gate.offline_verdict(incoming.text) if incoming.kind is Kind.TEXT and user.consent_at else None
        if verdict is not None and verdict.risk:
            return _crisis_turn(user, incoming.text[:MEMBER_TEXT_MAX], gate.from_offline(verdict))
        if incoming.kind is not Kind.CALLBACK:
            members.member_log(user=user, kind=UserActivityLog.Kind.MESSAGE_IN,
                               content=incoming.text[:MEMBER_TEXT_MAX])
        return [_msg(template_html("flood"))] if flood is Flood.FIRST_OVER else []
    if incoming.kind is Kind.CALLBACK:
        return (yield from _handle_callback(user, incoming.callback_data))
    if incoming.kind is Kind.COMMAND and (staff_command := hooks.command(incoming.command)):
        return [_msg(staff_command(telegram_id=incoming.identity.telegram_id, args=incoming.text.split()[1:]))]
    if incoming.kind is Kind.COMMAND:
        return (yield from _handle_command(user, incoming.command))
    text = incoming.text.strip()
    if not text:
        return [_msg(template_html("non_text"))]
    menu = MENU_ACTIONS.get(text)
    if menu:
        members.member_log(user=user, kind=UserActivityLog.Kind.BUTTON, interaction=UserInteraction.Kind.BUTTON,
                           metadata={"menu": menu.__name__})
        return menu(user)
    if cache.get(_await_tz_key(user)):
        return _set_timezone(user, text)
    return (yield from converse(user, text))


# --- conversation ------------------------------------------------------------------------

def converse(user: TelegramUser, text: str, *, pressed: member_services.LogEntry | None = None) -> llm.Steps[Reply]:
    """One conversational turn: consent gate → safety gate → stage → Natasha → store → decorate.

    The offline detector reads the whole message first; on risk no LLM is called. Otherwise
    Natasha's structured reply carries the LLM's risk judgement, and on risk the reply is
    discarded for the support reply. A member in crisis never receives a persona reply.
    Steps: the member's turn is stored before the LLM call is yielded and the reply after it,
    with no transaction open in between.
    """
    if not user.consent_at:
        if members.is_consent(text):
            return _give_consent(user)
        return [_consent_request(user, template_html("consent_needed"))]
    offline = gate.offline_verdict(text)  # the whole text: risk at the end of a long message counts
    session, said = _store_member_turn(user, text[:MEMBER_TEXT_MAX], pressed=pressed)
    if offline is not None and offline.risk:
        return _crisis_reply(user, session, text[:MEMBER_TEXT_MAX], gate.from_offline(offline), said=said)
    stage = stage_get(user.journey_stage)
    generated = yield from natasha.reply_steps(user=user, session=session, stage=stage)
    decision = gate.decide(offline=offline, llm_risk=generated.risk if generated.source == "llm" else None)
    if decision.crisis:
        return _crisis_reply(user, session, text[:MEMBER_TEXT_MAX], decision, said=said)
    if decision.unchecked:
        generated = natasha.gentle_reply(history=natasha.context_turns(session))
    answer = _stage_change_news(user, session) + _answer(user, session, generated, said=said)
    if not user.crisis_flag:  # no stage analysis of a member in crisis
        analyse_member_later(user.pk)  # stage analysis via Celery on commit, off the reply path
    return answer


@dataclass(frozen=True)
class Said:
    """What the member's turn still has to record, written in one transaction with the reply."""

    at: datetime
    entries: list[member_services.LogEntry]


def _store_member_turn(user: TelegramUser, text: str, *, pressed: member_services.LogEntry | None = None,
                       ) -> tuple[UserSession, Said]:
    """Store the member's turn now (one statement on PostgreSQL, see ``session_append``).

    Its log entries (``pressed``: the quick reply that said it) and the member's message count,
    all stamped now, are written with the reply (``_answer``): a turn commits twice, and inserts
    once into each log table.
    """
    now = timezone.now()
    session = sessions.session_get_active(user=user, with_stage_news=True)
    session = sessions.session_append(session=session, turns=[sessions.Turn("user", text)], now=now)
    said = Said(now, [*([pressed] if pressed else []), member_services.LogEntry(
        UserActivityLog.Kind.MESSAGE_IN, text, UserInteraction.Kind.MESSAGE_IN, {"session_id": session.pk}, at=now)])
    hooks.member_message_stored(user=user, at=now)
    return session, said


def _stage_change_news(user: TelegramUser, session: UserSession | None = None) -> list[OutgoingMessage]:
    """A stage change the member has not seen yet goes in front of this reply (once: it is claimed).

    A session read ``with_stage_news`` already knows whether there is one to claim."""
    if session is not None and getattr(session, "stage_news", True) is False:
        return []
    change = journey_announcement_claim(user_id=user.pk)
    if change is None:
        return []
    return [_msg(template_html("stage_changed", stage=change.stage.name,
                               trusted={"progress": progress_bar(change.stage.order)}))]


def _answer(user: TelegramUser, session: UserSession, generated: Generated, *,
            said: Said | None = None) -> list[OutgoingMessage]:
    """Store Natasha's reply and log it, with what the member's turn left to record (``said``), all
    or nothing (``execute_together``): on PostgreSQL one round trip and one commit (a disk flush)
    for the turn row, both log tables and the member's count."""
    now = timezone.now()
    reply = member_services.LogEntry(UserActivityLog.Kind.MESSAGE_OUT, generated.plain,
                                     UserInteraction.Kind.MESSAGE_OUT,
                                     {"source": generated.source, "session_id": session.pk}, at=now)
    turn = sessions.Turn("assistant", generated.plain, generated.quick_replies)
    results = execute_together([
        *sessions.append_statements(session=session, turns=[turn], now=now),
        *member_services.log_statements(user=user, entries=[*(said.entries if said else ()), reply]),
        member_services.record_message_statement(user=user, at=said.at) if said else None,
        sessions.contradiction_statement(session=session, now=now) if generated.raised_contradiction else None])
    session = sessions.appended(session, results, now)
    parts = decorate(generated, turn_index=session.message_count - 1)
    if generated.offer is not None and stream_offer_claim(user=user, stream=generated.offer, session_id=session.pk):
        parts[-1].buttons.append(_stream_offer_buttons(generated.offer.pk))
    return parts


def _stream_offer_buttons(stream_id: int) -> list[Button]:
    """The invitation Natasha made in her reply (R2/R8); presses are attributed to the conversation."""
    return [Button("Узнать о потоке", callback_data=callback("cv", "i", stream_id)),
            Button("🔥 Начать поток", callback_data=callback("cv", "s", stream_id))]


def decorate(generated: Generated, *, turn_index: int) -> list[OutgoingMessage]:
    """Split long text into messages and put the quick replies under the last one."""
    parts = [_msg(part) for part in split_message(generated.html)] or [_msg("…")]
    if generated.quick_replies:
        parts[-1].buttons = [[Button(text, callback_data=callback("q", turn_index, i))]
                             for i, text in enumerate(generated.quick_replies)]
    return parts


def _crisis_reply(user: TelegramUser, session: UserSession, text: str, decision: gate.Decision, *,
                  said: Said | None = None) -> list[OutgoingMessage]:
    """The support reply instead of anything from the persona: helplines on the first signal,
    when acute, or when the last helplines are older than CRISIS_HELPLINES_EVERY_MINUTES."""
    try:
        helplines = safety.crisis_signal(user=user, text=text, decision=decision).helplines
    except Exception as exc:  # noqa: BLE001 — the member's support reply never depends on the workflow
        # (e.g. the broker is down when the staff alert is enqueued after commit: the alert row is
        # saved and the re-alert task pages staff later). Type only: no member data in the log.
        logger.error("crisis workflow failed for member %s (%s); helplines sent anyway", user.pk,
                     type(exc).__name__)
        helplines = True
    if helplines:
        html = template_html("crisis_support", trusted={"contacts": safety.contacts_text()})
    else:
        html = template_html("crisis_followup")
    generated = Generated(html=html, plain=html, source="safety")
    return _answer(user, session, generated, said=said)


def _crisis_turn(user: TelegramUser, text: str, decision: gate.Decision) -> list[OutgoingMessage]:
    session, said = _store_member_turn(user, text)
    return _crisis_reply(user, session, text, decision, said=said)


# --- consent -----------------------------------------------------------------------------

def _consent_request(user: TelegramUser, html: str) -> OutgoingMessage:
    return _msg(html, buttons=[[Button("✅ Согласен(на), начнём", callback_data=callback("c", "y"))],
                               [Button("Не сейчас", callback_data=callback("c", "n"))]])


def _give_consent(user: TelegramUser) -> list[OutgoingMessage]:
    members.member_give_consent(user=user)
    user.refresh_from_db()
    stage = stage_get(user.journey_stage)
    session = sessions.session_get_active(user=user)
    out = [_with_menu(user, template_html("consent_given"))]
    return out + _answer(user, session, natasha.first_question(stage=stage))


# --- commands ----------------------------------------------------------------------------

def _handle_command(user: TelegramUser, command: str) -> llm.Steps[Reply]:
    members.member_log(user=user, kind=UserActivityLog.Kind.COMMAND, content=f"/{command}",
                       interaction=UserInteraction.Kind.COMMAND, metadata={"command": command})
    action = COMMANDS.get(command)
    if action is None:
        return [_msg(template_html("help"))]
    if command not in ("start", "help", "forget") and not user.consent_at:
        return [_consent_request(user, template_html("consent_needed"))]
    return (yield from _steps(action(user)))


def _start(user: TelegramUser) -> llm.Steps[Reply]:
    if user.consent_at:
        member_services.member_update_settings(user=user, is_paused=False)
        session = sessions.session_get_active(user=user)
        out = [_with_menu(user, template_html("resumed"))]
        generated = yield from natasha.reply_steps(user=user, session=session, stage=stage_get(user.journey_stage))
        return out + _answer(user, session, generated)
    return [_consent_request(user, template_html("greeting"))]


def _help(user):
    return [_with_menu(user, template_html("help"))] if user.consent_at else [_msg(template_html("help"))]


def _progress(user: TelegramUser) -> list[OutgoingMessage]:
    stage = stage_get(user.journey_stage)
    within = journey_selectors.stage_progress(user=user)
    html = (f"<b>Твой путь героя</b>\n{progress_bar(stage.order)}\n\n"
            f"Сейчас: <b>{escape(stage.name)}</b>\n{escape(stage.description)}\n\n"
            f"Пройдено на этапе: {within['percent']}%")
    if within["insights"] or within["breakthroughs"]:
        html += f" (инсайтов: {within['insights']}, прорывов: {within['breakthroughs']}) ✨"
    return [_msg(html)]


def _streams(user: TelegramUser) -> list[OutgoingMessage]:
    streams = journey_selectors.streams_for_member(user=user)
    if not streams:
        return [_msg(template_html("streams_empty"))]
    out = [_msg(template_html("streams_header"))]
    for stream in streams:
        when = f"\nСтарт: {stream.starts_at:%d.%m.%Y}" if stream.starts_at else ""
        link = stream_link(user=user, stream=stream)
        out.append(_msg(f"<b>{escape(stream.title)}</b>\n{escape(stream.description)}{escape(when)}",
                        buttons=[[Button("🔥 Начать поток", callback_data=callback("st", stream.pk))],
                                 [Button("Подробнее на relove.ru", url=link)]]))
    return out


def _session_status(user: TelegramUser) -> list[OutgoingMessage]:
    session = sessions.session_get_active(user=user)
    stage = stage_get(user.journey_stage)
    html = template_html("session_status", started=timezone.localtime(session.started_at).strftime("%d.%m %H:%M"),
                         messages=session.message_count, stage=stage.name)
    return [_msg(f"{html}\n{progress_bar(stage.order)}")]


def _profile(user: TelegramUser) -> list[OutgoingMessage]:
    profile = profile_selectors.profile_latest(user=user)
    if profile is None:
        return [_msg(template_html("profile_empty"))]
    data = profile.data or {}
    lines = [f"<b>Твой профиль</b> (версия {profile.version})", escape(profile.summary)]
    for key, title in (("traits", "Черты"), ("interests", "Интересы"), ("goals", "Цели")):
        values = [escape(str(v)) for v in data.get(key, [])][:5]
        if values:
            lines.append(f"<b>{title}:</b> {', '.join(values)}")
    lines.append(f"\nСвет и тень:\n{light_shadow_scale(profile.light_shadow_balance)}")
    return [_msg("\n".join(lines))]


def _pause(user: TelegramUser) -> list[OutgoingMessage]:
    member_services.member_update_settings(user=user, is_paused=True)
    return [_msg(template_html("paused"), reply_keyboard=menu_keyboard(paused=True))]


def _resume(user: TelegramUser) -> list[OutgoingMessage]:
    member_services.member_update_settings(user=user, is_paused=False)
    session = sessions.session_get_active(user=user)
    recap = ""
    last = sessions.session_last_turn(session=session, role="assistant")
    if last:
        recap = f"\n\nМы остановились на этом:\n<i>{escape(last['content'][:500])}</i>"
    return [_msg(template_html("resumed") + recap, reply_keyboard=menu_keyboard(paused=False))]


def _end(user: TelegramUser) -> list[OutgoingMessage]:
    sessions.session_end_for(user=user, reason=UserSession.EndReason.COMMAND)
    return [_msg(template_html("session_ended"))]


def _stop(user: TelegramUser) -> list[OutgoingMessage]:
    member_services.member_update_settings(user=user, proactive_enabled=False)
    return [_msg(template_html("proactive_off"))]


def _settings(user: TelegramUser) -> list[OutgoingMessage]:
    html = template_html("settings", timezone=user.timezone or f"по умолчанию ({default_zone_name()})",
                         proactive="включены" if user.proactive_enabled else "выключены")
    toggle = (Button("🔕 Не писать первой", callback_data=callback("set", "pro", 0)) if user.proactive_enabled
              else Button("🔔 Писать первой", callback_data=callback("set", "pro", 1)))
    return [_msg(html, buttons=[[Button("🕐 Сменить часовой пояс", callback_data=callback("set", "tz"))],
                                [toggle]])]


def _export(user: TelegramUser) -> list[OutgoingMessage]:
    return [_msg(template_html("export_ready"), document=("relove-my-data.json", members.member_export(user=user)))]


def _forget(user: TelegramUser) -> list[OutgoingMessage]:
    return [_msg(template_html("forget_confirm"),
                 buttons=[[Button("🗑 Да, удалить всё", callback_data=callback("fg", "y"))],
                          [Button("Нет, оставить", callback_data=callback("fg", "n"))]])]


COMMANDS = {"start": _start, "help": _help, "progress": _progress, "streams": _streams, "settings": _settings,
            "end": _end, "pause": _pause, "resume": _resume, "stop": _stop, "export": _export, "forget": _forget,
            "profile": _profile, "session": _session_status}
MENU_ACTIONS = {MENU_SESSION: _session_status, MENU_PROFILE: _profile, MENU_STREAMS: _streams,
                MENU_PAUSE: _pause, MENU_RESUME: _resume}


# --- settings input ----------------------------------------------------------------------

def _await_tz_key(user: TelegramUser) -> str:
    return f"await_tz:{user.pk}"


def _set_timezone(user: TelegramUser, text: str) -> list[OutgoingMessage]:
    zone = parse_timezone(text)
    if zone is None:
        return [_msg(template_html("timezone_unknown"))]
    cache.delete(_await_tz_key(user))
    member_services.member_update_settings(user=user, timezone=zone)
    return [_msg(template_html("timezone_set", timezone=zone))]


# --- buttons -----------------------------------------------------------------------------

def _handle_callback(user: TelegramUser, data: str) -> llm.Steps[Reply]:
    parts = (data or "").split(":")
    head, args = parts[0], parts[1:]
    pressed = member_services.LogEntry(UserActivityLog.Kind.BUTTON, interaction=UserInteraction.Kind.BUTTON,
                                       metadata={"button": head}, at=timezone.now())
    if head == "q" and len(args) == 2 and user.consent_at:
        text = _quick_reply_text(user, args[0], args[1])
        if text:  # the press is logged with the turn it starts
            return (yield from converse(user, text, pressed=pressed))
    member_services.member_log_many(user=user, entries=[pressed])
    if head == "c" and args in (["y"], ["n"]):
        if args == ["y"]:
            if user.consent_at:
                return [_with_menu(user, template_html("resumed"))]
            return _give_consent(user)
        return [_msg(template_html("consent_declined"))]
    if not user.consent_at:
        return [_consent_request(user, template_html("consent_needed"))]
    if head == "st" and len(args) == 1 and args[0].isdigit():
        return _start_stream(user, int(args[0]))
    elif head == "cv" and len(args) == 2 and args[0] in ("i", "s") and args[1].isdigit():
        return _conversation_stream(user, action=args[0], stream_id=int(args[1]))
    elif head == "set" and args == ["tz"]:
        cache.set(_await_tz_key(user), 1, AWAIT_TZ_SECONDS)
        return [_msg("Напиши свой город или смещение от UTC, например «Екатеринбург» или «UTC+5».")]
    elif head == "set" and len(args) == 2 and args[0] == "pro" and args[1] in ("0", "1"):
        member_services.member_update_settings(user=user, proactive_enabled=args[1] == "1")
        return [_msg(template_html("proactive_on" if args[1] == "1" else "proactive_off"))]
    elif resolver := hooks.quick_reply_source(head):
        text = resolver(user=user, data=data)
        if text:
            return (yield from converse(user, text))
    elif head == "fg" and args in (["y"], ["n"]):
        if args == ["y"]:
            members.member_forget(user=user)
            return [_msg(template_html("forget_done"))]
        return [_msg(template_html("forget_cancelled"))]
    return [_msg(template_html("unknown_button"))]


def _quick_reply_text(user: TelegramUser, turn: str, index: str) -> str | None:
    """The text of a pressed quick reply, looked up in the stored turn that offered it."""
    if not (turn.isdigit() and index.isdigit()):
        return None
    stored = sessions.session_latest_turn(user=user, position=int(turn))
    if stored is None:
        return None
    i = int(index)
    replies = stored.get("qr") or []
    return replies[i] if i < len(replies) else None


def _conversation_stream(user: TelegramUser, *, action: str, stream_id: int) -> list[OutgoingMessage]:
    """A press on the stream buttons under Natasha's reply: the stream's card or enrolment."""
    if user.crisis_flag:  # an invitation from before the crisis: no streams in gentle mode
        return [_msg(template_html("crisis_no_tasks"))]
    stream = journey_selectors.stream_active(stream_id=stream_id)
    if stream is None:
        return [_msg(template_html("unknown_button"))]
    stream_click_in_conversation(user=user, stream=stream, action="about" if action == "i" else "start")
    if action == "s":
        return _start_stream(user, stream_id, source=CONVERSATION)
    when = f"\nСтарт: {stream.starts_at:%d.%m.%Y}" if stream.starts_at else ""
    return [_msg(f"<b>{escape(stream.title)}</b>\n{escape(stream.description)}{escape(when)}",
                 buttons=[[Button("🔥 Начать поток", callback_data=callback("cv", "s", stream.pk))],
                          [Button("Подробнее на relove.ru", url=stream_link(user=user, stream=stream))]])]


def _start_stream(user: TelegramUser, stream_id: int, *, source: str = "") -> list[OutgoingMessage]:
    if user.crisis_flag:  # gentle mode: no exercises or challenges until staff resolve the alert
        return [_msg(template_html("crisis_no_tasks"))]
    stream = journey_selectors.stream_active(stream_id=stream_id)
    if stream is None:
        return [_msg(template_html("unknown_button"))]
    _, created = stream_enroll(user=user, stream=stream, source=source)
    step = journey_selectors.stream_first_step(stream=stream)
    intro = (f"Ты в потоке <b>{escape(stream.title)}</b> 🔥" if created
             else f"Ты уже в потоке <b>{escape(stream.title)}</b>.")
    if step is None:
        return [_msg(intro)]
    session = sessions.session_get_active(user=user)
    generated = Generated(html=f"{intro}\n\nПервое задание:\n{escape(step.text)}",
                          plain=f"Первое задание потока «{stream.title}»: {step.text}",
                          quick_replies=natasha.clean_quick_replies(step.quick_replies) or ["Сделал(а)", "Трудно"],
                          source="stream")
    return _answer(user, session, generated)
