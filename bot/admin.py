from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from relove.core.admin_utils import CONVERSATION_PERMISSION, PersonalDataAdminMixin, ReadOnlyAdmin, html_table

from .models import (
    CrisisAlert,
    CrisisContact,
    MessageTemplate,
    OutboundMessage,
    PersonaPrompt,
    ProcessedUpdate,
    UserSession,
)
from .services.safety import crisis_resolve


@admin.register(UserSession)
class UserSessionAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["user", "status", "message_count", "stage_snapshot", "started_at", "last_activity_at",
                    "ended_at", "end_reason"]
    list_filter = ["status", "end_reason", "stage_snapshot", "started_at"]
    search_fields = ["=user__telegram_id", "user__username"]
    list_select_related = ["user"]
    date_hierarchy = "started_at"
    personal_permission = CONVERSATION_PERMISSION
    personal_fields = ("summary", "history_table")
    readonly_fields = ["history_table"]

    @admin.display(description=_("переписка"))
    def history_table(self, obj):
        rows = [(timezone.localtime(t.created_at).strftime("%Y-%m-%d %H:%M"), t.get_role_display(), t.content)
                for t in obj.turns.order_by("position")]
        return html_table([_("время"), _("кто"), _("текст")], rows)


@admin.register(ProcessedUpdate)
class ProcessedUpdateAdmin(ReadOnlyAdmin):
    list_display = ["update_id", "received_at"]
    search_fields = ["=update_id"]
    date_hierarchy = "received_at"


@admin.register(PersonaPrompt)
class PersonaPromptAdmin(SimpleHistoryAdmin):
    list_display = ["key", "updated_at"]
    search_fields = ["text"]


@admin.register(MessageTemplate)
class MessageTemplateAdmin(SimpleHistoryAdmin):
    list_display = ["key", "stage", "is_active", "short_text", "updated_at"]
    list_filter = ["key", "stage", "is_active"]
    list_editable = ["is_active"]
    search_fields = ["key", "text"]
    list_select_related = ["stage"]

    @admin.display(description=_("текст"))
    def short_text(self, obj):
        return obj.text[:80]


@admin.register(CrisisContact)
class CrisisContactAdmin(admin.ModelAdmin):
    list_display = ["name", "phone", "order", "is_active"]
    list_editable = ["order", "is_active"]


@admin.register(CrisisAlert)
class CrisisAlertAdmin(PersonalDataAdminMixin, admin.ModelAdmin):
    list_display = ["user", "detected_by", "created_at", "resolved_at", "resolved_by"]
    list_filter = [("resolved_at", admin.EmptyFieldListFilter), "detected_by", "created_at"]
    search_fields = ["=user__telegram_id", "user__username"]
    list_select_related = ["user", "resolved_by"]
    readonly_fields = ["user", "excerpt", "detected_by", "created_at", "resolved_at", "resolved_by"]
    personal_fields = ("excerpt",)
    actions = ["resolve_and_clear_flag"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Разобрано: снять кризисный флаг с участника"))
    def resolve_and_clear_flag(self, request, queryset):
        resolved = sum(crisis_resolve(alert=alert, staff=request.user) for alert in queryset)
        self.message_user(request, _("Разобрано сигналов: %d") % resolved, messages.SUCCESS)


@admin.register(OutboundMessage)
class OutboundMessageAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["kind", "chat_id", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["kind", "status"]
    personal_fields = ("text",)
