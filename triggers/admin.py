from datetime import timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from bot import telegram_html
from relove.core import liveness
from relove.core.access import has_personal_permission
from relove.core.admin_utils import PERSONAL_DATA_PERMISSION, HistoryAdmin, ModelAdmin
from relove.core.models import StaffTask
from relove.core.staff_errors import WORKER_DOWN
from relove.core.staff_tasks import staff_task_queue, staff_task_queued_notice, staff_tasks_announce

from .models import ProactiveTrigger, ProactivityConfig
from .selectors import trigger_progress
from .services import staff, triggers_cancel
from .tasks import preview_for_staff, send_now_for_staff
from .wording import limit_phrases

# A preview takes seconds; this long without an answer means no worker is taking tasks.
PREVIEW_STALLED_AFTER = timedelta(minutes=2)


@admin.register(ProactivityConfig)
class ProactivityConfigAdmin(HistoryAdmin):
    """The singleton is edited in place: the list page opens the one row."""

    fieldsets = [
        (None, {"fields": ["applies_note", "enabled", "max_per_day", "window_start", "window_end",
                           "default_timezone", "inactivity_after", "min_interval", "member_wording"]}),
        (_("Типы сообщений"), {"fields": ["inactivity_enabled", "stage_completed_enabled",
                                          "avoidance_enabled", "morning_checkin_enabled",
                                          "stream_step_enabled", "stream_invite_enabled"]}),
        (_("Тонкие настройки"), {"fields": ["active_days", "morning_start", "morning_end",
                                            "stream_invite_days_before", "fatigue_threshold",
                                            "fatigue_multiplier", "max_attempts"]}),
    ]

    readonly_fields = ["applies_note", "member_wording"]

    @admin.display(description=_("Когда действует"))
    def applies_note(self, obj):
        return _("Изменения вступают в силу со следующей проверки триггеров — не позже чем через минуту "
                 "после сохранения. Окно, дневной лимит и интервал проверяются в момент отправки, поэтому "
                 "они действуют и на сообщения, уже стоящие в очереди. Отправленное не меняется.")

    @admin.display(description=_("Что читают участники"))
    def member_wording(self, obj):
        """The limits as members are told them (greeting, /settings, time zone), from the saved settings."""
        phrases = limit_phrases()
        return format_html(_("«Писать первой буду {} и только {} по твоему времени». Фразы в приветствии, "
                             "/settings и ответах про часовой пояс берутся из этих настроек (подстановки "
                             "{{daily_limit}} и {{window}} в шаблонах) и меняются после сохранения."),
                           phrases["daily_limit"], phrases["window"])

    def changelist_view(self, request, extra_context=None):
        ProactivityConfig.load()
        return HttpResponseRedirect(reverse("admin:triggers_proactivityconfig_change", args=[1]))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MemberFilter(admin.SimpleListFilter):
    """Filter by one member (id or Telegram id) without listing every member in the sidebar."""

    title = _("участник")
    parameter_name = "member"
    template = "admin/triggers/member_filter.html"

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.other_params = [(k, v) for k, v in request.GET.items() if k not in (self.parameter_name, "p")]

    def lookups(self, request, model_admin):
        return [("", "")]  # the template shows a text box instead of a list of choices

    def has_output(self):
        return True

    def queryset(self, request, queryset):
        value = (self.value() or "").strip().lstrip("#")
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(Q(user_id=int(value)) | Q(user__telegram_id=int(value)))


