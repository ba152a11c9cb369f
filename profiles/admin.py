from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from relove.core.admin_utils import (
    CONVERSATION_PERMISSION,
    PERSONAL_DATA_PERMISSION,
    PersonalDataAdminMixin,
    ReadOnlyAdmin,
    html_table,
)

from .models import MemberTag, PsychologicalProfile, TelegramUser, UserActivityLog, UserInteraction


@admin.register(MemberTag)
class MemberTagAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


@admin.register(TelegramUser)
class TelegramUserAdmin(admin.ModelAdmin):
    list_display = ["__str__", "first_name", "journey_stage", "consent_at", "proactive_enabled",
                    "is_paused", "is_blocked", "crisis_flag", "messages_count", "last_activity_at"]
    list_filter = ["journey_stage", "is_blocked", "is_paused", "crisis_flag", "proactive_enabled",
                   "gender", "language_code", "tags", ("consent_at", admin.EmptyFieldListFilter),
                   "last_activity_at"]
    search_fields = ["=telegram_id", "username", "first_name", "last_name"]
    filter_horizontal = ["tags"]
    date_hierarchy = "created_at"
    readonly_fields = ["telegram_id", "username", "first_name", "last_name", "language_code",
                       "consent_at", "blocked_at", "crisis_flagged_at", "journey_stage", "messages_count",
                       "sessions_count", "unanswered_proactive", "last_activity_at",
                       "last_user_message_at", "created_at", "updated_at",
                       "journey_timeline", "profile_versions", "conversation", "recent_triggers"]
    base_fieldsets = [
        (_("Участник"), {"fields": ["telegram_id", "username", "first_name", "last_name",
                                    "language_code", "timezone", "gender", "tags"]}),
        (_("Состояние"), {"fields": ["consent_at", "proactive_enabled", "is_paused", "is_blocked",
                                     "blocked_at", "crisis_flag", "crisis_flagged_at"]}),
        (_("Путь и активность"), {"fields": ["journey_stage", "journey_timeline", "messages_count",
                                             "sessions_count", "unanswered_proactive", "recent_triggers",
                                             "last_activity_at", "last_user_message_at", "created_at",
                                             "updated_at"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(self.base_fieldsets)
        if obj is None:
            return fieldsets
        if request.user.has_perm(PERSONAL_DATA_PERMISSION):
            fieldsets.append((_("Профиль"), {"fields": ["profile_versions"]}))
        if request.user.has_perm(CONVERSATION_PERMISSION):
            fieldsets.append((_("Переписка"), {"fields": ["conversation"], "classes": ["collapse"]}))
        return fieldsets

    def has_add_permission(self, request):
        return False  # members appear when they write to the bot

    @admin.display(description=_("история этапов"))
    def journey_timeline(self, obj):
        rows = [(p.created_at.strftime("%Y-%m-%d %H:%M"), str(p.stage), p.get_source_display(),
                 f"{p.confidence:.2f}", p.reason)
                for p in obj.journey_progress.select_related("stage")[:50]]
        return html_table([_("когда"), _("этап"), _("источник"), _("уверенность"), _("причина")], rows)

    @admin.display(description=_("версии профиля"))
    def profile_versions(self, obj):
        rows = [(p.version, p.generated_at.strftime("%Y-%m-%d %H:%M"), p.light_shadow_balance, p.summary)
                for p in obj.profiles.all()[:10]]
        return html_table([_("версия"), _("создан"), _("свет/тень"), _("резюме")], rows)

    @admin.display(description=_("последняя сессия"))
    def conversation(self, obj):
        session = obj.sessions.order_by("-started_at").first()
        if session is None:
            return _("нет сессий")
        rows = [(turn.get("ts", ""), turn.get("role", ""), turn.get("content", ""))
                for turn in session.conversation_history[-100:]]
        return html_table([_("время"), _("кто"), _("текст")], rows)

    @admin.display(description=_("проактивные сообщения"))
    def recent_triggers(self, obj):
        rows = [(t.scheduled_for.strftime("%Y-%m-%d %H:%M"), t.get_kind_display(), t.get_status_display())
                for t in obj.triggers.order_by("-scheduled_for")[:20]]
        return html_table([_("когда"), _("тип"), _("статус")], rows)


@admin.register(PsychologicalProfile)
class PsychologicalProfileAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["user", "version", "light_shadow_balance", "source_log_count", "generated_by",
                    "generated_at"]
    list_filter = ["generated_by", "generated_at"]
    search_fields = ["=user__telegram_id", "user__username"]
    list_select_related = ["user"]
    personal_fields = ("summary", "data")


@admin.register(UserActivityLog)
class UserActivityLogAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["user", "kind", "created_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["=user__telegram_id", "user__username"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    personal_fields = ("content",)


@admin.register(UserInteraction)
class UserInteractionAdmin(ReadOnlyAdmin):
    list_display = ["user", "kind", "stage", "created_at"]
    list_filter = ["kind", "stage", "created_at"]
    search_fields = ["=user__telegram_id", "user__username"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
