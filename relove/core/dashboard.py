"""The admin index as an operations dashboard: what needs staff attention now, and is everything alive.

:func:`dashboard` reads a bounded number of aggregate queries (one per card) and returns plain
data the template and the live-refresh JSON share. A card is left out when the staff member may
not view the model behind it; every number carries the link to the filtered changelist it counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from . import liveness
from .admin_time import admin_zone, admin_zone_label
from .staff_errors import WORKER_DOWN, capitalized

DANGER, WARN, OK, MUTED = "danger", "warn", "ok", "muted"


@dataclass(frozen=True)
class Metric:
    key: str  # stable id the live refresh updates by
    label: str
    value: int
    href: str
    tone: str = ""  # DANGER/WARN when the number needs attention


@dataclass
class Card:
    key: str
    title: str
    icon: str
    metrics: list[Metric]
    rows: list[dict] = field(default_factory=list)  # broadcasts in progress
    note: str = ""
    tone: str = ""


def _changelist(model_label: str, **params) -> str:
    app_label, model_name = model_label.lower().split(".")
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def _stamp(moment: datetime) -> str:
    """A moment as the admin's filters accept it in a query string (seconds, with the offset)."""
    return timezone.localtime(moment, admin_zone()).replace(microsecond=0).isoformat()


def _may_view(user, model_label: str) -> bool:
    app_label, model_name = model_label.lower().split(".")
    return user.has_perm(f"{app_label}.view_{model_name}") or user.has_perm(f"{app_label}.change_{model_name}")


def _attention(value: int, tone: str) -> str:
    """``tone`` when the number is not zero: only a count that needs someone is coloured."""
    return tone if value else ""


# --- cards -------------------------------------------------------------------------------------

def crisis_card(now: datetime) -> Card:
    from bot.models import CrisisAlert

    counts = CrisisAlert.objects.aggregate(
        new=Count("pk", filter=Q(status=CrisisAlert.Status.NEW)),
        in_progress=Count("pk", filter=Q(status=CrisisAlert.Status.IN_PROGRESS)),
        acute=Count("pk", filter=~Q(status=CrisisAlert.Status.RESOLVED) & Q(acute=True)))
    label = "bot.CrisisAlert"
    metrics = [
        Metric("crisis.new", "Новые, никто не взял", counts["new"],
               _changelist(label, status__exact="new"), _attention(counts["new"], DANGER)),
        Metric("crisis.in_progress", "В работе", counts["in_progress"],
               _changelist(label, status__exact="in_progress"), _attention(counts["in_progress"], WARN)),
        Metric("crisis.acute", "Острая опасность", counts["acute"],
               _changelist(label, acute__exact=1, status__in="new,in_progress"), _attention(counts["acute"], DANGER)),
    ]
    open_alerts = counts["new"] + counts["in_progress"]
    return Card("crisis", "Кризисные сигналы", "emergency", metrics,
                note="Свяжитесь с участниками — новые сигналы ждут ответственного." if counts["new"] else
                ("Открытых сигналов нет." if not open_alerts else ""),
                tone=DANGER if open_alerts else "")


