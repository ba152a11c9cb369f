from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from profiles.models import TelegramUser, UserInteraction
from relove.core import access
from relove.core.admin_forms import LineListAdminMixin
from relove.core.admin_utils import (
    HistoryAdmin,
    ModelAdmin,
    PersonalDataAdminMixin,
    ReadOnlyAdmin,
    TabularInline,
    html_table,
)
from relove.core.staff_tasks import staff_enqueue

from .models import (
    JourneyInsight,
    JourneyProgress,
    JourneyStage,
    Stream,
    StreamEnrollment,
    StreamStep,
    StreamStepDelivery,
)
from .recommendations import MAX_RECOMMENDATIONS, stream_scores
from .services import REASON_MAX, journey_set_stage, stream_programme_sync
from .tasks import analyse_member

MEMBER_CHANGE_PERMISSION = "profiles.change_telegramuser"


def stage_get_or_none(order: int | None) -> JourneyStage | None:
    return JourneyStage.objects.filter(order=order).first() if order else None


def _member_page(member: TelegramUser) -> str:
    return reverse("admin:profiles_telegramuser_change", args=[member.pk])


@admin.register(JourneyStage)
class JourneyStageAdmin(LineListAdminMixin, HistoryAdmin):
    list_display = ["order", "name", "min_confidence"]
    line_list_fields = ("quick_replies",)
    list_display_links = ["order", "name"]
    search_fields = ["name", "description"]
    ordering = ["order"]
    fieldsets = [
        (_("Этап"), {"classes": ["tab"], "fields": ["order", "name", "description", "min_confidence"]}),
        (_("Голос Наташи"), {"classes": ["tab"], "fields": ["style_prompt", "first_question", "quick_replies"]}),
    ]

    def has_add_permission(self, request):
        return False  # exactly 12 stages

    def has_delete_permission(self, request, obj=None):
        return False


class SetStageForm(forms.Form):
    stage = forms.ModelChoiceField(label=_("Этап"), queryset=JourneyStage.objects.order_by("order"))
    reason = forms.CharField(label=_("Причина"), max_length=REASON_MAX, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("Обязательно: почему этап меняется вручную"))
    notify = forms.BooleanField(
        label=_("Сообщить участнику"), required=False, initial=False,
        help_text=_("Участник получит поздравление с новым этапом и индикатором пути "
                    "(в пределах дневного лимита). По умолчанию — не сообщать."))


@admin.register(JourneyProgress)
class JourneyProgressAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["user", "previous_stage", "stage", "skipped_stages", "confidence", "source", "changed_by",
                    "created_at"]
    list_filter = ["stage", "source", "created_at"]
    search_fields = ["=user__telegram_id", "user__search_tokens__matches"]
    list_select_related = ["user", "stage", "previous_stage", "changed_by"]
    date_hierarchy = "created_at"
    personal_fields = ("evidence",)

    def has_delete_permission(self, request, obj=None):
        return False  # the stage history records who moved a member and why

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("member/<int:user_id>/set-stage/", view(self.set_stage_view), name="journeys_member_set_stage"),
            path("member/<int:user_id>/analyse/", view(self.analyse_view), name="journeys_member_analyse"),
            *super().get_urls(),
        ]

    def _context(self, request, member, **extra):
        return {**self.admin_site.each_context(request), "member": member, "member_url": _member_page(member),
                **extra}

    @staticmethod
    def _congratulations(member: TelegramUser) -> dict[str, str]:
        """Stage id -> what the member would be sent when moved there with "notify" on.

        Only forward moves are congratulated. The composer lives in triggers, found by name
        (journeys sits below it and does not import it).
        """
        preview = import_string("triggers.services.stage_completed_preview")
        current = member.journey_stage or 0
        return {str(stage.pk): preview(stage=stage)
                for stage in JourneyStage.objects.filter(order__gt=current).order_by("order")}

    def set_stage_view(self, request, user_id: int):
        """"Set stage by hand": a stage and a required reason; recorded with the staff member.

        The member is told only when staff tick "notify" (off by default); the page shows the
        message they would get before anything is saved.
        """
        if not request.user.has_perm(MEMBER_CHANGE_PERMISSION):
            raise PermissionDenied
        member = get_object_or_404(TelegramUser, pk=user_id)
        form = SetStageForm(request.POST or None, initial={"stage": JourneyStage.objects.filter(
            order=member.journey_stage or 1).first()})
        if request.method == "POST" and form.is_valid():
            progress = journey_set_stage(user=member, stage=form.cleaned_data["stage"], staff=request.user,
                                         reason=form.cleaned_data["reason"], notify=form.cleaned_data["notify"])
            if progress is None:
                self.message_user(request, _("Участник уже на этом этапе."), messages.INFO)
            else:
                self.message_user(request, _("Этап изменён: %(stage)s") % {"stage": progress.stage}, messages.SUCCESS)
            return redirect(_member_page(member))
        return TemplateResponse(request, "admin/journeys/set_stage.html", self._context(
            request, member, title=_("Задать этап вручную"), form=form, submit_label=_("Сохранить этап"),
            congratulations=self._congratulations(member), current_stage=stage_get_or_none(member.journey_stage),
            description=_("Ручная смена этапа записывается в историю вместе с вами и причиной. "
                          "Назад по пути участника переводит только сотрудник.")))

    def analyse_view(self, request, user_id: int):
        """"Re-analyse now": queue a stage analysis of the member's recent conversation."""
        if not request.user.has_perm(MEMBER_CHANGE_PERMISSION):
            raise PermissionDenied
        member = get_object_or_404(TelegramUser, pk=user_id)
        if request.method == "POST":
            staff_enqueue(request=request, send=lambda: analyse_member.apply_async(
                args=[member.pk], kwargs={"force": True}, retry=False), text=_("Анализ этапа поставлен в очередь."))
            return redirect(_member_page(member))
        return TemplateResponse(request, "admin/relove_member_action.html", self._context(
            request, member, title=_("Переанализировать сейчас"), confirm_only=True,
            submit_label=_("Запустить анализ"),
            description=_("ИИ заново прочитает недавний разговор: новые наблюдения сохранятся, этап сменится "
                          "только по обычным правилам (уверенность и повторные сигналы).")))


