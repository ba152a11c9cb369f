from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextareaWidget

from profiles.admin import stage_filter, stage_label
from relove.core.admin_time import admin_zone_label
from relove.core.admin_utils import (
    CONVERSATION_PERMISSION,
    HistoryAdmin,
    ModelAdmin,
    PersonalDataAdminMixin,
    ReadOnlyAdmin,
    html_table,
)

from .models import (
    CrisisAlert,
    CrisisContact,
    CrisisNote,
    MemberFlagChange,
    MessageTemplate,
    OperationalFailure,
    OutboundMessage,
    PersonaPrompt,
    ProcessedUpdate,
    UserSession,
)
from .safety.detector import CATEGORY_LABELS
from .services import safety


@admin.register(UserSession)
class UserSessionAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["user", "status", "message_count", "stage", "started_at", "last_activity_at",
                    "ended_at", "end_reason"]
    list_filter = ["status", "end_reason", stage_filter("stage_snapshot", _("текущий этап")), "started_at"]
    search_fields = ["=user__telegram_id", "user__search_tokens__matches"]
    list_select_related = ["user"]
    date_hierarchy = "started_at"
    personal_permission = CONVERSATION_PERMISSION
    personal_fields = ("summary", "history_table")
    readonly_fields = ["history_table"]

    @admin.display(description=_("текущий этап"), ordering="stage_snapshot")
    def stage(self, obj):
        return stage_label(obj.stage_snapshot)

    @admin.display(description=_("переписка"))
    def history_table(self, obj):
        rows = [(timezone.localtime(t.created_at).strftime("%Y-%m-%d %H:%M"), t.get_role_display(), t.content)
                for t in obj.turns.order_by("position")]
        return html_table([_("время"), _("кто"), _("текст")], rows)


@admin.register(ProcessedUpdate)
class ProcessedUpdateAdmin(ReadOnlyAdmin):
    list_display = ["update_id", "received_at"]
    search_fields = ["=update_id"]
    date_hierarchy = "received_at"


@admin.register(PersonaPrompt)
class PersonaPromptAdmin(HistoryAdmin):
    list_display = ["key", "updated_at"]
    search_fields = ["text"]


@admin.register(MessageTemplate)
class MessageTemplateAdmin(HistoryAdmin):
    list_display = ["key", "stage", "is_active", "short_text", "updated_at"]
    list_filter = ["key", "stage", "is_active"]
    list_editable = ["is_active"]
    search_fields = ["key", "text"]
    list_select_related = ["stage"]

    @admin.display(description=_("текст"))
    def short_text(self, obj):
        return obj.text[:80]


@admin.register(CrisisContact)
class CrisisContactAdmin(ModelAdmin):
    list_display = ["name", "phone", "order", "is_active"]
    list_editable = ["order", "is_active"]


STATUS_COLOURS = {CrisisAlert.Status.NEW: "#ba2121", CrisisAlert.Status.IN_PROGRESS: "#c77c02",
                  CrisisAlert.Status.RESOLVED: "#417690"}


DETECTED_BY_LABELS = {"keywords": _("по словам в сообщении"), "llm": _("языковой моделью"),
                      "staff": _("сотрудником")}


class CrisisWorkflowForm(forms.Form):
    note = forms.CharField(label=_("Заметка"), required=False, widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}))
    assignee = forms.ModelChoiceField(label=_("Ответственный"), required=False, widget=UnfoldAdminSelectWidget,
                                      queryset=get_user_model().objects.filter(is_staff=True, is_active=True))


class FlagChangeForm(forms.Form):
    reason = forms.CharField(label=_("Причина (обязательно)"), widget=forms.Textarea(attrs={"rows": 3, "cols": 80}))


