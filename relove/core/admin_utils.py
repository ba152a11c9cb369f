"""Small admin helpers shared by the apps."""

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

PERSONAL_DATA_PERMISSION = "profiles.view_personal_data"
CONVERSATION_PERMISSION = "bot.view_conversation"
HIDDEN = _("скрыто: нужно право на просмотр личных данных")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by the system: staff read them, never edit or add."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class PersonalDataAdminMixin:
    """Hides the listed encrypted fields from staff without the personal-data permission."""

    personal_fields: tuple[str, ...] = ()
    personal_permission = PERSONAL_DATA_PERMISSION

    def get_exclude(self, request, obj=None):
        excluded = list(super().get_exclude(request, obj) or [])
        if not request.user.has_perm(self.personal_permission):
            excluded += self.personal_fields
        return excluded

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if request.user.has_perm(self.personal_permission):
            return fields
        return [f for f in fields if f not in self.personal_fields]


def html_table(headers, rows):
    """A small read-only table for admin detail pages; every cell is escaped."""
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "", "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows),
    )
    if not rows:
        return _("нет записей")
    return format_html('<table class="relove-table"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
                       head, body)
