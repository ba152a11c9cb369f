from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from .models import ProactiveTrigger, ProactivityConfig


@admin.register(ProactivityConfig)
class ProactivityConfigAdmin(SimpleHistoryAdmin):
    """The singleton is edited in place: the list page opens the one row."""

    fieldsets = [
        (None, {"fields": ["enabled", "max_per_day", "window_start", "window_end", "default_timezone",
                           "inactivity_after"]}),
        (_("Типы сообщений"), {"fields": ["inactivity_enabled", "stage_completed_enabled",
                                          "avoidance_enabled", "morning_checkin_enabled",
                                          "stream_step_enabled", "stream_invite_enabled"]}),
        (_("Тонкие настройки"), {"fields": ["morning_start", "morning_end", "stream_invite_days_before",
                                            "fatigue_threshold", "fatigue_multiplier", "max_attempts"]}),
    ]

    def changelist_view(self, request, extra_context=None):
        ProactivityConfig.load()
        return HttpResponseRedirect(reverse("admin:triggers_proactivityconfig_change", args=[1]))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ProactiveTrigger)
class ProactiveTriggerAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "status", "scheduled_for", "attempts", "sent_at", "answered_at",
                    "last_error"]
    list_filter = ["kind", "status", "scheduled_for"]
    search_fields = ["=user__telegram_id", "user__username"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    date_hierarchy = "scheduled_for"
    readonly_fields = ["status", "attempts", "local_date", "slot", "claimed_at", "sent_at", "answered_at",
                       "telegram_message_id", "last_error", "created_at"]