@admin.register(CrisisAlert)
class CrisisAlertAdmin(PersonalDataAdminMixin, ModelAdmin):
    """The crisis workflow: new → in progress (assignee, notes) → resolved (a note is required)."""

    list_display = ["user", "status_badge", "category_label", "acute", "detected_by", "signals", "assignee",
                    "created_at", "last_signal_at", "resolved_at"]
    list_filter = ["status", "acute", "detected_by", "category", "assignee", "created_at"]
    search_fields = ["=user__telegram_id", "user__search_tokens__matches"]
    list_select_related = ["user", "assignee", "resolved_by"]
    # Open alerts first (PostgreSQL puts NULLs last in ascending order), newest first.
    ordering = [F("resolved_at").asc(nulls_first=True), "-created_at"]
    fieldsets = [
        (_("Сигнал"), {"classes": ["tab"], "fields": ["user", "status", "assignee", "acute_label", "category_label",
                                                      "detected_label", "excerpt", "evidence"]}),
        (_("Хронология"), {"classes": ["tab"], "fields": ["created_at", "signals", "last_signal_at",
                                                          "helplines_sent_at", "staff_alerts", "staff_alerted_at",
                                                          "resolved_at", "resolved_by"]}),
    ]
    readonly_fields = [field for _title, options in fieldsets for field in options["fields"]]
    personal_fields = ("excerpt", "evidence")
    change_form_template = "admin/bot/crisisalert/change_form.html"
    actions = ["take_into_work"]

    def has_add_permission(self, request):
        return False  # alerts come from the gate or from "set crisis flag" on the member page

    # Deleting stays a Django permission (not granted to ordinary staff), not a hard "no":
    # erasing a member in the admin must be able to cascade over their alerts.

    @admin.display(description=_("статус"), ordering="status")
    def status_badge(self, obj):
        return format_html('<b style="color:{}">{}</b>', STATUS_COLOURS.get(obj.status, "#333"),
                           obj.get_status_display())

    @admin.display(description=_("острая опасность"), ordering="acute")
    def acute_label(self, obj):
        if obj.acute:
            return format_html('<span class="acute-yes">{}</span>', _("да — свяжитесь немедленно"))
        return _("нет")

    @admin.display(description=_("как обнаружено"), ordering="detected_by")
    def detected_label(self, obj):
        return DETECTED_BY_LABELS.get(obj.detected_by, obj.detected_by)

    @admin.display(description=_("категория"), ordering="category")
    def category_label(self, obj):
        if obj.detected_by == "llm":
            return _("оценка LLM")
        return CATEGORY_LABELS.get(obj.category, obj.category or "—")

    @admin.action(description=_("Взять в работу (ответственный — я)"), permissions=["change"])
    def take_into_work(self, request, queryset):
        taken = sum(safety.crisis_take(alert=alert, staff=request.user) for alert in queryset)
        self.message_user(request, _("Взято в работу: %d") % taken, messages.SUCCESS)

    def get_urls(self):
        return [
            path("<int:alert_id>/workflow/", self.admin_site.admin_view(self.workflow_view),
                 name="bot_crisisalert_workflow"),
            path("member/<int:user_id>/flag/<str:field>/<int:value>/", self.admin_site.admin_view(self.flag_view),
                 name="bot_member_flag"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        alert = self.get_object(request, object_id)
        extra = {"workflow_form": CrisisWorkflowForm(initial={"assignee": alert.assignee_id if alert else None}),
                 "zone_label": admin_zone_label()}
        if alert is not None:
            extra["notes"] = CrisisNote.objects.filter(alert=alert).select_related("author")
            extra["workflow_url"] = reverse("admin:bot_crisisalert_workflow", args=[alert.pk])
            extra["member_url"] = reverse("admin:profiles_telegramuser_change", args=[alert.user_id])
            if request.user.has_perm(CONVERSATION_PERMISSION):
                session = UserSession.objects.filter(user_id=alert.user_id).order_by("-started_at").first()
                if session is not None:
                    extra["conversation_url"] = reverse("admin:bot_usersession_change", args=[session.pk])
        return super().change_view(request, object_id, form_url, extra_context={**(extra_context or {}), **extra})

    def workflow_view(self, request, alert_id: int):
        """Take, assign, add a note or resolve (POST from the alert page)."""
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        alert = get_object_or_404(CrisisAlert, pk=alert_id)
        form = CrisisWorkflowForm(request.POST)
        form.is_valid()
        note, assignee = form.cleaned_data.get("note", ""), form.cleaned_data.get("assignee")
        action = request.POST.get("action")
        back = reverse("admin:bot_crisisalert_change", args=[alert.pk])
        try:
            if action == "take":
                safety.crisis_take(alert=alert, staff=request.user, assignee=assignee)
                if note.strip():
                    safety.crisis_note_add(alert=alert, author=request.user, text=note)
                self.message_user(request, _("Сигнал в работе."), messages.SUCCESS)
            elif action == "note":
                safety.crisis_note_add(alert=alert, author=request.user, text=note)
                self.message_user(request, _("Заметка добавлена."), messages.SUCCESS)
            elif action == "resolve":
                if safety.crisis_resolve(alert=alert, staff=request.user, note=note):
                    self.message_user(request, _("Сигнал разобран."), messages.SUCCESS)
                else:
                    self.message_user(request, _("Сигнал уже был разобран."), messages.WARNING)
            else:
                raise PermissionDenied
        except ValueError:
            self.message_user(request, _("Нужна заметка: что сделано и почему сигнал можно закрыть."),
                              messages.ERROR)
        return redirect(back)

    def flag_view(self, request, user_id: int, field: str, value: int):
        """Set or clear the crisis flag or "blocked" of a member, with a required reason."""
        from profiles.models import TelegramUser

        if field not in MemberFlagChange.Field.values or not self.has_change_permission(request):
            raise PermissionDenied
        member = get_object_or_404(TelegramUser, pk=user_id)
        member_url = reverse("admin:profiles_telegramuser_change", args=[member.pk])
        form = FlagChangeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            changed = safety.member_flag_set(user=member, field=field, value=bool(value), staff=request.user,
                                             reason=form.cleaned_data["reason"])
            self.message_user(request, _("Сохранено.") if changed else _("Ничего не изменилось."),
                              messages.SUCCESS if changed else messages.WARNING)
            return redirect(member_url)
        label = MemberFlagChange.Field(field).label
        title = (_("Поставить: %s") if value else _("Снять: %s")) % label
        return TemplateResponse(request, "admin/relove_member_action.html", {
            **self.admin_site.each_context(request), "title": title, "member": member, "member_url": member_url,
            "form": form, "submit_label": title,
            "description": _("Изменение записывается с вашим именем и причиной. Снятие кризисного флага "
                             "закрывает открытые кризисные сигналы участника с этой причиной как заметкой."),
        })


@admin.register(MemberFlagChange)
class MemberFlagChangeAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["user", "field", "value", "staff", "created_at"]
    list_filter = ["field", "value", "created_at"]
    search_fields = ["=user__telegram_id", "user__search_tokens__matches"]
    list_select_related = ["user", "staff"]
    personal_fields = ("reason",)


@admin.register(OutboundMessage)
class OutboundMessageAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["kind", "chat_id", "status", "attempts", "next_attempt_at", "last_error", "created_at", "sent_at"]
    list_filter = ["kind", "status"]
    personal_fields = ("text",)


@admin.register(OperationalFailure)
class OperationalFailureAdmin(ReadOnlyAdmin):
    """What failed in the background, by the hour: the task or component and the error class."""

    list_display = ["last_at", "source", "error_class", "count", "first_at", "alerted"]
    list_filter = ["source", "error_class", "alerted"]
    date_hierarchy = "hour"
