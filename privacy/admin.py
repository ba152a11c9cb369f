"""Admin: erase and export a member (the only way to delete one), and the erasure records."""

from datetime import date, timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from analytics.models import DailyActivity
from analytics.reports import rollup_zone
from journeys.models import JourneyProgress
from profiles.admin import TelegramUserAdmin, stage_names
from profiles.models import TelegramUser
from relove.core import access
from relove.core.admin_time import admin_zone_label
from relove.core.admin_utils import ReadOnlyAdmin
from relove.core.staff_errors import tell_staff

from .erasure import member_erase
from .export import member_export_json
from .models import ErasureRecord
from .timeline import member_timeline

ERASE_PERMISSION = "profiles.delete_telegramuser"


def can_erase(request) -> bool:
    return request.user.has_perm(ERASE_PERMISSION)


def can_export(request) -> bool:
    return request.user.has_perm("profiles.view_telegramuser") and access.has_personal_permission(
        request.user, access.EXPORT)


class ReachedStageFilter(admin.SimpleListFilter):
    """Members who ever reached a stage or a later one (the analytics funnel links here)."""

    title = _("дошли до этапа")
    parameter_name = "reached_stage"

    def lookups(self, request, model_admin):
        return [(str(order), f"≥ {name}") for order, name in stage_names().items()]

    def queryset(self, request, queryset):
        value = self.value()
        if not (value and value.isdigit()):
            return queryset
        reached = JourneyProgress.objects.filter(user=OuterRef("pk"), stage__order__gte=int(value))
        return queryset.filter(Exists(reached))


class ActiveOnFilter(admin.SimpleListFilter):
    """Members who wrote on a local day or within ``YYYY-MM-DD..YYYY-MM-DD`` (from the daily rollups)."""

    title = _("писали в период")
    parameter_name = "active_on"

    def _days(self) -> tuple[date, date] | None:
        start, _sep, end = (self.value() or "").partition("..")
        try:
            first = date.fromisoformat(start)
            return first, date.fromisoformat(end) if end else first
        except ValueError:
            return None

    def lookups(self, request, model_admin):
        today = timezone.localdate(timezone.now(), rollup_zone())  # the rollups' days
        presets = [(today.isoformat(), _("сегодня")),
                   (f"{today - timedelta(days=6)}..{today}", _("последние 7 дней")),
                   (f"{today - timedelta(days=29)}..{today}", _("последние 30 дней"))]
        value = self.value()
        if value and value not in dict(presets) and self._days():
            presets.append((value, value.replace("..", " — ")))
        return presets

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        days = self._days()
        if days is None:
            return queryset.none()
        wrote = DailyActivity.objects.filter(user=OuterRef("pk"), day__gte=days[0], day__lte=days[1])
        return queryset.filter(Exists(wrote))


admin.site.unregister(TelegramUser)


