"""Small admin helpers shared by the apps."""

from django import forms
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.functional import lazy
from django.utils.html import format_html, format_html_join
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin
from unfold import admin as unfold_admin
from unfold.overrides import FORMFIELD_OVERRIDES_INLINE
from unfold.widgets import INPUT_CLASSES, UnfoldAdminSplitDateTimeWidget

from . import access
from .admin_time import admin_datetime, admin_zone_label

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


class DailyTimeWidget(forms.TimeInput):
    """A clock time of a daily window (08:00, 22:00): a plain HH:MM box.

    Not Django's ``vTimeField``: its shortcuts offer «Сейчас» (meaningless for a daily window)
    and warn that the browser's zone differs from the server's, although these times are read
    in each member's own zone.
    """

    input_type = "text"

    def __init__(self, attrs=None):
        attrs = {"class": " ".join(INPUT_CLASSES), "placeholder": "ЧЧ:ММ", "inputmode": "numeric",
                 "maxlength": "5", "size": "5", **(attrs or {})}
        super().__init__(attrs=attrs, format="%H:%M")


class ZonedSplitDateTimeWidget(UnfoldAdminSplitDateTimeWidget):
    """Date and time of a moment, entered and shown in the admin's zone and labelled with it."""

    template_name = "relove/widgets/zoned_split_datetime.html"

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["zone_label"] = admin_zone_label()
        return context


TIME_OVERRIDES = {
    models.TimeField: {"widget": DailyTimeWidget},
    models.DateTimeField: {"form_class": forms.SplitDateTimeField, "widget": ZonedSplitDateTimeWidget},
}


def with_zone_label(contents):
    """A read-only moment as rendered by the admin («29 ноября 2026 г. 21:45»), followed by its zone."""
    if not contents or str(contents).strip() in {"-", "—"}:
        return contents
    return format_html('{} <span class="relove-zone-label">{}</span>', contents, admin_zone_label())


class ModelAdmin(unfold_admin.ModelAdmin):
    """unfold's ModelAdmin with the project's time widgets: every admin of the project derives from it.

    Read-only moments on a change page carry the admin zone's label (unfold's read-only
    preprocessing); editable ones get it from ``ZonedSplitDateTimeWidget``.
    """

    formfield_overrides = TIME_OVERRIDES

    def __init__(self, model, admin_site):
        super().__init__(model, admin_site)
        zoned = {f.name: with_zone_label for f in model._meta.get_fields() if isinstance(f, models.DateTimeField)}
        self.readonly_preprocess_fields = {**zoned, **getattr(self, "readonly_preprocess_fields", {})}

    def get_list_display(self, request):
        """Moment columns show ``2026-11-29 21:45`` under a header naming the zone («создано (МСК)»)."""
        return [self._zoned_column(name) for name in super().get_list_display(request)]

    def _zoned_column(self, name):
        if not isinstance(name, str) or name in self.list_editable:
            return name
        try:
            field = self.model._meta.get_field(name)
        except FieldDoesNotExist:
            return name
        if not isinstance(field, models.DateTimeField):
            return name

        def column(obj):
            return admin_datetime(getattr(obj, name), label=False)

        column.__name__ = name
        column.short_description = format_lazy("{} ({})", field.verbose_name, lazy(admin_zone_label, str)())
        column.admin_order_field = name
        return column


class TabularInline(unfold_admin.TabularInline):
    formfield_overrides = {**FORMFIELD_OVERRIDES_INLINE, **TIME_OVERRIDES}


class StackedInline(unfold_admin.StackedInline):
    formfield_overrides = {**FORMFIELD_OVERRIDES_INLINE, **TIME_OVERRIDES}


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
