"""Broadcasts in the admin: compose, preview, live audience count, test send, send, schedule,
cancel and a self-refreshing progress panel. Views parse input and call services only."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from relove.core.admin_utils import ReadOnlyAdmin
from relove.core.staff_tasks import staff_task_queue, staff_tasks_announce

from . import selectors, services
from .forms import BroadcastForm, StaffTelegramAccountForm, buttons_from_lines
from .models import Broadcast, BroadcastDelivery, StaffTelegramAccount
from .rendering import check_buttons, check_text, preview_html
from .services import staff
from .services.compose import EDITABLE
from .services.staff_link import LINK_CODE_TTL, staff_link_code_issue
from .tasks import test_send_for_staff

SEGMENT_FIELDS = ["segment_stages", "segment_streams", "segment_tags", "segment_gender", "segment_language",
                  "segment_active_within_days", "segment_consented_only"]
ACTION_BUTTONS = ("_test_send", "_send_now", "_schedule", "_cancel")


def segment_from_query(query) -> selectors.Segment:
    """The segment being edited on the change form (GET parameters named like the fields)."""
    def ids(name):
        return tuple(int(v) for v in query.getlist(name) if v.isdigit())

    days = query.get("segment_active_within_days", "")
    return selectors.Segment(
        stage_ids=ids("segment_stages"), stream_ids=ids("segment_streams"), tag_ids=ids("segment_tags"),
        gender=query.get("segment_gender", ""), language=query.get("segment_language", "").strip(),
        active_within_days=int(days) if days.isdigit() else None,
        consented_only=query.get("segment_consented_only") in ("on", "true", "1"),
    )


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    form = BroadcastForm
    change_form_template = "admin/broadcasts/broadcast/change_form.html"
    list_display = ["title", "status", "scheduled_at", "total", "sent", "failed", "blocked", "pending",
                    "created_by", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["title", "text"]
    filter_horizontal = ["segment_stages", "segment_streams", "segment_tags"]
    readonly_fields = ["status", "created_by", "created_at", "started_at", "finished_at", "cancelled_at"]
    fieldsets = [
        (None, {"fields": ["title", "text", "buttons", "photo"]}),
        (_("Аудитория"), {"fields": SEGMENT_FIELDS}),
        (_("Отправка"), {"fields": ["scheduled_at", "counts_against_budget", "status", "created_by",
                                    "created_at", "started_at", "finished_at", "cancelled_at"]}),
    ]

    def get_queryset(self, request):
        return selectors.broadcasts_with_counts().select_related("created_by")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status not in EDITABLE:
            return [f for _name, opts in self.fieldsets for f in opts["fields"]]
        return self.readonly_fields

    @admin.display(description=_("получателей"), ordering="total")
    def total(self, obj):
        return obj.total

    @admin.display(description=_("доставлено"), ordering="sent")
    def sent(self, obj):
        return obj.sent

    @admin.display(description=_("ошибки"))
    def failed(self, obj):
        return obj.failed

    @admin.display(description=_("заблокировали"))
    def blocked(self, obj):
        return obj.blocked

    @admin.display(description=_("в очереди"))
    def pending(self, obj):
        return obj.pending

    # --- saving and the action buttons -----------------------------------------------------
    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        elif obj.status not in EDITABLE and not form.changed_data:
            return  # a started broadcast: the page is read-only, only its buttons act
        try:
            services.broadcast_save(broadcast=obj, photo_changed="photo" in form.changed_data)
        except services.BroadcastError as exc:
            self.message_user(request, str(exc), messages.ERROR)

    def response_add(self, request, obj, post_url_continue=None):
        return self._maybe_act(request, obj) or super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        return self._maybe_act(request, obj) or super().response_change(request, obj)

    def _maybe_act(self, request, obj):
        action = next((name for name in ACTION_BUTTONS if name in request.POST), None)
        if action is None:
            return None
        try:
            if action == "_test_send":  # Telegram is called by a worker, not by this request
                staff_task_queue(kind=staff.TEST_SEND, requested_by=request.user, task=test_send_for_staff,
                                 params={"broadcast_id": obj.pk}, target=staff.broadcast_target(obj.pk))
                self.message_user(request, _("Тест поставлен в очередь: итог появится на этой странице."),
                                  messages.INFO)
            elif action == "_send_now":
                total = services.broadcast_send_now(broadcast_id=obj.pk)
                self.message_user(request, _("Рассылка запущена: %(n)s получателей.") % {"n": total},
                                  messages.SUCCESS)
            elif action == "_schedule":
                if obj.scheduled_at is None:
                    raise services.BroadcastError("Укажите время отправки в поле «Отправить в».")
                services.broadcast_schedule(broadcast_id=obj.pk, at=obj.scheduled_at)
                self.message_user(request, _("Рассылка запланирована."), messages.SUCCESS)
            elif action == "_cancel":
                if services.broadcast_cancel(broadcast_id=obj.pk):
                    self.message_user(request, _("Рассылка отменена."), messages.WARNING)
                else:
                    self.message_user(request, _("Отменять нечего: рассылка уже завершена."), messages.INFO)
        except (services.BroadcastError, ValidationError) as exc:
            self.message_user(request, "; ".join(getattr(exc, "messages", [str(exc)])), messages.ERROR)
        return HttpResponseRedirect(reverse("admin:broadcasts_broadcast_change", args=[obj.pk]))

    # --- the change form's panels -----------------------------------------------------------
    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            staff_tasks_announce(request=request, kinds=(staff.TEST_SEND,), target=staff.broadcast_target(obj.pk))
        context.update(
            preview=preview_html(obj.text if obj else "", obj.buttons if obj else [], photo=bool(obj and obj.photo)),
            has_photo=bool(obj and obj.photo),
            editable=obj is None or obj.status in EDITABLE,
            broadcast=obj,
            audience_count=selectors.audience_count(segment=selectors.segment_of(obj)) if obj else None,
            audience_url=reverse("admin:broadcasts_broadcast_audience"),
            preview_url=reverse("admin:broadcasts_broadcast_preview"),
            progress_url=reverse("admin:broadcasts_broadcast_progress", args=[obj.pk]) if obj else "",
            progress=selectors.broadcast_progress(broadcast=obj) if obj else None,
            staff_account=StaffTelegramAccount.objects.filter(user=request.user).first(),
            staff_account_url=reverse("admin:broadcasts_stafftelegramaccount_changelist"),
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("audience-count/", view(self.audience_view), name="broadcasts_broadcast_audience"),
            path("preview/", view(self.preview_view), name="broadcasts_broadcast_preview"),
            path("<int:broadcast_id>/progress/", view(self.progress_view), name="broadcasts_broadcast_progress"),
            *super().get_urls(),
        ]

    def audience_view(self, request):
        """Live audience size for the segment currently on the form."""
        if request.method != "GET" or not self.has_view_or_change_permission(request):
            return JsonResponse({"detail": "forbidden"}, status=403)
        return JsonResponse({"count": selectors.audience_count(segment=segment_from_query(request.GET))})

    def preview_view(self, request):
        """The text and buttons on the form, rendered as Telegram shows them, plus problems."""
        if request.method != "POST" or not self.has_view_or_change_permission(request):
            return JsonResponse({"detail": "forbidden"}, status=403)
        text = request.POST.get("text", "")
        buttons = buttons_from_lines(request.POST.get("buttons", ""))
        errors = check_text(text, has_photo=request.POST.get("has_photo") == "1") + check_buttons(buttons)
        html = preview_html(text, buttons, photo=request.POST.get("has_photo") == "1")
        return JsonResponse({"html": str(html), "errors": errors})

    def progress_view(self, request, broadcast_id):
        """Counts, rate and ETA for the progress panel (polled every few seconds)."""
        if request.method != "GET" or not self.has_view_or_change_permission(request):
            return JsonResponse({"detail": "forbidden"}, status=403)
        broadcast = get_object_or_404(Broadcast, pk=broadcast_id)
        return JsonResponse(selectors.broadcast_progress(broadcast=broadcast))


@admin.register(BroadcastDelivery)
class BroadcastDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["broadcast", "user", "status", "attempts", "sent_at", "last_error"]
    list_filter = ["status", "broadcast"]
    search_fields = ["=user__telegram_id", "user__search_tokens__matches"]
    list_select_related = ["broadcast", "user"]


@admin.register(StaffTelegramAccount)
class StaffTelegramAccountAdmin(admin.ModelAdmin):
    """Where each staff member receives test sends; staff see only their own. The id is set
    only by the bot, from the account that sent the link code (``/staff CODE``)."""

    form = StaffTelegramAccountForm
    list_display = ["user", "telegram_id", "verified_at", "updated_at"]
    change_list_template = "admin/broadcasts/stafftelegramaccount/change_list.html"

    def get_urls(self):
        return [path("link/", self.admin_site.admin_view(self.link_view), name="broadcasts_staff_link"),
                *super().get_urls()]

    def link_view(self, request):
        """Issue a one-time code and tell the staff member what to send the bot."""
        code = staff_link_code_issue(staff_user=request.user)
        return TemplateResponse(request, "admin/broadcasts/staff_link.html", {
            **self.admin_site.each_context(request), "title": _("Привязать Telegram"), "code": code,
            "minutes": LINK_CODE_TTL // 60, "opts": self.model._meta})

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("user")
        return qs if request.user.is_superuser else qs.filter(user=request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if not request.user.is_superuser and "user" in form.base_fields:
            form.base_fields["user"].queryset = form.base_fields["user"].queryset.filter(pk=request.user.pk)
            form.base_fields["user"].initial = request.user.pk
        return form

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request) and (obj is None or obj.user_id == request.user.pk
                                                        or request.user.is_superuser)

    has_change_permission = has_view_permission
    has_delete_permission = has_view_permission

    def has_add_permission(self, request):
        return False  # linked from the bot with a code (see link_view)

    def get_readonly_fields(self, request, obj=None):
        return ["user", "telegram_id", "verified_at"]
