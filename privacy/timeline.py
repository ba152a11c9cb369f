"""One chat-like timeline of a member across every session and every app.

Member messages and Natasha's replies (conversation turns, proactive ones included), proactive
triggers, broadcasts received, the bot's other messages to the member, stage changes, crisis
alerts and staff actions (flag changes, hand-set stages), newest page first and oldest first
within a page. It quotes the member's words: the admin shows it only to staff with the
conversation permission (``relove.core.access.CONVERSATION``).

Lives beside erasure and export because, like them, it reads a member's rows in every app.
"""

from __future__ import annotations

import heapq
import html
import re
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from bot.models import ConversationTurn, CrisisAlert, MemberFlagChange, OutboundMessage
from broadcasts.models import BroadcastDelivery
from journeys.models import JourneyProgress
from profiles.models import TelegramUser
from triggers.models import ProactiveTrigger

PAGE_SIZE = 50


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    side: str  # "member" (left bubble), "natasha" (right bubble) or "event" (centred line)
    kind: str  # a css/filter key: message, reply, proactive, broadcast, outbound, stage, crisis, staff
    title: str
    text: str = ""
    staff: str = ""


@dataclass(frozen=True)
class TimelinePage:
    items: list[TimelineItem]  # oldest first
    number: int
    has_older: bool
    has_newer: bool


def _plain(telegram_html: str) -> str:
    """Telegram HTML as the member reads it (tags dropped, entities decoded); escaped again on the page."""
    return html.unescape(re.sub(r"<[^>]+>", "", telegram_html))


def _staff_name(user) -> str:
    return user.get_username() if user is not None else ""


def _turns(member: TelegramUser, limit: int):
    rows = (ConversationTurn.objects.filter(session__user=member)
            .order_by("-created_at", "-position").only("role", "kind", "content", "created_at")[:limit])
    for t in rows:
        if t.role == ConversationTurn.Role.USER:
            yield TimelineItem(t.created_at, "member", "message", "Участник", t.content)
        elif t.kind == "proactive":
            yield TimelineItem(t.created_at, "natasha", "proactive", "Наташа · написала первой", t.content)
        else:
            yield TimelineItem(t.created_at, "natasha", "reply", "Наташа", t.content)


def _triggers(member: TelegramUser, limit: int):
    shown = [ProactiveTrigger.Status.SENT, ProactiveTrigger.Status.FAILED]
    rows = (ProactiveTrigger.objects.filter(user=member, status__in=shown, sent_at__isnull=False)
            .order_by("-sent_at")[:limit])
    for t in rows:
        answered = " · ответил(а)" if t.answered_at else ""
        yield TimelineItem(t.sent_at, "event", "proactive",
                           f"Проактивное: {t.get_kind_display()} — {t.get_status_display()}{answered}")


def _failed_triggers(member: TelegramUser, limit: int):
    rows = (ProactiveTrigger.objects.filter(user=member, status=ProactiveTrigger.Status.FAILED,
                                            sent_at__isnull=True).order_by("-scheduled_for")[:limit])
    for t in rows:
        yield TimelineItem(t.scheduled_for, "event", "proactive",
                           f"Проактивное не доставлено: {t.get_kind_display()}", t.last_error)


def _broadcasts(member: TelegramUser, limit: int):
    rows = (BroadcastDelivery.objects.filter(user=member, status=BroadcastDelivery.Status.SENT, sent_at__isnull=False)
            .select_related("broadcast").order_by("-sent_at")[:limit])
    for d in rows:
        yield TimelineItem(d.sent_at, "natasha", "broadcast", f"Рассылка «{d.broadcast.title}»",
                           _plain(d.broadcast.text))


def _outbound(member: TelegramUser, limit: int):
    rows = (OutboundMessage.objects.filter(user=member, status=OutboundMessage.Status.SENT, sent_at__isnull=False)
            .order_by("-sent_at")[:limit])
    for m in rows:
        yield TimelineItem(m.sent_at, "natasha", "outbound", f"Сообщение бота · {m.kind}", m.text)


def _stages(member: TelegramUser, limit: int):
    rows = (JourneyProgress.objects.filter(user=member).select_related("stage", "previous_stage", "changed_by")
            .defer("evidence").order_by("-created_at", "-id")[:limit])
    for p in rows:
        before = f"{p.previous_stage} → " if p.previous_stage else ""
        by_staff = p.source == JourneyProgress.Source.STAFF
        yield TimelineItem(p.created_at, "event", "staff" if by_staff else "stage",
                           f"Этап: {before}{p.stage} ({p.get_source_display()})", p.reason,
                           staff=_staff_name(p.changed_by))


def _crises(member: TelegramUser, limit: int):
    rows = (CrisisAlert.objects.filter(user=member).select_related("resolved_by").defer("evidence")
            .order_by("-created_at")[:limit])
    for a in rows:
        acute = " · острая опасность" if a.acute else ""
        yield TimelineItem(a.created_at, "event", "crisis", f"Кризисный сигнал{acute} (сигналов: {a.signals})",
                           a.excerpt)
        if a.resolved_at:
            yield TimelineItem(a.resolved_at, "event", "crisis", "Кризисный сигнал разобран",
                               staff=_staff_name(a.resolved_by))


def _flag_changes(member: TelegramUser, limit: int):
    rows = MemberFlagChange.objects.filter(user=member).select_related("staff").order_by("-created_at", "-id")[:limit]
    for c in rows:
        value = "да" if c.value else "нет"
        yield TimelineItem(c.created_at, "event", "staff", f"{c.get_field_display().capitalize()}: {value}",
                           c.reason, staff=_staff_name(c.staff))


SOURCES = (_turns, _triggers, _failed_triggers, _broadcasts, _outbound, _stages, _crises, _flag_changes)


def member_timeline(*, member: TelegramUser, page: int = 1, page_size: int = PAGE_SIZE) -> TimelinePage:
    """Page ``page`` (1 = the newest) of the member's timeline, oldest first within the page.

    Each source reads at most ``page * page_size + 1`` of its newest rows (indexed by member
    and time), and the sorted streams are merged lazily, so a page costs one query per source.
    """
    page = max(1, page)
    need = page * page_size + 1
    streams = [sorted(source(member, need), key=lambda i: i.at, reverse=True) for source in SOURCES]
    newest_first = list(islice(heapq.merge(*streams, key=lambda i: i.at, reverse=True), need))
    chunk = newest_first[(page - 1) * page_size:page * page_size]
    return TimelinePage(items=list(reversed(chunk)), number=page,
                        has_older=len(newest_first) > page * page_size, has_newer=page > 1)

