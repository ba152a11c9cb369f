from itertools import pairwise

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Min, Q
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from relove.core import access
from relove.core.admin_time import admin_datetime, admin_zone_label
from relove.core.admin_utils import (
    PERSONAL_DATA_PERMISSION,
    ModelAdmin,
    PersonalDataAdminMixin,
    ReadOnlyAdmin,
    html_table,
)
from relove.core.staff_tasks import staff_enqueue

from .models import MemberTag, PsychologicalProfile, TelegramUser, UserActivityLog, UserInteraction
from .selectors import profile_diff
from .tasks import rotate_member_profile

PROFILE_FIELD_LABELS = {"summary": _("резюме"), "light_shadow_balance": _("свет/тень"), "traits": _("черты"),
                        "interests": _("интересы"), "goals": _("цели"), "pains": _("боли"),
                        "recommended_streams": _("потоки из профиля")}


def stage_names() -> dict[int, str]:
    """Stage order -> «3 · Отказ от зова», from journeys' per-process copy of the stages.

    Found by name, like the journeys views below: profiles sits below journeys and does not
    import it.
    """
    return {order: str(stage) for order, stage in import_string("journeys.services.STAGES").get().items()}


def stage_label(order: int | None) -> str:
    if not order:
        return "—"
    return stage_names().get(order, str(order))


class StageListFilter(admin.SimpleListFilter):
    """Filter by a stage-order field (``journey_stage`` here), the stages listed by name."""

    title = _("этап пути")
    parameter_name = "journey_stage"

    def lookups(self, request, model_admin):
        return [*stage_names().items(), ("none", _("без этапа"))]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(**{f"{self.parameter_name}__isnull": True})
        if value and value.isdigit():
            return queryset.filter(**{self.parameter_name: int(value)})
        return queryset


def stage_filter(field: str, title) -> type[StageListFilter]:
    """A StageListFilter over another stage-order field (``UserInteraction.stage``, session snapshots)."""
    return type(f"StageFilter_{field}", (StageListFilter,), {"parameter_name": field, "title": title})