def broadcasts_card(now: datetime, *, worker_alive: bool) -> Card:
    from broadcasts.models import Broadcast, BroadcastDelivery

    sending = list(Broadcast.objects.filter(status=Broadcast.Status.SENDING).order_by("started_at", "pk")
                   .values("pk", "title")[:5])
    by_status: dict[int, dict[str, int]] = {row["pk"]: {} for row in sending}
    for row in (BroadcastDelivery.objects.filter(broadcast_id__in=by_status).values("broadcast_id", "status")
                .annotate(n=Count("pk"))):
        by_status[row["broadcast_id"]][row["status"]] = row["n"]
    scheduled = Broadcast.objects.filter(status=Broadcast.Status.SCHEDULED).count()
    rows = []
    for broadcast in sending:
        counts = by_status[broadcast["pk"]]
        total = sum(counts.values())
        waiting = counts.get("pending", 0) + counts.get("sending", 0)
        failed = sum(counts.get(s, 0) for s in ("failed", "blocked", "unknown"))
        deliveries = _changelist("broadcasts.BroadcastDelivery", broadcast__id__exact=broadcast["pk"])
        rows.append({
            "key": f"broadcast.{broadcast['pk']}", "title": broadcast["title"],
            "href": reverse("admin:broadcasts_broadcast_change", args=[broadcast["pk"]]),
            "sent": counts.get("sent", 0), "failed": failed, "waiting": waiting, "total": total,
            "percent": round(100 * (total - waiting) / total) if total else 0,
            "sent_href": f"{deliveries}&status__exact=sent", "failed_href": f"{deliveries}&status__exact=failed",
            "waiting_href": f"{deliveries}&status__exact=pending",
        })
    label = "broadcasts.Broadcast"
    metrics = [
        Metric("broadcasts.sending", "Отправляются", len(sending), _changelist(label, status__exact="sending")),
        Metric("broadcasts.scheduled", "Запланированы", scheduled, _changelist(label, status__exact="scheduled")),
    ]
    stuck = bool(sending or scheduled) and not worker_alive
    return Card("broadcasts", "Рассылки", "campaign", metrics, rows=rows,
                note=f"{capitalized(WORKER_DOWN)}: рассылки не двигаются." if stuck else "",
                tone=DANGER if stuck else "")


def proactive_card(now: datetime, day_start: datetime, *, with_outbound: bool) -> Card:
    from bot.models import OutboundMessage
    from triggers.models import ProactiveTrigger

    Status = ProactiveTrigger.Status
    counts = ProactiveTrigger.objects.aggregate(
        due=Count("pk", filter=Q(status=Status.PENDING, scheduled_for__lte=now)),
        deferred=Count("pk", filter=Q(status=Status.PENDING, scheduled_for__gt=now)),
        failed=Count("pk", filter=Q(status=Status.FAILED, claimed_at__gte=day_start)))
    label = "triggers.ProactiveTrigger"
    metrics = [
        Metric("proactive.due", "Пора отправить", counts["due"],
               _changelist(label, status__exact="pending", scheduled_for__lte=_stamp(now))),
        Metric("proactive.deferred", "Отложены по правилам", counts["deferred"],
               _changelist(label, status__exact="pending", scheduled_for__gt=_stamp(now))),
        Metric("proactive.failed", "Ошибки сегодня", counts["failed"],
               _changelist(label, status__exact="failed", claimed_at__gte=_stamp(day_start)),
               _attention(counts["failed"], DANGER)),
    ]
    if with_outbound:
        failed = OutboundMessage.objects.filter(status=OutboundMessage.Status.FAILED, created_at__gte=day_start).count()
        metrics.append(Metric("outbound.failed", "Служебные сообщения с ошибкой сегодня", failed,
                              _changelist("bot.OutboundMessage", status__exact="failed",
                                          created_at__gte=_stamp(day_start)),
                              _attention(failed, DANGER)))
    return Card("proactive", "Проактивные сообщения", "notifications_active", metrics)


def members_card(now: datetime, day_start: datetime) -> Card:
    from profiles.models import TelegramUser

    week_start = day_start - timedelta(days=6)
    counts = TelegramUser.objects.aggregate(
        today=Count("pk", filter=Q(last_activity_at__gte=day_start)),
        week=Count("pk", filter=Q(last_activity_at__gte=week_start)),
        total=Count("pk"))
    label = "profiles.TelegramUser"
    return Card("members", "Участники", "group", [
        Metric("members.today", "Активны сегодня", counts["today"],
               _changelist(label, last_activity_at__gte=_stamp(day_start))),
        Metric("members.week", "Активны за 7 дней", counts["week"],
               _changelist(label, last_activity_at__gte=_stamp(week_start))),
        Metric("members.total", "Всего", counts["total"], _changelist(label)),
    ])


