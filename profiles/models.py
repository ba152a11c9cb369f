"""Members, their psychological profiles, activity log and analytics events.

This app sits at the bottom of the dependency chain (profiles ← journeys ← bot ←
triggers, broadcasts), so it knows nothing about stages or sessions: the member's current
stage is kept as a plain stage order (``journey_stage``, 1–12) that journeys maintains.
"""

import zoneinfo

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from relove.core.blind_index import BlindIndexedBigIntegerField, BlindIndexField, SearchTokensField
from relove.core.crypto import EncryptedJSONField, EncryptedTextField


def validate_timezone(value: str) -> None:
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(_("Неизвестный часовой пояс: %(tz)s"), params={"tz": value})


class MemberTag(models.Model):
    name = models.CharField(_("метка"), max_length=64, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("метка участника")
        verbose_name_plural = _("метки участников")

    def __str__(self):
        return self.name


class TelegramUser(models.Model):
    class Gender(models.TextChoices):
        UNKNOWN = "", _("не указан")
        FEMALE = "female", _("женский")
        MALE = "male", _("мужской")
        OTHER = "other", _("другой")

    # Identity is encrypted at rest; the id is found through its keyed digest and the names
    # through their word digests (relove.core.blind_index). ``filter(telegram_id=…)`` works.
    telegram_id = BlindIndexedBigIntegerField(_("Telegram ID"), index="telegram_id_hash")
    telegram_id_hash = BlindIndexField(_("индекс Telegram ID"), source="telegram_id", unique=True)
    username = EncryptedTextField(_("имя пользователя"), blank=True, default="")
    first_name = EncryptedTextField(_("имя"), blank=True, default="")
    last_name = EncryptedTextField(_("фамилия"), blank=True, default="")
    search_tokens = SearchTokensField(_("поисковый индекс имени"), sources=("first_name", "last_name", "username"))
    language_code = models.CharField(_("язык"), max_length=16, blank=True, db_index=True)
    timezone = models.CharField(
        _("часовой пояс"),
        max_length=64,
        blank=True,
        validators=[validate_timezone],
        help_text=_("IANA, например Europe/Moscow; пусто — пояс по умолчанию из настроек проактивности"),
    )
    gender = models.CharField(_("пол"), max_length=8, choices=Gender.choices, blank=True, default="")
    tags = models.ManyToManyField(MemberTag, verbose_name=_("метки"), blank=True, related_name="members")

    consent_at = models.DateTimeField(_("согласие получено"), null=True, blank=True)
    proactive_enabled = models.BooleanField(_("проактивные сообщения"), default=True)
    is_paused = models.BooleanField(_("на паузе"), default=False)
    is_blocked = models.BooleanField(_("заблокировал бота"), default=False)
    blocked_at = models.DateTimeField(_("заблокировал"), null=True, blank=True)
    crisis_flag = models.BooleanField(_("кризисный флаг"), default=False)
    crisis_flagged_at = models.DateTimeField(_("кризисный флаг установлен"), null=True, blank=True)

    journey_stage = models.PositiveSmallIntegerField(
        _("этап пути"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(12)],
        help_text=_("Порядковый номер текущего этапа (1–12)"),
    )
    messages_count = models.PositiveIntegerField(_("сообщений"), default=0)
    sessions_count = models.PositiveIntegerField(_("сессий"), default=0)
    unanswered_proactive = models.PositiveSmallIntegerField(
        _("проактивных без ответа подряд"), default=0
    )
    last_summary = EncryptedTextField(_("краткое содержание последней сессии"), blank=True, null=True)

    last_activity_at = models.DateTimeField(_("последняя активность"), null=True, blank=True)
    last_user_message_at = models.DateTimeField(_("последнее сообщение участника"), null=True, blank=True)
    # Set by a conditional UPDATE while one process rebuilds this member's profile, so two
    # rotations of one member never overlap; a claim older than the TTL is a crashed run.
    profile_rotation_claimed_at = models.DateTimeField(_("профиль пересобирается с"), null=True, blank=True,
                                                       editable=False)
    created_at = models.DateTimeField(_("создан"), auto_now_add=True)
    updated_at = models.DateTimeField(_("обновлён"), auto_now=True)

    class Meta:
        ordering = ["-last_activity_at", "-id"]
        verbose_name = _("участник")
        verbose_name_plural = _("участники")
        indexes = [
            models.Index(fields=["last_activity_at"], name="member_last_activity_idx"),
            models.Index(fields=["journey_stage", "last_activity_at"], name="member_stage_idx"),
            # Trigger scans look only at members who may receive proactive messages.
            # The top-of-hour morning check-in selects members by zone among the same set.
            models.Index(
                fields=["timezone", "last_user_message_at"],
                name="member_proactive_tz_idx",
                condition=models.Q(
                    proactive_enabled=True,
                    is_paused=False,
                    is_blocked=False,
                    crisis_flag=False,
                    consent_at__isnull=False,
                ),
            ),
            models.Index(
                fields=["last_user_message_at"],
                name="member_proactive_idx",
                condition=models.Q(
                    proactive_enabled=True,
                    is_paused=False,
                    is_blocked=False,
                    crisis_flag=False,
                    consent_at__isnull=False,
                ),
            ),
        ]
        permissions = [("view_personal_data", _("Может читать переписку и профили участников"))]

    def __str__(self):
        return f"@{self.username}" if self.username else f"#{self.telegram_id}"

    def save(self, *args, update_fields=None, **kwargs):
        # The digests follow their sources even when only the sources are named.
        if update_fields is not None:
            update_fields = set(update_fields)
            if update_fields & {"first_name", "last_name", "username"}:
                update_fields.add("search_tokens")
            if "telegram_id" in update_fields:
                update_fields.add("telegram_id_hash")
        super().save(*args, update_fields=update_fields, **kwargs)

    @property
    def has_consented(self) -> bool:
        return self.consent_at is not None

    @property
    def can_receive_proactive(self) -> bool:
        return (
            self.has_consented
            and self.proactive_enabled
            and not (self.is_paused or self.is_blocked or self.crisis_flag)
        )


class PsychologicalProfile(models.Model):
    """One version of a member's profile; a rotation adds a version, never edits one."""

    user = models.ForeignKey(TelegramUser, on_delete=models.CASCADE, related_name="profiles",
                             verbose_name=_("участник"))
    version = models.PositiveIntegerField(_("версия"))
    summary = EncryptedTextField(_("резюме"), blank=True, default="")
    data = EncryptedJSONField(
        _("данные профиля"),
        default=dict,
        help_text=_("traits, interests, goals, pains, recommended_streams"),
    )
    light_shadow_balance = models.PositiveSmallIntegerField(
        _("баланс света и тени"), default=5, validators=[MinValueValidator(0), MaxValueValidator(10)]
    )
    source_log_count = models.PositiveIntegerField(_("записей журнала на входе"), default=0)
    generated_by = models.CharField(_("источник"), max_length=16, default="llm",
                                    help_text=_("llm — построен ИИ; template — собран без ИИ по журналу"))
    rotation_key = models.CharField(
        _("плановая ротация"), max_length=32, blank=True, default="",
        help_text=_("Ключ плановой ротации (дата); пусто — пересобран вручную"),
    )
    generated_at = models.DateTimeField(_("создан"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["user", "-version"]
        verbose_name = _("психологический профиль")
        verbose_name_plural = _("психологические профили")
        constraints = [
            models.UniqueConstraint(fields=["user", "version"], name="profile_unique_version"),
            # A scheduled run rotates a member at most once, even when it is re-run after a crash.
            models.UniqueConstraint(fields=["user", "rotation_key"], condition=~models.Q(rotation_key=""),
                                    name="profile_once_per_rotation"),
        ]

    def __str__(self):
        return f"{self.user} v{self.version}"


class UserActivityLog(models.Model):
    """What a member did and was told, encrypted; the input of profile rotation."""

    class Kind(models.TextChoices):
        MESSAGE_IN = "message_in", _("сообщение участника")
        MESSAGE_OUT = "message_out", _("ответ Наташи")
        BUTTON = "button", _("нажатие кнопки")
        COMMAND = "command", _("команда")
        PROACTIVE = "proactive", _("проактивное сообщение")
        BROADCAST = "broadcast", _("рассылка")
        SYSTEM = "system", _("событие")

    user = models.ForeignKey(TelegramUser, on_delete=models.CASCADE, related_name="activity_logs",
                             verbose_name=_("участник"))
    kind = models.CharField(_("тип"), max_length=16, choices=Kind.choices)
    content = EncryptedTextField(_("содержание"), blank=True, default="")
    created_at = models.DateTimeField(_("время"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("запись журнала активности")
        verbose_name_plural = _("журнал активности")
        indexes = [
            models.Index(fields=["user", "-created_at"], name="activity_user_time_idx"),
            models.Index(fields=["created_at"], name="activity_time_idx"),
        ]

    def __str__(self):
        return f"{self.user} · {self.get_kind_display()} · {self.created_at:%Y-%m-%d %H:%M}"


class UserInteraction(models.Model):
    """An analytics event. Holds ids and kinds only, never message text."""

    class Kind(models.TextChoices):
        MESSAGE_IN = "message_in", _("сообщение участника")
        MESSAGE_OUT = "message_out", _("ответ бота")
        BUTTON = "button", _("нажатие кнопки")
        COMMAND = "command", _("команда")
        CONSENT = "consent", _("согласие")
        PROACTIVE_SENT = "proactive_sent", _("проактивное отправлено")
        PROACTIVE_REPLIED = "proactive_replied", _("ответ на проактивное")
        BROADCAST_DELIVERED = "broadcast_delivered", _("рассылка доставлена")
        BROADCAST_CLICKED = "broadcast_clicked", _("клик по рассылке")
        STREAM_OFFERED = "stream_offered", _("приглашение в поток")
        STREAM_CLICKED = "stream_clicked", _("клик по потоку")
        STREAM_ENROLLED = "stream_enrolled", _("запись на поток")
        STAGE_CHANGED = "stage_changed", _("смена этапа")
        CRISIS = "crisis", _("кризисный сигнал")
        SESSION_STARTED = "session_started", _("сессия начата")
        SESSION_ENDED = "session_ended", _("сессия завершена")

    user = models.ForeignKey(TelegramUser, on_delete=models.CASCADE, related_name="interactions",
                             verbose_name=_("участник"))
    kind = models.CharField(_("событие"), max_length=24, choices=Kind.choices)
    stage = models.PositiveSmallIntegerField(_("этап"), null=True, blank=True)
    metadata = models.JSONField(_("данные"), default=dict, blank=True)
    created_at = models.DateTimeField(_("время"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("взаимодействие")
        verbose_name_plural = _("взаимодействия")
        indexes = [
            models.Index(fields=["user", "-created_at"], name="interaction_user_time_idx"),
            models.Index(fields=["kind", "created_at"], name="interaction_kind_time_idx"),
            models.Index(fields=["stage", "created_at"], name="interaction_stage_time_idx"),
        ]

    def __str__(self):
        return f"{self.user} · {self.get_kind_display()}"
