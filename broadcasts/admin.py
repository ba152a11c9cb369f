"""Broadcasts in the admin: compose, preview, live audience count, test send, send, schedule,
cancel and a self-refreshing progress panel. Views parse input and call services only."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from relove.core import liveness
from relove.core.admin_utils import ModelAdmin, ReadOnlyAdmin
from relove.core.staff_tasks import staff_task_queue, staff_tasks_announce

from . import selectors, services
from .composer import compose_state, recipients_phrase, segment_from_cleaned
from .forms import BroadcastForm, SavedSegmentForm, StaffTelegramAccountForm
from .models import Broadcast, BroadcastDelivery, SavedSegment, StaffTelegramAccount
from .services import staff
from .services.compose import EDITABLE, NO_TOKEN
from .services.segments import segment_save
from .services.staff_link import LINK_CODE_TTL, staff_link_code_issue
from .tasks import test_send_for_staff

SEGMENT_FIELDS = ["segment_stages", "segment_streams", "segment_tags", "segment_gender", "segment_language",
                  "segment_active_within_days", "segment_consented_only"]
ACTION_BUTTONS = ("_test_send", "_send_now", "_schedule", "_cancel")
WORKER_DOWN = "воркер не запущен — рассылка ждёт в очереди и уйдёт, когда он запустится"


@admin.register(Broadcast)
class BroadcastAdmin(ModelAdmin):
    form = BroadcastForm
    change_form_template = "admin/broadcasts/broadcast/change_form.html"
    list_display = ["title", "status", "scheduled_at", "total", "sent", "failed", "blocked", "pending",
                    "created_by", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["title", "text"]
    readonly_fields = ["status", "created_by", "created_at", "started_at", "finished_at", "cancelled_at"]
    fieldsets = [
        (None, {"fields": ["title", "text", "buttons", "photo"]}),
        (_("Аудитория"), {"fields": ["saved_segment", *SEGMENT_FIELDS]}),
        (_("Когда"), {"fields": ["scheduled_at", "local_time", "local_date", "counts_against_budget"]}),
        (_("Статус"), {"fields": ["status", "created_by", "created_at", "started_at", "finished_at",
                                  "cancelled_at"]}),
    ]

    def get_queryset(self, request):
        return selectors.broadcasts_with_counts().select_related("created_by")

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # nothing to say about the status of a broadcast being written
            return self.fieldsets[:-1]
        if obj is not None and obj.status not in EDITABLE:  # read-only: buttons as buttons, no segment picker
            return [(name, {"fields": [{"buttons": "buttons_shown"}.get(f, f) for f in opts["fields"]
                                       if f != "saved_segment"]}) for name, opts in self.fieldsets]
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status not in EDITABLE:
            return [f for _name, opts in self.get_fieldsets(request, obj) for f in opts["fields"]]
        return self.readonly_fields

    @admin.display(description=_("кнопки"))
    def buttons_shown(self, obj):
        if not obj.buttons:
            return "—"
        return format_html('<div class="bc-shown-buttons">{}</div>', format_html_join(
            "", '<span class="bc-shown-button" title="{}">{}{}</span>',
            ((b.get("url") or f"ответ: {b.get('reply', '')}", b.get("text", ""), " ↗" if b.get("url") else "")
             for b in obj.buttons if isinstance(b, dict))))

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

    # --- protected records --------------------------------------------------------------------
    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or services.broadcast_deletable(obj))

    def get_deleted_objects(self, objs, request):
        """A started broadcast is listed as protected, with why, not as a missing permission."""
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        kept = [f"{b} — {b.get_status_display()}: рассылку, которая уже отправлялась, удалить нельзя"
                for b in objs if not services.broadcast_deletable(b)]
        if kept and super().has_delete_permission(request):
            perms_needed = set()  # refused anyway; the protected list says why (not "no permission")
        return deleted, model_count, perms_needed, [*protected, *kept]

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
            self._act(request, obj, action)
        except (services.BroadcastError, ValidationError) as exc:
            self.message_user(request, "; ".join(getattr(exc, "messages", [str(exc)])), messages.ERROR)
        return HttpResponseRedirect(reverse("admin:broadcasts_broadcast_change", args=[obj.pk]))

    def _act(self, request, obj, action):
        if action == "_test_send":  # Telegram is called by a worker, not by this request
            if not settings.TELEGRAM_BOT_TOKEN:
                raise services.BroadcastError(NO_TOKEN)
            staff_task_queue(kind=staff.TEST_SEND, requested_by=request.user, task=test_send_for_staff,
                             params={"broadcast_id": obj.pk}, target=staff.broadcast_target(obj.pk))
            if liveness.worker_alive():
                self.message_user(request, _("Тест поставлен в очередь: итог появится на этой странице."),
                                  messages.INFO)
            else:
                self.message_user(request, "Тест в очереди, но воркер не запущен — тест уйдёт, когда он запустится.",
                                  messages.WARNING)
        elif action == "_send_now":
            if not settings.TELEGRAM_BOT_TOKEN:
                raise services.BroadcastError(f"{NO_TOKEN} Рассылка не запущена.")
            total = services.broadcast_send_now(broadcast_id=obj.pk)
            done = f"Рассылка запущена: {recipients_phrase(total)}."
            if not liveness.worker_alive():
                self.message_user(request, f"{done} Но {WORKER_DOWN}.", messages.WARNING)
            else:
                self.message_user(request, done, messages.SUCCESS)
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

    # --- the change form's panels -----------------------------------------------------------
    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            staff_tasks_announce(request=request, kinds=(staff.TEST_SEND,), target=staff.broadcast_target(obj.pk))
        editable = obj is None or obj.status in EDITABLE
        if obj is not None:
            state = compose_state(text=obj.text, buttons=obj.buttons, has_photo=bool(obj.photo),
                                  segment=selectors.segment_of(obj), local_time=obj.local_time,
                                  local_date=obj.local_date)
        else:
            state = compose_state(text="", buttons=[], has_photo=False, segment=selectors.Segment(),
                                  local_time=None, local_date=None)
        context.update(
            state=state,
            preview=state["html"],
            has_photo=bool(obj and obj.photo),
            editable=editable,
            broadcast=obj,
            compose_url=reverse("admin:broadcasts_broadcast_compose") + (f"?id={obj.pk}" if obj else ""),
            segment_save_url=reverse("admin:broadcasts_broadcast_segment_save"),
            can_save_segment=request.user.has_perm("broadcasts.add_savedsegment"),
            saved_segments=selectors.saved_segments_for_form() if editable else [],
            progress_url=reverse("admin:broadcasts_broadcast_progress", args=[obj.pk]) if obj else "",
            progress=selectors.broadcast_progress(broadcast=obj) if obj else None,
            problems=selectors.broadcast_problems(broadcast=obj) if obj else [],
            local_waiting=selectors.local_waiting(broadcast=obj) if obj else None,
            staff_account=StaffTelegramAccount.objects.filter(user=request.user).first(),
            staff_account_url=reverse("admin:broadcasts_stafftelegramaccount_changelist"),
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("compose/", view(self.compose_view), name="broadcasts_broadcast_compose"),
            path("segment/", view(self.segment_save_view), name="broadcasts_broadcast_segment_save"),
            path("<int:broadcast_id>/progress/", view(self.progress_view), name="broadcasts_broadcast_progress"),
            *super().get_urls(),
        ]

    def _bound_form(self, request):
        """The change form bound to the posted data, for a new or an editable broadcast (else None)."""
        obj = None
        if request.GET.get("id", "").isdigit():
            obj = Broadcast.objects.filter(pk=int(request.GET["id"])).first()
            if obj is None or obj.status not in EDITABLE:
                return None
        form_class = self.get_form(request, obj, change=obj is not None)
        form = form_class(data=request.POST, instance=obj or Broadcast())
        form.is_valid()  # cleaned_data then holds every field that validated
        return form

    def compose_view(self, request):
        """Preview, problems, audience count and forecast for the unsaved form (before the first save too)."""
        if request.method != "POST" or not (self.has_add_permission(request) or self.has_change_permission(request)):
            return JsonResponse({"detail": "forbidden"}, status=403)
        form = self._bound_form(request)
        if form is None:
            return JsonResponse({"detail": "Рассылка уже отправляется или завершена."}, status=409)
        cleaned = form.cleaned_data
        has_photo = request.POST.get("has_photo") == "1"
        buttons = form.fields["buttons"].widget.value_from_datadict(request.POST, None, "buttons")
        state = compose_state(text=request.POST.get("text", ""), buttons=buttons, has_photo=has_photo,
                              segment=segment_from_cleaned(cleaned), local_time=cleaned.get("local_time"),
                              local_date=cleaned.get("local_date"))
        if "local_time" in form.errors:  # outside the window, or not a time: say so, forecast nothing
            state["local_errors"] = list(form.errors["local_time"])
        return JsonResponse(state)

    def segment_save_view(self, request):
        """Keep the audience on the form as a named segment."""
        if request.method != "POST" or not request.user.has_perm("broadcasts.add_savedsegment"):
            return JsonResponse({"detail": "forbidden"}, status=403)
        form = self._bound_form(request)
        if form is None:
            return JsonResponse({"detail": "Рассылка уже отправляется или завершена."}, status=409)
        try:
            saved = segment_save(name=request.POST.get("segment_name", ""),
                                 segment=segment_from_cleaned(form.cleaned_data), created_by=request.user)
        except ValidationError as exc:
            return JsonResponse({"errors": exc.messages}, status=400)
        return JsonResponse({"id": saved.pk, "name": saved.name, "segments": selectors.saved_segments_for_form()})

    def progress_view(self, request, broadcast_id):
        """Counts, rate, ETA and what holds it up, for the progress panel (polled every few seconds)."""
        if request.method != "GET" or not self.has_view_or_change_permission(request):
            return JsonResponse({"detail": "forbidden"}, status=403)
        broadcast = get_object_or_404(Broadcast, pk=broadcast_id)
        return JsonResponse({**selectors.broadcast_progress(broadcast=broadcast),
                             "problems": selectors.broadcast_problems(broadcast=broadcast),
                             "local_waiting": selectors.local_waiting(broadcast=broadcast)})


@admin.register(SavedSegment)
class SavedSegmentAdmin(ModelAdmin):
    """Audiences kept under a name; the broadcast composer fills its filters from them."""

    form = SavedSegmentForm
    list_display = ["name", "filters", "audience_now", "created_by", "updated_at"]
    search_fields = ["name"]
    readonly_fields = ["created_by", "updated_at", "audience_now"]
    fields = ["name", "stages", "streams", "tags", "gender", "language", "active_within_days", "consented_only",
              "audience_now", "created_by", "updated_at"]

    @admin.display(description=_("условия"))
    def filters(self, obj):
        return selectors.segment_summary(selectors.segment_of_saved(obj))

    @admin.display(description=_("участников сейчас"))
    def audience_now(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        return selectors.audience_count(segment=selectors.segment_of_saved(obj))

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(BroadcastDelivery)
class BroadcastDeliveryAdmin(ReadOnlyAdmin):
    """Delivery rows are the record of who got what: never edited or deleted by hand."""

    list_display = ["broadcast", "user", "status", "attempts", "next_attempt_at", "sent_at", "error"]
    list_filter = ["status", "broadcast"]
    search_fields = ["=user__telegram_id", "user__search_tokens__matches"]
    list_select_related = ["broadcast", "user"]

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("ошибка"), ordering="last_error")
    def error(self, obj):
        """What went wrong in words (Telegram's own, or what to check), never an exception class."""
        return selectors.telegram_said(obj.last_error) if obj.last_error else ""


@admin.register(StaffTelegramAccount)
class StaffTelegramAccountAdmin(ModelAdmin):
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