def replies_card(now: datetime) -> Card:
    from profiles.models import UserInteraction

    since = now - timedelta(hours=1)
    counts = UserInteraction.objects.filter(kind=UserInteraction.Kind.MESSAGE_OUT, created_at__gte=since).aggregate(
        llm=Count("pk", filter=Q(metadata__source="llm")),
        template=Count("pk", filter=Q(metadata__source="template")))
    label = "profiles.UserInteraction"
    base = {"kind__exact": "message_out", "created_at__gte": _stamp(since)}
    mostly_templates = counts["template"] > 0 and counts["template"] >= counts["llm"]
    return Card("replies", "Ответы Наташи за час", "forum", [
        Metric("replies.llm", "Языковая модель", counts["llm"], _changelist(label, **base, source="llm")),
        Metric("replies.template", "Шаблоны вместо модели", counts["template"],
               _changelist(label, **base, source="template"), WARN if mostly_templates else ""),
    ], note="Шаблоны отвечают не реже модели: проверьте языковую модель." if mostly_templates else "")


# --- system status ---------------------------------------------------------------------------

def _ago(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 60:
        return "только что"
    if seconds < 3600:
        return f"{seconds // 60} мин назад"
    if seconds < 86400:
        return f"{seconds // 3600} ч назад"
    return f"{seconds // 86400} дн назад"


def _status_row(state: liveness.State, *, needed: bool) -> dict:
    if state.seen_at is None:
        tone, text = (MUTED, "нет данных" if needed else "не требуется")
    elif state.alive:
        tone, text = OK, "работает"
    elif not state.ok:
        tone, text = DANGER, "ошибка"
    else:
        tone, text = DANGER, "молчит"
    return {"key": f"status.{state.name}", "title": state.title, "tone": tone, "text": text,
            "seen": _ago(state.age) if state.age is not None else "",
            "seen_at": date_format(timezone.localtime(state.seen_at, admin_zone()), "d.m H:i") if state.seen_at else "",
            "detail": state.detail}


def system_status() -> list[dict]:
    states = liveness.snapshot()
    eager = not liveness.worker_required()
    rows = []
    for name, state in states.items():
        needed = not (eager and name in (liveness.WORKER, liveness.BEAT))
        rows.append(_status_row(state, needed=needed))
    return rows


# --- the whole page ----------------------------------------------------------------------------

def dashboard(user, *, now: datetime | None = None) -> dict:
    """Every card this staff member may see, and the system status (a bounded number of queries)."""
    now = now or timezone.now()
    day_start = timezone.localtime(now, admin_zone()).replace(hour=0, minute=0, second=0, microsecond=0)
    status = system_status()
    worker_alive = not liveness.worker_required() or any(
        row["key"] == f"status.{liveness.WORKER}" and row["tone"] == OK for row in status)
    cards = []
    if _may_view(user, "bot.CrisisAlert"):
        cards.append(crisis_card(now))
    if _may_view(user, "broadcasts.Broadcast"):
        cards.append(broadcasts_card(now, worker_alive=worker_alive))
    if _may_view(user, "triggers.ProactiveTrigger"):
        cards.append(proactive_card(now, day_start, with_outbound=_may_view(user, "bot.OutboundMessage")))
    if _may_view(user, "profiles.TelegramUser"):
        cards.append(members_card(now, day_start))
    if _may_view(user, "profiles.UserInteraction"):
        cards.append(replies_card(now))
    return {"cards": cards, "status": status, "summary": status_summary(status),
            "generated_at": timezone.localtime(now, admin_zone()), "zone": admin_zone_label(),
            "worker_alive": worker_alive}


def status_summary(status: list[dict]) -> dict:
    """One line for the top of the page: what is down, or that all is well."""
    down = [row["title"] for row in status if row["tone"] == DANGER]
    if down:
        return {"tone": DANGER, "text": "Не работает: " + ", ".join(down)}
    if any(row["tone"] == OK for row in status):
        return {"tone": OK, "text": "Система работает"}
    return {"tone": MUTED, "text": "Сигналов от компонентов ещё не было"}


def metrics_of(data: dict) -> dict[str, int]:
    """The flat ``key → number`` view of a dashboard (the live refresh and tests read it)."""
    values = {metric.key: metric.value for card in data["cards"] for metric in card.metrics}
    for card in data["cards"]:
        for row in card.rows:
            values[f"{row['key']}.sent"] = row["sent"]
            values[f"{row['key']}.total"] = row["total"]
    return values
