"""Infrastructure rows staff may look at, and the third-party admins restyled for django-unfold."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django_celery_beat.admin import PeriodicTaskAdmin as BasePeriodicTaskAdmin
from django_celery_beat.admin import PeriodicTaskForm, TaskSelectWidget
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from .admin_utils import ModelAdmin, ReadOnlyAdmin
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


# --- Third-party admins in the same look -------------------------------------------------------
# Apps listed before relove.core in INSTALLED_APPS (auth, axes, django-otp, simplejwt's blacklist,
# celery-beat) registered stock ModelAdmins; each is re-registered as a subclass that also
# inherits unfold's ModelAdmin, keeping its behaviour (filters, actions, forms) and its permissions.

class StaffUserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


class _TaskSelectWidget(UnfoldAdminSelectWidget, TaskSelectWidget):
    pass


class _PeriodicTaskForm(PeriodicTaskForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["task"].widget = UnfoldAdminTextInputWidget()
        self.fields["regtask"].widget = _TaskSelectWidget()


class PeriodicTaskAdmin(BasePeriodicTaskAdmin, ModelAdmin):
    form = _PeriodicTaskForm


_EXPLICIT = {get_user_model(): StaffUserAdmin}


def _restyle_third_party_admins(site) -> None:
    from django_celery_beat.models import PeriodicTask

    _EXPLICIT[PeriodicTask] = PeriodicTaskAdmin
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, ModelAdmin):
            continue
        admin_class = _EXPLICIT.get(model) or type(
            type(model_admin).__name__, (type(model_admin), ModelAdmin), {"__module__": __name__})
        site.unregister(model)
        site.register(model, admin_class)


_restyle_third_party_admins(admin.site)