@admin.register(TelegramUser)
class MemberAdmin(TelegramUserAdmin):
    """The member admin with erasure and export. Django's own delete is off: it would leave
    rows whose foreign key is only nulled, the cache and the archives behind."""

    actions = [*TelegramUserAdmin.actions, "erase_members"]
    list_filter = [*TelegramUserAdmin.list_filter, ReachedStageFilter, ActiveOnFilter]

    def has_delete_permission(self, request, obj=None):
        return False

    def has_erase_permission(self, request):
        return can_erase(request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The member page, with the member's whole timeline for staff who may read conversations."""
        extra_context = dict(extra_context or {})
        member = TelegramUser.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        if member is not None and access.has_personal_permission(request.user, access.CONVERSATION):
            page = request.GET.get("timeline_page", "1")
            extra_context["timeline"] = member_timeline(member=member, page=int(page) if page.isdigit() else 1)
            extra_context["timeline_zone"] = admin_zone_label()
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description=_("Удалить все данные участников (безвозвратно)"), permissions=["erase"])
    def erase_members(self, request, queryset):
        if request.POST.get("confirmed") == "yes":
            members = list(queryset)
            erased = 0
            for member in members:
                try:
                    member_erase(user=member, staff=request.user)
                except Exception as exc:  # noqa: BLE001 — the others are still erased; staff see why this stopped
                    tell_staff(request, exc, failed=_("Удаление остановлено на участнике #%(id)d, данные удалены "
                                                      "у %(n)d из %(total)d") % {"id": member.pk, "n": erased,
                                                                                "total": len(members)})
                    return None
                erased += 1
            self.message_user(request, _("Данные удалены, участников: %(n)d") % {"n": erased}, messages.SUCCESS)
            return None
        return TemplateResponse(request, "admin/privacy/erase_confirm.html", {
            **self.admin_site.each_context(request), "title": _("Удалить все данные участников"),
            "members": queryset, "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        })

    @admin.display(description=_("действия"))
    def journey_actions(self, obj):
        links = super().journey_actions(obj)
        if obj is None or obj.pk is None:
            return links
        return format_html('{} · <a class="button" href="{}">{}</a> · <a class="button" href="{}">{}</a>', links,
                           reverse("admin:privacy_member_export", args=[obj.pk]), _("⬇️ Выгрузить данные"),
                           reverse("admin:privacy_member_erase", args=[obj.pk]), _("🗑 Удалить все данные"))

    def get_urls(self):
        return [
            path("<int:user_id>/export/", self.admin_site.admin_view(self.export_view), name="privacy_member_export"),
            path("<int:user_id>/erase/", self.admin_site.admin_view(self.erase_view), name="privacy_member_erase"),
            *super().get_urls(),
        ]

    def export_view(self, request, user_id: int):
        """Everything held about the member as a JSON file (docs/export-schema.md)."""
        if not can_export(request):
            raise PermissionDenied
        member = get_object_or_404(TelegramUser, pk=user_id)
        try:
            document = member_export_json(user=member)
        except Exception as exc:  # noqa: BLE001 — a download link cannot show a message: back to the member
            tell_staff(request, exc, failed=_("Выгрузка не собрана"))
            return redirect("admin:profiles_telegramuser_change", member.pk)
        response = HttpResponse(document, content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="member-{member.pk}.json"'
        return response

    def erase_view(self, request, user_id: int):
        """The member page's erase button: confirm, then erase everywhere."""
        if not can_erase(request):
            raise PermissionDenied
        member = get_object_or_404(TelegramUser, pk=user_id)
        if request.method == "POST":
            try:
                member_erase(user=member, staff=request.user)
            except Exception as exc:  # noqa: BLE001 — shown to staff, with how far the erasure got
                if TelegramUser.objects.filter(pk=member.pk).exists():  # the database part is one transaction
                    tell_staff(request, exc, failed=_("Данные участника не удалены"))
                    return redirect("admin:profiles_telegramuser_change", member.pk)
                tell_staff(request, exc, failed=_("Участник удалён из базы, но кэш или архивы журнала не очищены "
                                                  "(сообщите администратору сервера)"))
                return redirect("admin:profiles_telegramuser_changelist")
            self.message_user(request, _("Все данные участника удалены."), messages.SUCCESS)
            return redirect("admin:profiles_telegramuser_changelist")
        return TemplateResponse(request, "admin/relove_member_action.html", {
            **self.admin_site.each_context(request), "title": _("Удалить все данные участника"), "member": member,
            "member_url": reverse("admin:profiles_telegramuser_change", args=[member.pk]),
            "submit_label": _("Удалить безвозвратно"), "confirm_only": True,
            "description": _("Будут удалены участник, его переписка, профиль, журнал (и архивы журнала), этапы, "
                             "кризисные сигналы, триггеры, доставки рассылок и всё остальное. Отменить нельзя. "
                             "Останется только запись о факте удаления — без имени и id."),
        })


@admin.register(ErasureRecord)
class ErasureRecordAdmin(ReadOnlyAdmin):
    list_display = ["erased_at", "initiator", "staff", "archive_rows_deleted", "cache_keys_deleted"]
    list_filter = ["initiator", "erased_at"]
    readonly_fields = ["erased_at", "initiator", "staff", "rows_deleted", "archive_rows_deleted",
                       "cache_keys_deleted"]

    def has_delete_permission(self, request, obj=None):
        return False