@admin.register(ProactiveTrigger)
class ProactiveTriggerAdmin(ModelAdmin):
    list_display = ["user", "kind", "status", "scheduled_for", "attempts", "sent_at", "answered_at",
                    "last_error", "preview_link"]
    list_filter = [MemberFilter, "kind", "status", "scheduled_for"]
    search_fields = ["=user__telegram_id", "user__search_tokens__matches"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    date_hierarchy = "scheduled_for"
    # ``payload`` holds ids the engine wrote (insight, step, stream): shown, never a JSON box to edit.
    readonly_fields = ["progress", "payload", "status", "attempts", "daily_slot", "claimed_at", "sent_at",
                       "answered_at", "telegram_message_id", "last_error", "created_at"]
    fieldsets = [
        (_("Триггер"), {"classes": ["tab"], "fields": ["progress", "user", "kind", "status", "scheduled_for",
                                                       "dedupe_key"]}),
        (_("Доставка"), {"classes": ["tab"], "fields": ["attempts", "claimed_at", "sent_at", "answered_at",
                                                        "telegram_message_id", "daily_slot", "last_error"]}),
        (_("Данные"), {"classes": ["tab"], "fields": ["payload", "created_at"]}),
    ]
    actions = ["cancel_selected", "send_now", "preview_selected"]

    @admin.display(description=_("что происходит"))
    def progress(self, obj):
        return trigger_progress(obj) if obj and obj.pk else "—"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:trigger_id>/preview/", view(self.preview_view), name="triggers_proactivetrigger_preview"),
            path("previews/<int:task_id>/", view(self.preview_result_view),
                 name="triggers_proactivetrigger_preview_result"),
            *super().get_urls(),
        ]

    @admin.display(description=_("сообщение"))
    def preview_link(self, obj):
        url = reverse("admin:triggers_proactivetrigger_preview", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("предпросмотр"))

    @admin.action(description=_("Отменить (ожидающие)"), permissions=["change"])
    def cancel_selected(self, request, queryset):
        cancelled = triggers_cancel(trigger_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, _("Отменено: %d") % cancelled, messages.SUCCESS)

    def changelist_view(self, request, extra_context=None):
        staff_tasks_announce(request=request, kinds=(staff.SEND_NOW,))
        return super().changelist_view(request, extra_context)

    @admin.action(description=_("Отправить сейчас (по правилам: окно, лимит, интервал)"), permissions=["change"])
    def send_now(self, request, queryset):
        """Queued for a worker: sending may take seconds per member (Telegram, the LLM)."""
        ids = list(queryset.values_list("pk", flat=True))
        row = staff_task_queue(kind=staff.SEND_NOW, requested_by=request.user, task=send_now_for_staff,
                               params={"trigger_ids": ids})
        staff_task_queued_notice(request=request, row=row, text=_(
            "Отправка поставлена в очередь: %d. Итог появится на этой странице, когда она будет выполнена "
            "(обновите страницу).") % len(ids))

    @admin.action(description=_("Предпросмотр сообщения"))
    def preview_selected(self, request, queryset):
        return self._queue_preview(request, list(queryset.values_list("pk", flat=True)[:staff.PREVIEW_LIMIT]))

    def preview_view(self, request, trigger_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return self._queue_preview(request, [get_object_or_404(ProactiveTrigger, pk=trigger_id).pk])

    def _queue_preview(self, request, trigger_ids):
        """Natasha's words may come from the LLM: a worker writes them, the result page waits for it."""
        if not has_personal_permission(request.user, PERSONAL_DATA_PERMISSION):
            raise PermissionDenied
        task = staff_task_queue(kind=staff.PREVIEW, requested_by=request.user, task=preview_for_staff,
                                params={"trigger_ids": trigger_ids})
        return HttpResponseRedirect(reverse("admin:triggers_proactivetrigger_preview_result", args=[task.pk]))

    def preview_result_view(self, request, task_id):
        """The previews once the worker has written them; until then the page refreshes itself."""
        if not request.user.has_perm(PERSONAL_DATA_PERMISSION):
            raise PermissionDenied
        task = get_object_or_404(StaffTask, pk=task_id, kind=staff.PREVIEW, requested_by=request.user)
        previews = [{**item, "html": telegram_html.preview(item.get("html", ""))}
                    for item in (task.result or {}).get("previews", [])]
        ready = task.status in (StaffTask.Status.DONE, StaffTask.Status.FAILED)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "task": task,
                   "ready": ready, "previews": previews, "title": _("Предпросмотр проактивных сообщений"),
                   "stalled": not ready and task.created_at < timezone.now() - PREVIEW_STALLED_AFTER,
                   "worker_down": WORKER_DOWN if not ready and not liveness.worker_alive() else ""}
        return TemplateResponse(request, "admin/triggers/preview.html", context)