@admin.register(MemberTag)
class MemberTagAdmin(ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


@admin.register(TelegramUser)
class TelegramUserAdmin(ModelAdmin):
    # Crisis, stage and last activity first: on a phone the rest scrolls off to the right.
    list_display = ["__str__", "crisis_marker", "stage", "last_activity_at", "first_name", "messages_count",
                    "consent_at", "proactive_enabled", "is_paused", "is_blocked"]
    # Identity columns are ciphertext in the database: sorting by them would mean nothing.
    sortable_by = ["crisis_marker", "stage", "last_activity_at", "messages_count", "consent_at",
                   "proactive_enabled", "is_paused", "is_blocked"]
    list_filter = [StageListFilter, "crisis_flag", "is_blocked", "is_paused", "proactive_enabled",
                   "gender", "language_code", "tags", ("consent_at", admin.EmptyFieldListFilter),
                   "last_activity_at"]
    # Names are encrypted: search matches whole words of first name, last name or username
    # (case-insensitive, «ё» = «е», ``@username`` too) through their keyed digests, or the exact id.
    search_fields = ["=telegram_id", "search_tokens__matches"]
    search_help_text = _("Имя, фамилия или @username — целыми словами, регистр не важен; или Telegram ID")
    filter_horizontal = ["tags"]
    date_hierarchy = "created_at"
    # is_blocked and crisis_flag change only through the recorded actions on the page (bot admin).
    readonly_fields = ["telegram_id", "username", "first_name", "last_name", "language_code",
                       "consent_at", "is_blocked", "crisis_flag", "blocked_at", "crisis_flagged_at",
                       "journey_stage", "stage", "messages_count",
                       "sessions_count", "unanswered_proactive", "last_activity_at",
                       "last_user_message_at", "created_at", "updated_at",
                       "journey_timeline", "journey_actions", "stream_enrollments", "profile_versions",
                       "profile_changes", "recent_triggers"]
    actions = ["rotate_profile_now"]
    base_fieldsets = [
        (_("Участник"), {"fields": ["telegram_id", "username", "first_name", "last_name",
                                    "language_code", "timezone", "gender", "tags"]}),
        (_("Состояние"), {"fields": ["consent_at", "proactive_enabled", "is_paused", "is_blocked",
                                     "blocked_at", "crisis_flag", "crisis_flagged_at"]}),
        (_("Путь и активность"), {"fields": ["stage", "journey_actions", "journey_timeline",
                                             "stream_enrollments", "messages_count",
                                             "sessions_count", "unanswered_proactive", "recent_triggers",
                                             "last_activity_at", "last_user_message_at", "created_at",
                                             "updated_at"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(self.base_fieldsets)
        if obj is None:
            return fieldsets
        if access.has_personal_permission(request.user, PERSONAL_DATA_PERMISSION):
            fieldsets.append((_("Профиль"), {"fields": ["profile_versions", "profile_changes"]}))
        return fieldsets

    def has_add_permission(self, request):
        return False  # members appear when they write to the bot

    @admin.display(description=_("этап пути"), ordering="journey_stage")
    def stage(self, obj):
        return stage_label(obj.journey_stage)

    @admin.display(description=_("кризис"), ordering="-crisis_flag")
    def crisis_marker(self, obj):
        if not obj.crisis_flag:
            return "—"
        return format_html('<span class="relove-crisis-chip">{}</span>', _("кризис"))

    @admin.display(description=_("история этапов"))
    def journey_timeline(self, obj):
        zone = admin_zone_label()
        rows = [(admin_datetime(p.created_at, label=False), str(p.stage),
                 str(p.previous_stage) if p.previous_stage else "—", p.get_source_display(),
                 p.changed_by.get_username() if p.changed_by else "—", f"{p.confidence:.2f}", p.reason)
                for p in obj.journey_progress.select_related("stage", "previous_stage", "changed_by")[:50]]
        return html_table([_("когда (%(zone)s)") % {"zone": zone}, _("этап"), _("был"), _("источник"),
                           _("сотрудник"), _("уверенность"), _("причина")], rows)

    @admin.display(description=_("версии профиля"))
    def profile_versions(self, obj):
        rows = [(p.version, admin_datetime(p.generated_at), p.light_shadow_balance, p.summary)
                for p in obj.profiles.all()[:10]]
        return html_table([_("версия"), _("создан"), _("свет/тень"), _("резюме")], rows)

    @admin.display(description=_("изменения профиля"))
    def profile_changes(self, obj):
        versions = list(obj.profiles.order_by("-version")[:6])
        rows = []
        for new, old in pairwise(versions):
            for field, before, after in profile_diff(old, new):
                rows.append((f"v{old.version} → v{new.version}", PROFILE_FIELD_LABELS.get(field, field),
                             before, after))
        return html_table([_("версии"), _("поле"), _("было / убрано"), _("стало / добавлено")], rows)

    @admin.display(description=_("потоки"))
    def stream_enrollments(self, obj):
        # Reverse relations only: profiles sits below journeys and does not import it.
        undelivered = Q(step_deliveries__delivered_at__isnull=True)
        enrollments = obj.enrollments.select_related("stream").annotate(
            steps=Count("step_deliveries"),
            sent=Count("step_deliveries", filter=Q(step_deliveries__delivered_at__isnull=False)),
            next_due=Min("step_deliveries__due_on", filter=undelivered),
        )
        rows = [(e.stream.title, e.get_status_display(), admin_datetime(e.enrolled_at),
                 f"{e.sent}/{e.steps}", e.next_due.isoformat() if e.next_due else "—", e.ref_code)
                for e in enrollments]
        return html_table([_("поток"), _("статус"), _("записан"), _("шагов отправлено"), _("следующий шаг"),
                           _("реф-код")], rows)

    @admin.display(description=_("действия"))
    def journey_actions(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        links = [(_("🔁 Пересобрать профиль сейчас"), reverse("admin:profiles_member_rotate", args=[obj.pk]))]
        try:  # views of the journeys admin, found by name (no import upwards)
            links += [
                (_("✍️ Задать этап вручную"), reverse("admin:journeys_member_set_stage", args=[obj.pk])),
                (_("🔍 Переанализировать сейчас"), reverse("admin:journeys_member_analyse", args=[obj.pk])),
                (_("🔥 Рекомендации потоков"), reverse("admin:journeys_stream_recommendations", args=[obj.pk])),
            ]
        except NoReverseMatch:
            pass
        return format_html_join(" · ", '<a class="button" href="{}">{}</a>', ((url, label) for label, url in links))

    @admin.action(description=_("Пересобрать профиль сейчас"), permissions=["change"])
    def rotate_profile_now(self, request, queryset):
        ids = list(queryset.filter(consent_at__isnull=False).values_list("pk", flat=True))

        def send():
            for user_id in ids:
                rotate_member_profile.apply_async(args=[user_id], retry=False)

        staff_enqueue(request=request, send=send,
                      text=_("Профили поставлены в очередь на пересборку: %(n)d") % {"n": len(ids)})

    def get_urls(self):
        return [path("<int:user_id>/rotate-profile/", self.admin_site.admin_view(self.rotate_profile_view),
                     name="profiles_member_rotate"), *super().get_urls()]

    def rotate_profile_view(self, request, user_id: int):
        """The "rotate profile now" button of the member page: confirm, then queue."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        member = get_object_or_404(TelegramUser, pk=user_id)
        member_url = reverse("admin:profiles_telegramuser_change", args=[member.pk])
        if request.method == "POST":
            if member.consent_at is None:
                self.message_user(request, _("Без согласия участника профиль не строится."), messages.WARNING)
            else:
                staff_enqueue(request=request, send=lambda: rotate_member_profile.apply_async(
                    args=[member.pk], retry=False), text=_("Профиль поставлен в очередь на пересборку."))
            return redirect(member_url)
        return TemplateResponse(request, "admin/relove_member_action.html", {
            **self.admin_site.each_context(request), "title": _("Пересобрать профиль сейчас"), "member": member,
            "member_url": member_url, "submit_label": _("Пересобрать"), "confirm_only": True,
            "description": _("Новая версия профиля будет собрана из прошлой версии и последних 50 записей "
                             "журнала активности."),
        })

    @admin.display(description=_("проактивные сообщения"))
    def recent_triggers(self, obj):
        rows = [(admin_datetime(t.scheduled_for, label=False), t.get_kind_display(), t.get_status_display())
                for t in obj.triggers.order_by("-scheduled_for")[:20]]
        return html_table([_("когда (%(zone)s)") % {"zone": admin_zone_label()}, _("тип"), _("статус")], rows)


@admin.register(PsychologicalProfile)
class PsychologicalProfileAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["user", "version", "light_shadow_balance", "source_log_count", "generated_by",
                    "generated_at"]
    list_filter = ["generated_by", "generated_at"]
    search_fields = ["=user__telegram_id", "user__search_tokens__matches"]
    list_select_related = ["user"]
    personal_fields = ("summary", "data")


@admin.register(UserActivityLog)
class UserActivityLogAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["user", "kind", "created_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["=user__telegram_id", "user__search_tokens__matches"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    personal_fields = ("content",)

    def has_delete_permission(self, request, obj=None):
        return False  # the activity log is the member's history; it goes only with erasure


class ReplySourceFilter(admin.SimpleListFilter):
    """Who wrote Natasha's answer: the language model or a template (the dashboard links here)."""

    title = _("автор ответа")
    parameter_name = "source"

    def lookups(self, request, model_admin):
        return [("llm", _("языковая модель")), ("template", _("шаблон")), ("safety", _("протокол безопасности"))]

    def queryset(self, request, queryset):
        return queryset.filter(metadata__source=self.value()) if self.value() else queryset


@admin.register(UserInteraction)
class UserInteractionAdmin(ReadOnlyAdmin):
    list_display = ["user", "kind", "stage_name", "created_at"]
    list_filter = ["kind", ReplySourceFilter, stage_filter("stage", _("этап")), "created_at"]
    search_fields = ["=user__telegram_id", "user__search_tokens__matches"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"

    @admin.display(description=_("этап"), ordering="stage")
    def stage_name(self, obj):
        return stage_label(obj.stage)
