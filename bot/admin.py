from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextareaWidget

from journeys.models import JourneyStage
from profiles.admin import stage_filter, stage_label
from relove import llm
from relove.core.admin_forms import LineListAdminMixin, LineListField
from relove.core.admin_time import admin_zone_label
from relove.core.admin_utils import (
    CONVERSATION_PERMISSION,
    HistoryAdmin,
    ModelAdmin,
    PersonalDataAdminMixin,
    ReadOnlyAdmin,
    html_table,
)
from relove.core.models import StaffTask
from relove.core.staff_tasks import staff_task_queue

from . import telegram_html, template_keys
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
from .services import safety, sandbox
from .services.natasha import prompt_text
from .tasks import prompt_sandbox_for_staff
from .template_keys import check_prompt

# A comparison takes seconds; this long without an answer means no worker is taking tasks.
SANDBOX_STALLED_AFTER = timedelta(minutes=2)


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

    def has_delete_permission(self, request, obj=None):
        return False  # the conversation is the record; members' data goes through erasure

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


def chat_bubble(markup: str, quick_replies: list[str]):
    """A message as a Telegram chat bubble with its quick-reply buttons, safe for an admin page."""
    buttons = format_html_join("", '<div class="tg-button">{}</div>', ((r,) for r in quick_replies))
    return format_html('<div class="tg-preview"><div class="tg-bubble">{}</div><div class="tg-buttons">{}</div></div>',
                       telegram_html.preview(markup), buttons)


class MessageTemplateForm(forms.ModelForm):
    key = forms.ChoiceField(label=_("Ключ"), widget=UnfoldAdminSelectWidget,
                            choices=[(k.key, f"{k.title} ({k.key})") for k in template_keys.KEYS.values()])

    class Meta:
        model = MessageTemplate
        fields = ["key", "stage", "text", "quick_replies", "is_active"]


class TemplateKeyFilter(admin.SimpleListFilter):
    title = _("ключ")
    parameter_name = "key"

    def lookups(self, request, model_admin):
        return [(k.key, k.title) for k in template_keys.KEYS.values()]

    def queryset(self, request, queryset):
        return queryset.filter(key=self.value()) if self.value() else queryset


@admin.register(MessageTemplate)
class MessageTemplateAdmin(LineListAdminMixin, HistoryAdmin):
    """Natasha's ready words: checked on save (Telegram HTML, placeholders) with a live preview."""

    form = MessageTemplateForm
    list_display = ["title", "key", "stage", "is_active", "short_text", "updated_at"]
    list_display_links = ["title", "key"]
    list_filter = [TemplateKeyFilter, "stage", "is_active"]
    list_editable = ["is_active"]
    search_fields = ["key", "text"]
    list_select_related = ["stage"]
    line_list_fields = ("quick_replies",)
    change_form_template = "admin/bot/messagetemplate/change_form.html"

    class Media:
        css = {"all": ["relove/editors.css"]}
        js = ["relove/template_preview.js"]

    @admin.display(description=_("назначение"), ordering="key")
    def title(self, obj):
        return template_keys.key_title(obj.key)

    @admin.display(description=_("текст"))
    def short_text(self, obj):
        return obj.text[:80]

    def get_urls(self):
        return [path("preview/", self.admin_site.admin_view(self.preview_view), name="bot_messagetemplate_preview"),
                *super().get_urls()]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra = {"preview_url": reverse("admin:bot_messagetemplate_preview"),
                 "template_keys": template_keys.described()}
        return super().changeform_view(request, object_id, form_url, extra_context={**(extra_context or {}), **extra})

    def preview_view(self, request):
        """The template as a member would see it, filled with sample values, and what is wrong with it (JSON)."""
        if request.method != "POST" or not self.has_view_permission(request):
            raise PermissionDenied
        key, text = request.POST.get("key", ""), request.POST.get("text", "")
        replies = LineListField().clean(request.POST.get("quick_replies", ""))
        errors = template_keys.check_template(key=key, text=text, quick_replies=replies)
        return JsonResponse({
            "html": chat_bubble(template_keys.render_sample(text), replies),
            "errors": [message for field_errors in errors.values() for message in field_errors],
        })


