"""The crisis banner and flag actions on the member page (rendered by the profiles admin template)."""

from django import template
from django.urls import reverse

from bot.models import CrisisAlert
from bot.services.safety import OPEN
from relove.core.admin_time import admin_zone_label

register = template.Library()


@register.inclusion_tag("admin/bot/member_crisis_panel.html", takes_context=True)
def member_crisis_panel(context, member):
    """A red banner while the member has an open alert; buttons that change the flags with a reason."""
    if member is None or member.pk is None:
        return {"member": None}
    alert = CrisisAlert.objects.filter(OPEN, user=member).first()

    def flag_url(field, value):
        return reverse("admin:bot_member_flag", args=[member.pk, field, int(value)])

    return {
        "member": member, "alert": alert,
        "alert_url": reverse("admin:bot_crisisalert_change", args=[alert.pk]) if alert else "",
        "crisis_url": flag_url("crisis_flag", not member.crisis_flag),
        "blocked_url": flag_url("is_blocked", not member.is_blocked),
        "changes": member.flag_changes.select_related("staff")[:10], "zone_label": admin_zone_label(),
    }


@register.simple_tag
def crisis_open_count() -> int:
    return CrisisAlert.objects.filter(OPEN).count()
