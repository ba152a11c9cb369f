import html
from html.parser import HTMLParser

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from relove.core.access import has_personal_permission
from relove.core.admin_utils import PERSONAL_DATA_PERMISSION

from .models import ProactiveTrigger, ProactivityConfig
from .services import trigger_compose, triggers_cancel, triggers_send_now

PREVIEW_LIMIT = 10


@admin.register(ProactivityConfig)
class ProactivityConfigAdmin(SimpleHistoryAdmin):
    """The singleton is edited in place: the list page opens the one row."""

    fieldsets = [
        (None, {"fields": ["enabled", "max_per_day", "window_start", "window_end", "default_timezone",
                           "inactivity_after", "min_interval"]}),
        (_("Типы сообщений"), {"fields": ["inactivity_enabled", "stage_completed_enabled",
                                          "avoidance_enabled", "morning_checkin_enabled",
                                          "stream_step_enabled", "stream_invite_enabled"]}),
        (_("Тонкие настройки"), {"fields": ["active_days", "morning_start", "morning_end",
                                            "stream_invite_days_before", "fatigue_threshold",
                                            "fatigue_multiplier", "max_attempts"]}),
    ]

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


class _TelegramPreview(HTMLParser):
    """Telegram HTML → safe HTML for the admin: text escaped, only Telegram's formatting tags kept."""

    KEEP = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "blockquote"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.KEEP:
            self.out.append(f"<{tag}>")

    def handle_endtag(self, tag):
        if tag in self.KEEP:
            self.out.append(f"</{tag}>")

    def handle_data(self, data):
        self.out.append(html.escape(data).replace("\n", "<br>"))


def telegram_preview(markup: str):
    parser = _TelegramPreview()
    parser.feed(markup or "")
    parser.close()
    return mark_safe("".join(parser.out))  # noqa: S308 — escaped text and whitelisted tags only


@admin.register(ProactiveTrigger)
class ProactiveTriggerAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "status", "scheduled_for", "attempts", "sent_at", "answered_at",
                    "last_error", "preview_link"]
    list_filter = [MemberFilter, "kind", "status", "scheduled_for"]
    search_fields = ["=user__telegram_id", "user__username"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    date_hierarchy = "scheduled_for"
    readonly_fields = ["status", "attempts", "local_date", "slot", "claimed_at", "sent_at", "answered_at",
                       "telegram_message_id", "last_error", "created_at"]
    actions = ["cancel_selected", "send_now", "preview_selected"]

    def get_urls(self):
        urls = super().get_urls()
        preview = path("<int:trigger_id>/preview/", self.admin_site.admin_view(self.preview_view),
                       name="triggers_proactivetrigger_preview")
        return [preview, *urls]

    @admin.display(description=_("сообщение"))
    def preview_link(self, obj):
        url = reverse("admin:triggers_proactivetrigger_preview", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("предпросмотр"))

    @admin.action(description=_("Отменить (ожидающие)"), permissions=["change"])
    def cancel_selected(self, request, queryset):
        cancelled = triggers_cancel(trigger_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, _("Отменено: %d") % cancelled, messages.SUCCESS)

    @admin.action(description=_("Отправить сейчас (по правилам: окно, лимит, интервал)"), permissions=["change"])
    def send_now(self, request, queryset):
        counts = triggers_send_now(trigger_ids=list(queryset.values_list("pk", flat=True)))
        if counts.get("disabled"):
            self.message_user(request, _("Проактивность выключена в настройках: ничего не отправлено."),
                              messages.WARNING)
            return
        self.message_user(request, _("Отправлено: %(sent)d; отложено по правилам: %(deferred)d; "
                                     "пропущено или отменено: %(dropped)d; повтор позже: %(retry)d") % {
            "sent": counts.get("sent", 0), "deferred": counts.get("deferred", 0),
            "dropped": counts.get("skipped", 0) + counts.get("cancelled", 0) + counts.get("failed", 0),
            "retry": counts.get("retry", 0) + counts.get("postponed", 0)}, messages.INFO)

    @admin.action(description=_("Предпросмотр сообщения"))
    def preview_selected(self, request, queryset):
        return self._preview(request, list(queryset.select_related("user")[:PREVIEW_LIMIT]))

    def preview_view(self, request, trigger_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return self._preview(request, [get_object_or_404(ProactiveTrigger.objects.select_related("user"),
                                                         pk=trigger_id)])

    def _preview(self, request, triggers):
        """Natasha's message for each trigger, generated now (nothing is stored or sent)."""
        if not has_personal_permission(request.user, PERSONAL_DATA_PERMISSION):
            raise PermissionDenied
        previews = []
        for trigger in triggers:
            try:
                generated = trigger_compose(trigger=trigger)
            except Exception as exc:  # noqa: BLE001 — e.g. the reason is gone: show why instead of a 500
                previews.append({"trigger": trigger, "error": f"{type(exc).__name__}: {exc}"})
                continue
            previews.append({"trigger": trigger, "html": telegram_preview(generated.html),
                             "quick_replies": generated.quick_replies, "source": generated.source})
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "previews": previews,
                   "title": _("Предпросмотр проактивных сообщений")}
        return TemplateResponse(request, "admin/triggers/preview.html", context)