@admin.register(JourneyInsight)
class JourneyInsightAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["user", "kind", "stage", "confidence", "created_at"]
    list_filter = ["kind", "stage", "created_at"]
    search_fields = ["=user__telegram_id", "user__search_tokens__matches"]
    list_select_related = ["user", "stage"]
    personal_fields = ("text",)


class StreamStepInline(LineListAdminMixin, TabularInline):
    model = StreamStep
    line_list_fields = ("quick_replies",)
    extra = 1
    fields = ["day_offset", "order", "text", "quick_replies"]


@admin.register(Stream)
class StreamAdmin(LineListAdminMixin, ModelAdmin):
    line_list_fields = ("tags",)
    list_display = ["title", "starts_at", "is_active", "step_count", "enrolled_count", "click_count"]
    list_filter = ["is_active", "suitable_stages", "starts_at"]
    search_fields = ["title", "description", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    filter_horizontal = ["suitable_stages"]
    inlines = [StreamStepInline]
    fieldsets = [
        (_("Поток"), {"classes": ["tab"], "fields": ["title", "slug", "description", "url", "starts_at", "is_active"]}),
        (_("Кому рекомендовать"), {"classes": ["tab"], "fields": ["suitable_stages", "tags"]}),
    ]

    def get_queryset(self, request):
        # One subquery instead of a count per row; the JSON key is cast to compare with the id.
        clicks = (UserInteraction.objects.filter(kind=UserInteraction.Kind.STREAM_CLICKED)
                  .annotate(stream_id=Cast(KeyTextTransform("stream_id", "metadata"), IntegerField()))
                  .filter(stream_id=OuterRef("pk"))
                  .order_by().values("kind").annotate(n=Count("id")).values("n")[:1])
        return super().get_queryset(request).annotate(
            _steps=Count("steps", distinct=True), _enrolled=Count("enrollments", distinct=True),
            _clicks=Coalesce(Subquery(clicks), 0))

    @admin.display(description=_("шагов"), ordering="_steps")
    def step_count(self, obj):
        return obj._steps

    @admin.display(description=_("записались"), ordering="_enrolled")
    def enrolled_count(self, obj):
        return obj._enrolled

    @admin.display(description=_("кликов"), ordering="_clicks")
    def click_count(self, obj):
        return obj._clicks

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Members already in the stream get new steps and re-dated ones.
        stream_programme_sync(stream=form.instance)

    def get_urls(self):
        return [path("recommendations/<int:user_id>/", self.admin_site.admin_view(self.recommendations_view),
                     name="journeys_stream_recommendations"), *super().get_urls()]

    def recommendations_view(self, request, user_id: int):
        """Why each open stream ranks where it does for this member (the score breakdown)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        member = get_object_or_404(TelegramUser, pk=user_id)
        with_profile = access.has_personal_permission(request.user, access.PERSONAL_DATA)
        rows = [("★" if i < MAX_RECOMMENDATIONS else "", s.stream.title, s.total, s.parts["stage"], s.parts["topics"],
                 s.parts["profile"], s.parts["start"], "; ".join(s.as_dict(with_profile=with_profile)["reasons"]))
                for i, s in enumerate(stream_scores(user=member))]
        table = html_table([_("показ"), _("поток"), _("итого"), _("этап"), _("темы"), _("профиль"), _("старт"),
                            _("почему")], rows)
        return TemplateResponse(request, "admin/relove_member_action.html", {
            **self.admin_site.each_context(request), "member": member, "member_url": _member_page(member),
            "title": _("Рекомендации потоков"), "table": table,
            "description": _("Итог = этап (3 — этап потока, 1 — соседний, 0,5 — поток для всех) + совпавшие темы "
                             "профиля (по 1, не больше 3) + поток назван в профиле (1) + близость старта (1 — "
                             "сегодня, 0 — через 30 дней и позже, 0,2 — без даты). Участнику показываются "
                             "два лучших (★)."),
        })


class StreamStepDeliveryInline(TabularInline):
    model = StreamStepDelivery
    fields = ["step", "due_on", "delivered_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(StreamEnrollment)
class StreamEnrollmentAdmin(ModelAdmin):
    list_display = ["user", "stream", "status", "steps_sent", "ref_code", "enrolled_at"]
    list_filter = ["status", "stream"]
    search_fields = ["=user__telegram_id", "user__search_tokens__matches", "stream__title"]
    list_select_related = ["user", "stream"]
    raw_id_fields = ["user"]
    readonly_fields = ["ref_code", "enrolled_at"]
    inlines = [StreamStepDeliveryInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            _steps=Count("step_deliveries"),
            _sent=Count("step_deliveries", filter=Q(step_deliveries__delivered_at__isnull=False)))

    @admin.display(description=_("шагов отправлено"))
    def steps_sent(self, obj):
        return f"{obj._sent}/{obj._steps}"


@admin.register(StreamStepDelivery)
class StreamStepDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["enrollment", "step", "due_on", "delivered_at"]
    list_filter = [("delivered_at", admin.EmptyFieldListFilter), "due_on"]
    list_select_related = ["enrollment__user", "enrollment__stream", "step__stream"]
    date_hierarchy = "due_on"

    def has_delete_permission(self, request, obj=None):
        return False  # which exercise went out when: deleting a row would send the step again
