"""Broadcasts composed by staff and their per-recipient deliveries."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from journeys.models import JourneyStage, Stream
from profiles.models import MemberTag, TelegramUser
from relove.core.crypto import EncryptedBigIntegerField

# In an audience filter an empty gender means "anyone", not "not stated".
GENDER_FILTER_CHOICES = [("", _("любой")),
                         *[(value, label) for value, label in TelegramUser.Gender.choices if value]]


class Broadcast(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("черновик")
        SCHEDULED = "scheduled", _("запланирована")
        SENDING = "sending", _("отправляется")
        DONE = "done", _("завершена")
        CANCELLED = "cancelled", _("отменена")

    title = models.CharField(_("название"), max_length=200)
    text = models.TextField(_("текст"), help_text=_("HTML Telegram, до 4096 символов"))
    buttons = models.JSONField(
        _("кнопки"), default=list, blank=True,
        help_text=_('Список {"text": "…", "url": "https://…"} или {"text": "…", "reply": "…"}'),
    )
    photo = models.FileField(_("фото"), upload_to="broadcasts/", blank=True)
    photo_file_id = models.CharField(
        _("file_id фото в Telegram"), max_length=255, blank=True, editable=False,
        help_text=_("Запоминается после первой загрузки, чтобы не загружать фото для каждого получателя"))
    status = models.CharField(_("статус"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    scheduled_at = models.DateTimeField(_("отправить в"), null=True, blank=True)
    counts_against_budget = models.BooleanField(
        _("учитывать в дневном лимите проактивных"), default=False)
    local_time = models.TimeField(
        _("в местное время участника"), null=True, blank=True,
        help_text=_("Например 10:00: каждый получит рассылку в 10:00 по своему часовому поясу "
                    "(внутри окна отправки). Пусто — всем сразу."))
    local_date = models.DateField(
        _("дата по местному времени"), null=True, blank=True,
        help_text=_("Пусто — сегодня. Где это время уже прошло, рассылка придёт на следующий день."))

    segment_stages = models.ManyToManyField(JourneyStage, blank=True, related_name="+",
                                            verbose_name=_("этапы"))
    segment_streams = models.ManyToManyField(Stream, blank=True, related_name="+",
                                             verbose_name=_("потоки"))
    segment_tags = models.ManyToManyField(MemberTag, blank=True, related_name="+",
                                          verbose_name=_("метки"))
    segment_gender = models.CharField(_("пол"), max_length=8, blank=True, choices=GENDER_FILTER_CHOICES)
    segment_language = models.CharField(_("язык"), max_length=16, blank=True)
    segment_active_within_days = models.PositiveIntegerField(
        _("активны за последние дней"), null=True, blank=True)
    segment_consented_only = models.BooleanField(_("только давшие согласие"), default=True)

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                   blank=True, related_name="+", verbose_name=_("автор"))
    created_at = models.DateTimeField(_("создана"), auto_now_add=True)
    started_at = models.DateTimeField(_("начата"), null=True, blank=True)
    finished_at = models.DateTimeField(_("завершена в"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("отменена в"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("рассылка")
        verbose_name_plural = _("рассылки")
        indexes = [models.Index(fields=["status", "scheduled_at"], name="broadcast_status_idx")]

    def __str__(self):
        return self.title


class BroadcastDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("ожидает")
        SENDING = "sending", _("отправляется")
        SENT = "sent", _("доставлено")
        FAILED = "failed", _("ошибка")
        BLOCKED = "blocked", _("заблокирован")
        UNKNOWN = "unknown", _("неизвестно")
        CANCELLED = "cancelled", _("отменено")
        SKIPPED = "skipped", _("пропущено")

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="deliveries",
                                  verbose_name=_("рассылка"))
    user = models.ForeignKey(TelegramUser, on_delete=models.CASCADE, related_name="broadcast_deliveries",
                             verbose_name=_("участник"))
    status = models.CharField(_("статус"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("попыток"), default=0)
    next_attempt_at = models.DateTimeField(_("следующая попытка"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("взято в работу"), null=True, blank=True)
    claimed_by = models.CharField(_("воркер"), max_length=64, blank=True)
    sent_at = models.DateTimeField(_("отправлено"), null=True, blank=True)
    telegram_message_id = models.BigIntegerField(_("id сообщения"), null=True, blank=True)
    last_error = models.CharField(_("ошибка"), max_length=255, blank=True)
    daily_slot = models.OneToOneField(
        "bot.DailyMessageSlot", on_delete=models.SET_NULL, null=True, blank=True, related_name="broadcast_delivery",
        verbose_name=_("место в дневном лимите"),
        help_text=_("Сообщение учтено в дневном лимите проактивных (если рассылка так настроена)"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("доставка рассылки")
        verbose_name_plural = _("доставки рассылок")
        constraints = [
            models.UniqueConstraint(fields=["broadcast", "user"], name="delivery_unique_member"),
        ]
        indexes = [
            models.Index(fields=["broadcast", "status"], name="delivery_broadcast_status_idx"),
            models.Index(fields=["claimed_at"], name="delivery_sending_idx",
                         condition=models.Q(status="sending")),
            # The claim query walks a broadcast's pending rows in id order.
            models.Index(fields=["broadcast", "id"], name="delivery_pending_idx",
                         condition=models.Q(status="pending")),
        ]

    def __str__(self):
        return f"{self.broadcast} → {self.user}"


class StaffTelegramAccount(models.Model):
    """The Telegram id a staff member receives test sends on, proven by a code they sent the
    bot (``/staff CODE``): a typed id could be anyone's."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="telegram_account",
                                verbose_name=_("сотрудник"))
    telegram_id = EncryptedBigIntegerField(
        _("Telegram ID"),
        help_text=_("Числовой id вашего аккаунта (узнать: @userinfobot). "
                    "Сначала напишите боту /start, иначе Telegram не даст ему написать вам."))
    verified_at = models.DateTimeField(_("подтверждён"), null=True, blank=True,
                                       help_text=_("Когда сотрудник прислал боту код привязки"))
    updated_at = models.DateTimeField(_("обновлён"), auto_now=True)

    class Meta:
        verbose_name = _("Telegram сотрудника")
        verbose_name_plural = _("Telegram сотрудников")

    def __str__(self):
        return f"{self.user} → {self.telegram_id}"


class SavedSegment(models.Model):
    """An audience staff reuse across broadcasts: the same filters the broadcast form has."""

    name = models.CharField(_("название"), max_length=120, unique=True)
    stages = models.ManyToManyField(JourneyStage, blank=True, related_name="+", verbose_name=_("этапы"))
    streams = models.ManyToManyField(Stream, blank=True, related_name="+", verbose_name=_("потоки"))
    tags = models.ManyToManyField(MemberTag, blank=True, related_name="+", verbose_name=_("метки"))
    gender = models.CharField(_("пол"), max_length=8, blank=True, choices=GENDER_FILTER_CHOICES)
    language = models.CharField(_("язык"), max_length=16, blank=True)
    active_within_days = models.PositiveIntegerField(_("активны за последние дней"), null=True, blank=True)
    consented_only = models.BooleanField(_("только давшие согласие"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("автор"))
    updated_at = models.DateTimeField(_("изменён"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("сегмент")
        verbose_name_plural = _("сегменты")

    def __str__(self):
        return self.name
