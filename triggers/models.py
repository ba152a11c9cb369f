"""Proactive messages: the rules staff edit and the queue of reasons to write first."""

from datetime import time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from bot.models import MAX_SLOTS_PER_DAY, DailyMessageSlot
from profiles.models import TelegramUser, validate_timezone

MIN_INACTIVITY = timedelta(minutes=1)


def default_time_zone() -> str:
    return settings.TIME_ZONE_DEFAULT


class ProactivityConfig(models.Model):
    """The single row of proactivity rules; read fresh by every scan, so edits apply at once."""

    enabled = models.BooleanField(_("проактивность включена"), default=True)
    max_per_day = models.PositiveSmallIntegerField(
        _("не больше сообщений в день"), default=2,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_SLOTS_PER_DAY)],
        help_text=_("От 0 до 10 на участника за его местный день, вместе с рассылками, которые учитываются "
                    "в лимите; 0 — не писать первой"),
    )
    window_start = models.TimeField(_("окно: с"), default=time(8, 0))
    window_end = models.TimeField(_("окно: до"), default=time(22, 0))
    default_timezone = models.CharField(_("часовой пояс по умолчанию"), max_length=64,
                                        default=default_time_zone, validators=[validate_timezone])
    inactivity_after = models.DurationField(_("неактивность после"), default=timedelta(hours=24))
    morning_start = models.TimeField(_("утренний чек-ин: с"), default=time(8, 0))
    morning_end = models.TimeField(_("утренний чек-ин: до"), default=time(10, 0))
    stream_invite_days_before = models.PositiveSmallIntegerField(
        _("приглашать на поток за дней до старта"), default=3)
    fatigue_threshold = models.PositiveSmallIntegerField(
        _("без ответа подряд до снижения частоты"), default=3)
    fatigue_multiplier = models.PositiveSmallIntegerField(
        _("во сколько раз реже после усталости"), default=2, validators=[MinValueValidator(1)])
    max_attempts = models.PositiveSmallIntegerField(_("попыток доставки"), default=5,
                                                    validators=[MinValueValidator(1)])
    min_interval = models.DurationField(
        _("не чаще одного сообщения в"), default=timedelta(hours=3),
        help_text=_("Минимальный промежуток между двумя проактивными сообщениями участнику"))
    active_days = models.PositiveSmallIntegerField(
        _("путь активен, если писал(а) за дней"), default=14, validators=[MinValueValidator(1)],
        help_text=_("Неактивность, утренний чек-ин и приглашения — только тем, кто писал за это время"))

    inactivity_enabled = models.BooleanField(_("неактивность"), default=True)
    stage_completed_enabled = models.BooleanField(_("завершён этап"), default=True)
    avoidance_enabled = models.BooleanField(_("паттерн избегания"), default=True)
    morning_checkin_enabled = models.BooleanField(_("утренний чек-ин"), default=True)
    stream_step_enabled = models.BooleanField(_("упражнения потока"), default=True)
    stream_invite_enabled = models.BooleanField(_("приглашение на поток"), default=True)

    updated_at = models.DateTimeField(_("обновлено"), auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("настройки проактивности")
        verbose_name_plural = _("настройки проактивности")
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="proactivity_config_singleton")]

    def __str__(self):
        return str(_("Настройки проактивности"))

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    def clean(self):
        """The rules every entry point (admin form, API, service) enforces; messages are for staff."""
        errors = {}
        if self.inactivity_after is not None and self.inactivity_after < MIN_INACTIVITY:
            errors["inactivity_after"] = _("Неактивность — не меньше одной минуты.")
        if self.min_interval is not None and self.min_interval < timedelta(0):
            errors["min_interval"] = _("Промежуток между сообщениями не может быть отрицательным.")
        if None not in (self.window_start, self.window_end) and self.window_start >= self.window_end:
            errors["window_end"] = _("Окно должно заканчиваться позже, чем начинается.")
        if None not in (self.morning_start, self.morning_end):
            if self.morning_start >= self.morning_end:
                errors["morning_end"] = _("Утреннее окно должно заканчиваться позже начала.")
            elif "window_end" not in errors and None not in (self.window_start, self.window_end) and (
                    self.morning_end <= self.window_start or self.morning_start >= self.window_end):
                # A check-in window wholly outside the sending window could never be sent. A
                # partial overlap is fine: the part outside is deferred into the window.
                errors["morning_start"] = _("Утренний чек-ин должен попадать в окно отправки: "
                                            "иначе он никогда не уйдёт.")
        if errors:
            raise ValidationError(errors)

    @classmethod
    def load(cls) -> "ProactivityConfig":
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj

    def kind_enabled(self, kind: str) -> bool:
        return bool(getattr(self, f"{kind}_enabled", False))


