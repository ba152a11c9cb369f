from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from relove.core.admin_utils import PersonalDataAdminMixin, ReadOnlyAdmin

from .models import JourneyInsight, JourneyProgress, JourneyStage, Stream, StreamEnrollment, StreamStep


@admin.register(JourneyStage)
class JourneyStageAdmin(SimpleHistoryAdmin):
    list_display = ["order", "name", "min_confidence"]
    list_display_links = ["order", "name"]
    search_fields = ["name", "description"]
    ordering = ["order"]

    def has_add_permission(self, request):
        return False  # exactly 12 stages

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(JourneyProgress)
class JourneyProgressAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["user", "previous_stage", "stage", "confidence", "source", "changed_by", "created_at"]
    list_filter = ["stage", "source", "created_at"]
    search_fields = ["=user__telegram_id", "user__username"]
    list_select_related = ["user", "stage", "previous_stage", "changed_by"]
    date_hierarchy = "created_at"
    personal_fields = ("evidence",)


@admin.register(JourneyInsight)
class JourneyInsightAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["user", "kind", "stage", "confidence", "created_at"]
    list_filter = ["kind", "stage", "created_at"]
    search_fields = ["=user__telegram_id", "user__username"]
    list_select_related = ["user", "stage"]
    personal_fields = ("text",)


class StreamStepInline(admin.TabularInline):
    model = StreamStep
    extra = 1
    fields = ["day_offset", "order", "text", "quick_replies"]


@admin.register(Stream)
class StreamAdmin(admin.ModelAdmin):
    list_display = ["title", "starts_at", "is_active", "step_count"]
    list_filter = ["is_active", "suitable_stages", "starts_at"]
    search_fields = ["title", "description", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    filter_horizontal = ["suitable_stages"]
    inlines = [StreamStepInline]

    @admin.display(description=_("шагов"))
    def step_count(self, obj):
        return obj.steps.count()


@admin.register(StreamEnrollment)
class StreamEnrollmentAdmin(admin.ModelAdmin):
    list_display = ["user", "stream", "status", "ref_code", "enrolled_at"]
    list_filter = ["status", "stream"]
    search_fields = ["=user__telegram_id", "user__username", "stream__title"]
    list_select_related = ["user", "stream"]
    raw_id_fields = ["user"]