class SandboxForm(forms.Form):
    """The prompt sandbox's question: which prompt, on which stage, for which conversation, with what draft."""

    key = forms.ChoiceField(label=_("Промпт"), widget=UnfoldAdminSelectWidget,
                            choices=[(key, PersonaPrompt.Key(key).label) for key in sandbox.SANDBOX_KEYS])
    stage = forms.ModelChoiceField(label=_("Этап участника"), queryset=JourneyStage.objects.order_by("order"),
                                   widget=UnfoldAdminSelectWidget, empty_label=None)
    session = forms.TypedChoiceField(label=_("Недавний разговор (обезличенный)"), required=False, coerce=int,
                                     empty_value=None, widget=UnfoldAdminSelectWidget,
                                     help_text=_("Имена, ник, Telegram id, телефоны, почта и ссылки заменяются "
                                                 "пометками. Если выбран — написанный ниже разговор не нужен."))
    conversation = forms.CharField(
        label=_("Или свой разговор"), required=False, widget=UnfoldAdminTextareaWidget(attrs={"rows": 6}),
        help_text=_("По реплике на строку: «Участник: …» или «Наташа: …» (строка без имени — слова участника). "
                    "Наташа отвечает на последнюю реплику участника."))
    draft = forms.CharField(label=_("Черновик промпта"), widget=UnfoldAdminTextareaWidget(attrs={"rows": 16}),
                            help_text=_("Формат ответа (JSON) добавляет программа — его писать не нужно."))

    def __init__(self, *args, may_read_conversations: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if may_read_conversations:
            self.fields["session"].choices = [("", _("— не выбран, напишу сам(а) —")), *sandbox.sandbox_sessions()]
        else:
            del self.fields["session"]  # without the conversation permission: only a typed conversation

    def clean_draft(self):
        draft = self.cleaned_data["draft"]
        if errors := check_prompt(draft):
            raise forms.ValidationError(errors)
        return draft

    def clean(self):
        data = super().clean()
        if not data.get("session"):
            try:
                data["turns"] = sandbox.check_typed_conversation(data.get("conversation", ""))
            except ValidationError as exc:
                self.add_error("conversation", exc)
        return data


@admin.register(PersonaPrompt)
class PersonaPromptAdmin(HistoryAdmin):
    """System prompts, checked on save; the sandbox compares a draft with the saved text before publishing."""

    list_display = ["key", "updated_at", "sandbox_link"]
    search_fields = ["text"]

    @admin.display(description=_("песочница"))
    def sandbox_link(self, obj):
        if obj.key not in sandbox.SANDBOX_KEYS:
            return "—"
        return format_html('<a href="{}?key={}">{}</a>', reverse("admin:bot_personaprompt_sandbox"), obj.key,
                           _("сравнить черновик"))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("sandbox/", view(self.sandbox_view), name="bot_personaprompt_sandbox"),
            path("sandbox/<int:task_id>/", view(self.sandbox_result_view), name="bot_personaprompt_sandbox_result"),
            path("sandbox/<int:task_id>/publish/", view(self.sandbox_publish_view),
                 name="bot_personaprompt_sandbox_publish"),
            *super().get_urls(),
        ]

    def _sandbox_context(self, request, **extra):
        key_name = "ANTHROPIC_API_KEY" if settings.LLM_PROVIDER == "anthropic" else "OPENAI_API_KEY"
        return {**self.admin_site.each_context(request), "opts": self.model._meta,
                "title": _("Песочница промпта"), "llm_key_name": key_name, **extra}

    def _own_sandbox_task(self, request, task_id: int) -> StaffTask:
        if not self.has_change_permission(request):
            raise PermissionDenied
        return get_object_or_404(StaffTask, pk=task_id, kind=sandbox.SANDBOX, requested_by=request.user)

    def sandbox_view(self, request):
        """Pick a prompt, a stage and a conversation, edit the draft; the comparison is queued for a worker."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        may_read = request.user.has_perm(CONVERSATION_PERMISSION)
        if request.method == "POST":
            if request.POST.get("session") and not may_read:
                raise PermissionDenied  # a forged choice: this staff member may not read conversations
            form = SandboxForm(request.POST, may_read_conversations=may_read)
            if form.is_valid():
                data = form.cleaned_data
                current = prompt_text(data["key"])
                task = staff_task_queue(
                    kind=sandbox.SANDBOX, requested_by=request.user, task=prompt_sandbox_for_staff, target=data["key"],
                    params={"key": data["key"], "stage": data["stage"].order, "draft": data["draft"],
                            "session_id": data.get("session"), "turns": [] if data.get("session") else data["turns"],
                            "base": sandbox.prompt_fingerprint(current)})
                return redirect(reverse("admin:bot_personaprompt_sandbox_result", args=[task.pk]))
        else:
            form = SandboxForm(initial=self._sandbox_initial(request), may_read_conversations=may_read)
        return TemplateResponse(request, "admin/bot/personaprompt/sandbox.html", self._sandbox_context(
            request, form=form, may_read=may_read, llm_enabled=llm.llm_enabled()))

    def _sandbox_initial(self, request) -> dict:
        """A fresh draft starts from the saved prompt; «edit again» starts from the previous run."""
        previous = request.GET.get("from", "")
        if previous.isdigit():
            task = StaffTask.objects.filter(pk=int(previous), kind=sandbox.SANDBOX, requested_by=request.user).first()
            if task is not None:
                params = task.params
                return {"key": params["key"], "stage": JourneyStage.objects.filter(order=params["stage"]).first(),
                        "session": params.get("session_id"), "draft": params["draft"],
                        "conversation": "\n".join(f"{'Наташа' if t['role'] == 'assistant' else 'Участник'}: "
                                                  f"{t['content']}" for t in params.get("turns") or [])}
        key = request.GET.get("key")
        key = key if key in sandbox.SANDBOX_KEYS else PersonaPrompt.Key.PERSONA
        return {"key": key, "draft": prompt_text(key), "stage": JourneyStage.objects.order_by("order").first()}

    def sandbox_result_view(self, request, task_id: int):
        """Both replies side by side once the worker has them; until then the page refreshes itself."""
        task = self._own_sandbox_task(request, task_id)
        ready = task.status in (StaffTask.Status.DONE, StaffTask.Status.FAILED)
        result = task.result or {}
        replies = [{"title": title, "source": item.get("source"), "quick_replies": item.get("quick_replies", []),
                    "html": telegram_html.preview(item.get("html", ""))}
                   for title, item in ((_("Сейчас (сохранённый промпт)"), result.get("current")),
                                       (_("Черновик"), result.get("draft"))) if item]
        current = prompt_text(task.params["key"])
        return TemplateResponse(request, "admin/bot/personaprompt/sandbox_result.html", self._sandbox_context(
            request, task=task, ready=ready, replies=replies, turns=result.get("turns", []),
            llm_used=result.get("llm"), draft=task.params["draft"],
            key_label=PersonaPrompt.Key(task.params["key"]).label,
            stale=sandbox.prompt_fingerprint(current) != task.params.get("base"),
            unchanged=current == task.params["draft"],
            stalled=not ready and task.created_at < timezone.now() - SANDBOX_STALLED_AFTER,
            publish_url=reverse("admin:bot_personaprompt_sandbox_publish", args=[task.pk]),
            edit_url=reverse("admin:bot_personaprompt_sandbox") + f"?from={task.pk}"))

    def sandbox_publish_view(self, request, task_id: int):
        """Publish the compared draft: saved with a history version naming the staff member."""
        task = self._own_sandbox_task(request, task_id)
        if request.method != "POST":
            raise PermissionDenied
        key = task.params["key"]
        try:
            prompt = sandbox.persona_prompt_publish(key=key, text=task.params["draft"], staff=request.user,
                                                    expected_fingerprint=task.params.get("base"))
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return redirect(reverse("admin:bot_personaprompt_sandbox_result", args=[task.pk]))
        self.message_user(request, _("Промпт «%(key)s» опубликован; прежняя версия — в истории.")
                          % {"key": prompt.get_key_display()}, messages.SUCCESS)
        return redirect(reverse("admin:bot_personaprompt_history", args=[prompt.pk]))


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

    def has_delete_permission(self, request, obj=None):
        # The record of a crisis and of how staff handled it is never deleted by hand; a
        # member's alerts go only with the member's erasure (privacy.services), not this admin.
        return False

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

    def has_delete_permission(self, request, obj=None):
        return False  # the audit of who changed a member's flags


@admin.register(OutboundMessage)
class OutboundMessageAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["kind", "chat_id", "status", "attempts", "next_attempt_at", "last_error", "created_at", "sent_at"]
    list_filter = ["kind", "status"]
    personal_fields = ("text",)

    def has_delete_permission(self, request, obj=None):
        return False  # the delivery record of what the bot sent (and the dedupe key that stops a resend)


@admin.register(OperationalFailure)
class OperationalFailureAdmin(ReadOnlyAdmin):
    """What failed in the background, by the hour: the task or component and the error class."""

    list_display = ["last_at", "source", "error_class", "count", "first_at", "alerted"]
    list_filter = ["source", "error_class", "alerted"]
    date_hierarchy = "hour"
