"""Form pieces for the admin: lists of short strings edited one per line instead of as JSON."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminTextareaWidget


class LineListField(forms.Field):
    """A list of strings stored as JSON, shown as a text box with one item per line.

    Blank lines and surrounding spaces are dropped; the model's ``clean`` still checks the
    count and the length of each item.
    """

    def __init__(self, *, rows: int = 3, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", UnfoldAdminTextareaWidget(attrs={
            "rows": rows, "class": "relove-lines", "placeholder": _("по одному на строку")}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(str(item) for item in value)
        return value or ""

    def to_python(self, value):
        if isinstance(value, list):
            return [str(item).strip() for item in value if str(item).strip()]
        return [line.strip() for line in str(value or "").splitlines() if line.strip()]

    def has_changed(self, initial, data):
        return self.to_python(initial or []) != self.to_python(data)


class LineListAdminMixin:
    """Shows the JSON list fields named in ``line_list_fields`` as :class:`LineListField`."""

    line_list_fields: tuple[str, ...] = ()

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name in self.line_list_fields:
            return LineListField(label=db_field.verbose_name.capitalize(), help_text=db_field.help_text or
                                 _("По одному на строку"))
        return super().formfield_for_dbfield(db_field, request, **kwargs)
