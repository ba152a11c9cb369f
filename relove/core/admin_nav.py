"""The admin sidebar, organised by the jobs staff do rather than by Django app.

django-unfold calls :func:`sidebar` on every admin page (``UNFOLD["SIDEBAR"]["navigation"]``).
Each entry names a model (or a URL name and the permission it needs); entries the staff member
cannot view are left out, and a group with nothing left is not shown at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from . import access


@dataclass(frozen=True)
class Entry:
    title: str
    icon: str
    model: str = ""  # "app_label.ModelName": links to its changelist, needs its view permission
    url_name: str = ""  # or a named URL ...
    permission: str = ""  # ... guarded by this permission ("" = any staff member)
    query: str = ""  # appended to the link, e.g. "?status__exact=new"
    badge: str = ""  # dotted path to a callable(request) -> int; shown in red when not zero


@dataclass(frozen=True)
class Group:
    title: str
    entries: tuple[Entry, ...]
    collapsible: bool = False


NAVIGATION: tuple[Group, ...] = (
    Group("", (Entry("Обзор", "dashboard", url_name="admin:index"),)),
    Group("Участники", (
        Entry("Участники", "group", model="profiles.TelegramUser"),
        Entry("История этапов", "timeline", model="journeys.JourneyProgress"),
        Entry("Наблюдения", "psychology", model="journeys.JourneyInsight"),
        Entry("Психологические профили", "neurology", model="profiles.PsychologicalProfile"),
        Entry("Метки", "sell", model="profiles.MemberTag"),
        Entry("Удаления данных", "delete_forever", model="privacy.ErasureRecord"),
    )),
    Group("Разговоры", (
        Entry("Сессии", "forum", model="bot.UserSession"),
        Entry("Журнал активности", "history", model="profiles.UserActivityLog"),
        Entry("Взаимодействия", "touch_app", model="profiles.UserInteraction"),
        Entry("Исходящие сообщения", "outbox", model="bot.OutboundMessage"),
    )),
    Group("Кризисы", (
        Entry("Кризисные сигналы", "emergency", model="bot.CrisisAlert",
              badge="relove.core.admin_nav.open_crisis_badge"),
        Entry("Контакты помощи", "support_agent", model="bot.CrisisContact"),
        Entry("Изменения флагов", "flag", model="bot.MemberFlagChange"),
    )),
    Group("Рассылки", (
        Entry("Рассылки", "campaign", model="broadcasts.Broadcast"),
        Entry("Сегменты", "group_work", model="broadcasts.SavedSegment"),
        Entry("Доставки", "mark_email_read", model="broadcasts.BroadcastDelivery"),
        Entry("Telegram сотрудников", "badge", model="broadcasts.StaffTelegramAccount"),
    )),
    Group("Проактивность", (
        Entry("Настройки", "tune", model="triggers.ProactivityConfig"),
        Entry("Триггеры", "notifications_active", model="triggers.ProactiveTrigger"),
    )),
    Group("Наташа", (
        Entry("Промпты", "edit_note", model="bot.PersonaPrompt"),
        Entry("Шаблоны сообщений", "article", model="bot.MessageTemplate"),
        Entry("Этапы пути", "route", model="journeys.JourneyStage"),
        Entry("Потоки", "stream", model="journeys.Stream"),
        Entry("Записи на потоки", "how_to_reg", model="journeys.StreamEnrollment"),
        Entry("Шаги программы", "checklist", model="journeys.StreamStepDelivery"),
    )),
    Group("Аналитика", (
        Entry("Аналитика", "monitoring", url_name="analytics-dashboard", permission=access.ANALYTICS),
    )),
    Group("Система", (
        Entry("Пользователи", "person", model="auth.User"),
        Entry("Группы", "groups", model="auth.Group"),
        Entry("Фоновые действия", "pending_actions", model="core.StaffTask"),
        Entry("Сбои фоновых задач", "error", model="bot.OperationalFailure"),
        Entry("Периодические задачи", "schedule", model="django_celery_beat.PeriodicTask"),
        Entry("Интервалы", "timer", model="django_celery_beat.IntervalSchedule"),
        Entry("Crontab", "event_repeat", model="django_celery_beat.CrontabSchedule"),
        Entry("Обработанные обновления", "sync", model="bot.ProcessedUpdate"),
        Entry("Выданные токены", "key", model="token_blacklist.OutstandingToken"),
        Entry("Отозванные токены", "key_off", model="token_blacklist.BlacklistedToken"),
        Entry("Попытки входа", "lock", model="axes.AccessAttempt"),
        Entry("Устройства 2FA", "phonelink_lock", model="otp_totp.TOTPDevice"),
    ), collapsible=True),
)


def _link(entry: Entry) -> str | None:
    try:
        if entry.model:
            model = apps.get_model(entry.model)
            name = f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"
        else:
            name = entry.url_name
        return reverse(name) + entry.query
    except (LookupError, NoReverseMatch):
        return None


def _allowed(user, entry: Entry) -> bool:
    if entry.model:
        app_label, model_name = entry.model.lower().split(".")
        return user.has_perm(f"{app_label}.view_{model_name}") or user.has_perm(f"{app_label}.change_{model_name}")
    return not entry.permission or user.has_perm(entry.permission)


def sidebar(request) -> list[dict]:
    """The navigation unfold renders, filtered by what this staff member may open."""
    groups = []
    for group in NAVIGATION:
        items = []
        for entry in group.entries:
            link = _link(entry)
            if link is None or not _allowed(request.user, entry):
                continue
            item = {"title": entry.title, "icon": entry.icon, "link": link}
            count = import_string(entry.badge)(request) if entry.badge else 0
            if count:
                item.update(badge=str(count), badge_style="solid")
            items.append(item)
        if items:
            groups.append({"title": group.title, "separator": bool(group.title), "collapsible": group.collapsible,
                           "items": items})
    return groups


def open_crisis_badge(request) -> int:
    """The number of open crisis alerts (new or in progress), shown in the sidebar."""
    from bot.models import CrisisAlert
    from bot.services.safety import OPEN

    return CrisisAlert.objects.filter(OPEN).count()


def stylesheet(request) -> str:
    """Our few additions to unfold's styles (tables on detail pages, panels)."""
    return static("relove/admin.css")
