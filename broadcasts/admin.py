from django.contrib import admin
from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _

from relove.core.admin_utils import ReadOnlyAdmin

from .models import Broadcast, BroadcastDelivery


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    list_display = ["title", "status", "scheduled_at", "total", "sent", "created_by", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["title", "text"]
    filter_horizontal = ["segment_stages", "segment_streams", "segment_tags"]
    readonly_fields = ["status", "created_by", "created_at", "started_at", "finished_at", "cancelled_at"]
    fieldsets = [
        (None, {"fields": ["title", "text", "buttons", "photo"]}),
        (_("Аудитория"), {"fields": ["segment_stages", "segment_streams", "segment_tags", "segment_gender",
                                     "segment_language", "segment_active_within_days",
                                     "segment_consented_only"]}),
        (_("Отправка"), {"fields": ["scheduled_at", "counts_against_budget", "status", "created_by",
                                    "created_at", "started_at", "finished_at", "cancelled_at"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by").annotate(
            _total=Count("deliveries"),
            _sent=Count("deliveries", filter=Q(deliveries__status=BroadcastDelivery.Status.SENT)),
        )

    @admin.display(description=_("получателей"), ordering="_total")
    def total(self, obj):
        return obj._total

    @admin.display(description=_("доставлено"), ordering="_sent")
    def sent(self, obj):
        return obj._sent

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(BroadcastDelivery)
class BroadcastDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["broadcast", "user", "status", "attempts", "sent_at", "last_error"]
    list_filter = ["status", "broadcast"]
    search_fields = ["=user__telegram_id", "user__username"]
    list_select_related = ["broadcast", "user"]