class ProactiveTrigger(models.Model):
    """A reason to write to a member first, and its delivery state.

    A trigger being sent or sent holds one of the member's ``DailyMessageSlot`` rows: the
    database itself refuses a third message on a local day.
    """

    class Kind(models.TextChoices):
        INACTIVITY = "inactivity", _("неактивность")
        STAGE_COMPLETED = "stage_completed", _("завершён этап")
        AVOIDANCE = "avoidance", _("паттерн избегания")
        MORNING_CHECKIN = "morning_checkin", _("утренний чек-ин")
        STREAM_STEP = "stream_step", _("упражнение потока")
        STREAM_INVITE = "stream_invite", _("приглашение на поток")

    class Status(models.TextChoices):
        PENDING = "pending", _("ожидает")
        SENDING = "sending", _("отправляется")
        SENT = "sent", _("отправлено")
        SKIPPED = "skipped", _("пропущено")
        FAILED = "failed", _("ошибка")
        CANCELLED = "cancelled", _("отменено")

    user = models.ForeignKey(TelegramUser, on_delete=models.CASCADE, related_name="triggers",
                             verbose_name=_("участник"))
    kind = models.CharField(_("тип"), max_length=16, choices=Kind.choices)
    status = models.CharField(_("статус"), max_length=10, choices=Status.choices, default=Status.PENDING)
    dedupe_key = models.CharField(_("причина"), max_length=96,
                                  help_text=_("Одна ожидающая запись на причину"))
    scheduled_for = models.DateTimeField(_("запланировано на"))
    attempts = models.PositiveSmallIntegerField(_("попыток"), default=0)
    payload = models.JSONField(_("данные"), default=dict, blank=True)
    daily_slot = models.OneToOneField(DailyMessageSlot, on_delete=models.SET_NULL, null=True, blank=True,
                                      related_name="trigger", verbose_name=_("место в дневном лимите"))
    claimed_at = models.DateTimeField(_("взято в работу"), null=True, blank=True)
    sent_at = models.DateTimeField(_("отправлено"), null=True, blank=True)
    answered_at = models.DateTimeField(_("получен ответ"), null=True, blank=True)
    telegram_message_id = models.BigIntegerField(_("id сообщения"), null=True, blank=True)
    last_error = models.CharField(_("ошибка"), max_length=255, blank=True)
    # Set by the engine to the scan's clock (not auto_now_add), so a scan is a function of
    # the database and its ``now``: "the last nudge was P ago" means the same in tests.
    created_at = models.DateTimeField(_("создано"), default=timezone.now)

    class Meta:
        ordering = ["-scheduled_for"]
        verbose_name = _("проактивный триггер")
        verbose_name_plural = _("проактивные триггеры")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "dedupe_key"],
                condition=models.Q(status__in=["pending", "sending"]),
                name="trigger_one_open_per_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["scheduled_for"], name="trigger_due_idx",
                         condition=models.Q(status="pending")),
            models.Index(fields=["claimed_at"], name="trigger_sending_idx",
                         condition=models.Q(status="sending")),
            models.Index(fields=["user", "status", "-sent_at"], name="trigger_user_status_idx"),
            models.Index(fields=["kind", "status"], name="trigger_kind_status_idx"),
            # Incremental detection: "the last inactivity nudge was P ago" is a range on this index.
            models.Index(fields=["kind", "created_at"], name="trigger_kind_created_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} → {self.user}"


class ScanState(models.Model):
    """Where the last detection stopped, so the next one looks only at what became due since.

    Only an optimisation: detection is idempotent (dedupe keys), so losing or resetting this
    row costs one full scan, never a duplicate or a missed reason.
    """

    detected_at = models.DateTimeField(_("поиск выполнен на момент"), null=True, blank=True)
    config_version = models.DateTimeField(_("версия настроек"), null=True, blank=True)
    reconciled_at = models.DateTimeField(_("полный поиск"), null=True, blank=True)
    event_marks = models.JSONField(_("отметки событий"), default=list, blank=True,
                                   help_text=_("[время, последний id смены этапа, последний id наблюдения]"))

    class Meta:
        verbose_name = _("состояние поиска триггеров")
        verbose_name_plural = _("состояние поиска триггеров")
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="scan_state_singleton")]

    def __str__(self):
        return str(_("Состояние поиска триггеров"))
