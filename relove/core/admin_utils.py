"""Small admin helpers shared by the apps."""

from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin, StackedInline, TabularInline

from . import access

__all__ = [
    "HistoryAdmin",
    "ModelAdmin",
    "PersonalDataAdminMixin",
    "ReadOnlyAdmin",
    "StackedInline",
    "TabularInline",
    "html_table",
]

PERSONAL_DATA_PERMISSION = access.PERSONAL_DATA
CONVERSATION_PERMISSION = access.CONVERSATION
HIDDEN = _("скрыто: нужно право на просмотр личных данных")


class HistoryAdmin(SimpleHistoryAdmin, ModelAdmin):
    """Records whose every change is kept (prompts, templates, stages, settings)."""


class ReadOnlyAdmin(ModelAdmin):
    """Records written by the system: staff read them, never edit or add."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class PersonalDataAdminMixin:
    """Hides personal fields from staff without the permission they need (relove.core.access).

    Model fields follow ``access.FIELD_PERMISSIONS``; ``personal_fields`` adds admin-only
    display fields (e.g. a rendered conversation), guarded by ``personal_permission``.
    """

    personal_fields: tuple[str, ...] = ()
    personal_permission = PERSONAL_DATA_PERMISSION

    def _hidden_fields(self, request) -> set[str]:
        hidden = access.hidden_fields(request.user, self.model)
        central = access.FIELD_PERMISSIONS.get(self.model._meta.label, {})
        if not access.has_personal_permission(request.user, self.personal_permission):
            hidden |= {f for f in self.personal_fields if f not in central}
        return hidden

    def get_exclude(self, request, obj=None):
        excluded = list(super().get_exclude(request, obj) or [])
        return excluded + sorted(self._hidden_fields(request))

    def get_fields(self, request, obj=None):
        hidden = self._hidden_fields(request)
        return [f for f in super().get_fields(request, obj) if f not in hidden]

    def get_readonly_fields(self, request, obj=None):
        hidden = self._hidden_fields(request)
        return [f for f in super().get_readonly_fields(request, obj) if f not in hidden]

    def get_fieldsets(self, request, obj=None):
        """Declared fieldsets (tabs) lose the hidden fields too; an emptied fieldset goes."""
        hidden = self._hidden_fields(request)
        fieldsets = []
        for name, options in super().get_fieldsets(request, obj):
            fields = [f for f in options["fields"] if f not in hidden]
            if fields:
                fieldsets.append((name, {**options, "fields": fields}))
        return fieldsets


def html_table(headers, rows):
    """A small read-only table for admin detail pages; every cell is escaped."""
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "", "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows),
    )
    if not rows:
        return _("нет записей")
    return format_html('<div class="relove-scroll"><table class="relove-table"><thead><tr>{}</tr></thead>'
                       '<tbody>{}</tbody></table></div>',
                       head, body)
