"""Infrastructure rows staff may look at: the outcomes of their slow admin actions."""

from django.contrib import admin

from .admin_utils import ReadOnlyAdmin
from .models import StaffTask


@admin.register(StaffTask)
class StaffTaskAdmin(ReadOnlyAdmin):
    """Each staff member sees their own queued sends and previews (superusers see all)."""

    list_display = ["kind", "target", "requested_by", "status", "message", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
    list_select_related = ["requested_by"]
    exclude = ["result", "params"]  # previews are members' messages: shown only on their own page

    def get_queryset(self, request):
        rows = super().get_queryset(request)
        return rows if request.user.is_superuser else rows.filter(requested_by=request.user)
