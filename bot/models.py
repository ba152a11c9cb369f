"""Conversations, Natasha's editable words, safety records, the outbound log and the daily budget."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from journeys.models import JourneyStage
from profiles.models import TelegramUser
from relove.core.crypto import EncryptedBigIntegerField, EncryptedJSONField, EncryptedTextField

from . import telegram_html


class UserSession(models.Model):
    """One conversation. Every turn is stored here before the reply goes out."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("идёт")
        ENDED = "ended", _("завершена")

    class EndReason(models.TextChoices):
        IDLE = "idle", _("неактивность")
        COMMAND = "command", _("команда /end")
        FORGET = "forget", _("удаление данных")

    user = models.ForeignKey(TelegramUser, on_delete=models.CASCADE, related_name="sessions",
                             verbose_name=_("участник"))
    status = models.CharField(_("статус"), max_length=8, choices=Status.choices, default=Status.ACTIVE)
    summary = EncryptedTextField(_("сводка ранних реплик"), blank=True, default="")
    summarized_turns = models.PositiveIntegerField(_("реплик в сводке"), default=0)
    contradiction_raised_at = models.DateTimeField(
        _("противоречие названо"), null=True, blank=True,
        help_text=_("Когда Наташа назвала противоречие или избегание в этом разговоре (не чаще раза за сессию)"))
    stage_at_start = models.PositiveSmallIntegerField(_("этап в начале"), null=True, blank=True)
    stage_snapshot = models.PositiveSmallIntegerField(_("текущий этап"), null=True, blank=True)
    # Also the position the next turn takes (ConversationTurn.position): written under the row lock.
    message_count = models.PositiveIntegerField(_("реплик"), default=0)
    started_at = models.DateTimeField(_("начата"), auto_now_add=True)
    last_activity_at = models.DateTimeField(_("последняя активность"), auto_now_add=True)
    ended_at = models.DateTimeField(_("завершена в"), null=True, blank=True)
    end_reason = models.CharField(_("причина завершения"), max_length=8, choices=EndReason.choices,
                                  blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("сессия")
        verbose_name_plural = _("сессии")
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(status="active"), name="session_one_active_per_member"
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-started_at"], name="session_user_time_idx"),
            models.Index(fields=["status", "last_activity_at"], name="session_status_activity_idx"),
        ]
        permissions = [("view_conversation", _("Может читать переписку"))]

    def __str__(self):
        return f"{self.user} · {self.started_at:%Y-%m-%d %H:%M}"


class ConversationTurn(models.Model):
    """One message of a conversation, appended once and never rewritten.

    A turn costs the same at any length of the session: appending inserts one row, and the
    LLM context reads only the last few rows by ``(session, position)``.
    """

    class Role(models.TextChoices):
        USER = "user", _("участник")
        ASSISTANT = "assistant", _("Наташа")

    session = models.ForeignKey(UserSession, on_delete=models.CASCADE, related_name="turns",
                                verbose_name=_("сессия"))
    position = models.PositiveIntegerField(_("номер реплики"), help_text=_("С нуля, по порядку в сессии"))
    role = models.CharField(_("кто"), max_length=9, choices=Role.choices)
    kind = models.CharField(_("вид"), max_length=16, blank=True,
                            help_text=_("Пусто — разговор; «proactive» — Наташа написала первой"))
    content = EncryptedTextField(_("текст"))
    quick_replies = EncryptedJSONField(_("быстрые ответы"), default=list, blank=True)
    created_at = models.DateTimeField(_("время"), default=timezone.now)

    class Meta:
        ordering = ["session", "position"]
        verbose_name = _("реплика")
        verbose_name_plural = _("реплики")
        constraints = [
            models.UniqueConstraint(fields=["session", "position"], name="turn_one_per_position"),
        ]
        indexes = [models.Index(fields=["session", "created_at"], name="turn_session_time_idx")]

    def __str__(self):
        return f"{self.session_id} #{self.position} {self.role}"


class ProcessedUpdate(models.Model):
    """A Telegram update_id taken: inserted before handling, so a redelivery stops here.

    ``done`` is set once handling finished; a row still not done was given back (the database
    failed) or belongs to a process that died, and is taken again (``bot/services/updates.py``).
    """

    update_id = models.BigIntegerField(_("update_id"), primary_key=True)
    received_at = models.DateTimeField(_("получено"), auto_now_add=True, db_index=True)
    done = models.BooleanField(_("обработано"), default=True)

    class Meta:
        verbose_name = _("обработанное обновление")
        verbose_name_plural = _("обработанные обновления")

    def __str__(self):
        return str(self.update_id)


class PersonaPrompt(models.Model):
    """System prompts for the LLM (persona, safety, analysis), editable by staff."""

    class Key(models.TextChoices):
        PERSONA = "persona", _("персона Наташи")
        SUMMARY = "summary", _("сводка разговора")
        SAFETY = "safety", _("оценка кризиса")
        STAGE_ANALYSIS = "stage_analysis", _("анализ этапа")
        PROFILE = "profile", _("построение профиля")
        PROACTIVE = "proactive", _("проактивное сообщение")
        CRISIS_MODE = "crisis_mode", _("бережный режим после кризиса")

    key = models.CharField(_("ключ"), max_length=32, choices=Key.choices, unique=True)
    text = models.TextField(_("текст промпта"))
    updated_at = models.DateTimeField(_("обновлён"), auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["key"]
        verbose_name = _("промпт")
        verbose_name_plural = _("промпты")

    def __str__(self):
        return self.get_key_display()


class MessageTemplate(models.Model):
    """Natasha's ready words: bot copy, and the fallback when the LLM is absent or down."""

    key = models.CharField(_("ключ"), max_length=48, db_index=True)
    stage = models.ForeignKey(JourneyStage, on_delete=models.CASCADE, null=True, blank=True,
                              related_name="templates", verbose_name=_("этап"),
                              help_text=_("Пусто — для всех этапов"))
    text = models.TextField(_("текст"), help_text=_("HTML Telegram: <b>, <i>, <a>"))
    quick_replies = models.JSONField(_("быстрые ответы"), default=list, blank=True)
    is_active = models.BooleanField(_("используется"), default=True)
    updated_at = models.DateTimeField(_("обновлён"), auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["key", "stage__order", "id"]
        verbose_name = _("шаблон сообщения")
        verbose_name_plural = _("шаблоны сообщений")
        indexes = [models.Index(fields=["key", "stage", "is_active"], name="template_lookup_idx")]

    def __str__(self):
        return f"{self.key} · {self.stage or 'все этапы'}"

    def clean(self):
        # Checked where staff save it, not when a member is waiting: Telegram refuses the
        # whole message for one bad tag. Placeholders are filled with escaped text, so
        # checking the template as written is enough.
        if errors := telegram_html.validate(self.text):
            raise ValidationError({"text": errors})


class CrisisContact(models.Model):
    name = models.CharField(_("служба"), max_length=200)
    phone = models.CharField(_("телефон"), max_length=64)
    description = models.CharField(_("описание"), max_length=255, blank=True)
    order = models.PositiveSmallIntegerField(_("порядок"), default=0)
    is_active = models.BooleanField(_("показывать"), default=True)

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("контакт помощи")
        verbose_name_plural = _("контакты помощи")

    def __str__(self):
        return f"{self.name}: {self.phone}"


class CrisisAlert(models.Model):
    """A member's message looked like a crisis: staff take it, help, note what they did, resolve.

    One open alert per member: later signals are counted on it (and re-send helplines at most
    every 10 minutes unless acute) instead of paging staff again.
    """

    class Status(models.TextChoices):
        NEW = "new", _("новый")
        IN_PROGRESS = "in_progress", _("в работе")
        RESOLVED = "resolved", _("разобран")

    user = models.ForeignKey(TelegramUser, on_delete=models.CASCADE, related_name="crisis_alerts",
                             verbose_name=_("участник"))
    status = models.CharField(_("статус"), max_length=12, choices=Status.choices, default=Status.NEW)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="crisis_alerts_assigned", verbose_name=_("ответственный"))
    excerpt = EncryptedTextField(_("фрагмент сообщения"), blank=True, default="")
    detected_by = models.CharField(_("как обнаружено"), max_length=16, default="keywords")
    category = models.CharField(_("категория"), max_length=16, blank=True)
    evidence = EncryptedTextField(_("совпавшие слова"), blank=True, default="")
    acute = models.BooleanField(_("острая опасность"), default=False)
    signals = models.PositiveIntegerField(_("сигналов"), default=1)
    last_signal_at = models.DateTimeField(_("последний сигнал"), null=True, blank=True)
    helplines_sent_at = models.DateTimeField(_("контакты помощи отправлены"), null=True, blank=True)
    staff_alerts = models.PositiveSmallIntegerField(_("оповещений сотрудникам"), default=0)
    staff_alerted_at = models.DateTimeField(_("сотрудники оповещены"), null=True, blank=True)
    created_at = models.DateTimeField(_("время"), auto_now_add=True)
    resolved_at = models.DateTimeField(_("разобрано"), null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                    blank=True, verbose_name=_("сотрудник"))

    class Meta:
        ordering = ["resolved_at", "-created_at"]
        verbose_name = _("кризисный сигнал")
        verbose_name_plural = _("кризисные сигналы")
        indexes = [models.Index(fields=["resolved_at", "-created_at"], name="crisis_open_idx")]
        constraints = [
            # Concurrent signals for one member end up on one open alert, never two.
            models.UniqueConstraint(fields=["user"], condition=~models.Q(status="resolved"),
                                    name="crisis_one_open_alert_per_member"),
        ]

    def __str__(self):
        return f"{self.user} · {self.created_at:%Y-%m-%d %H:%M}"


class CrisisNote(models.Model):
    """What staff did or learned about an alert; resolving requires one."""

    alert = models.ForeignKey(CrisisAlert, on_delete=models.CASCADE, related_name="notes",
                              verbose_name=_("сигнал"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                               verbose_name=_("автор"))
    text = EncryptedTextField(_("заметка"))
    created_at = models.DateTimeField(_("время"), auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("заметка по кризису")
        verbose_name_plural = _("заметки по кризису")

    def __str__(self):
        return f"{self.alert_id} · {self.created_at:%Y-%m-%d %H:%M}"


class MemberFlagChange(models.Model):
    """Who changed a member's crisis flag or "blocked" by hand, and why (the only way to change them)."""

    class Field(models.TextChoices):
        CRISIS_FLAG = "crisis_flag", _("кризисный флаг")
        IS_BLOCKED = "is_blocked", _("заблокировал бота")

    user = models.ForeignKey(TelegramUser, on_delete=models.CASCADE, related_name="flag_changes",
                             verbose_name=_("участник"))
    field = models.CharField(_("поле"), max_length=16, choices=Field.choices)
    value = models.BooleanField(_("новое значение"))
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                              verbose_name=_("сотрудник"))
    reason = EncryptedTextField(_("причина"))
    created_at = models.DateTimeField(_("время"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("изменение флага участника")
        verbose_name_plural = _("изменения флагов участников")

    def __str__(self):
        return f"{self.user} · {self.field} → {self.value}"


class OutboundMessage(models.Model):
    """A message the bot sends on its own outside triggers and broadcasts (staff alerts, tests).

    ``dedupe_key`` is unique: the row is claimed (pending → sending) before the Telegram call.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("ожидает")
        SENDING = "sending", _("отправляется")
        SENT = "sent", _("отправлено")
        FAILED = "failed", _("ошибка")
        UNKNOWN = "unknown", _("неизвестно")

    kind = models.CharField(_("тип"), max_length=24)
    chat_id = EncryptedBigIntegerField(_("чат"))  # a member's chat id is personal data
    user = models.ForeignKey(TelegramUser, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="+", verbose_name=_("участник"))
    text = EncryptedTextField(_("текст"))
    dedupe_key = models.CharField(_("ключ дедупликации"), max_length=128, unique=True)
    status = models.CharField(_("статус"), max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("попыток"), default=0)
    last_error = models.CharField(_("ошибка"), max_length=255, blank=True)
    next_attempt_at = models.DateTimeField(_("следующая попытка"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("взято в работу"), null=True, blank=True)
    sent_at = models.DateTimeField(_("отправлено в"), null=True, blank=True)
    created_at = models.DateTimeField(_("создано"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("исходящее сообщение")
        verbose_name_plural = _("исходящие сообщения")
        indexes = [models.Index(fields=["status", "claimed_at"], name="outbound_status_idx")]

    def __str__(self):
        return f"{self.kind} → {self.chat_id}"


# The highest daily budget staff can set (ProactivityConfig.max_per_day is validated against it).
MAX_SLOTS_PER_DAY = 10


class DailyMessageSlot(models.Model):
    """One message the bot wrote first to a member on their local day: the daily budget's ledger.

    Proactive messages and broadcasts that count against the budget each hold one row while
    they are being sent and after they were delivered (or may have been); an undelivered one
    gives its row back. ``(member, local_date, slot)`` is unique and ``slot`` is 1..max, so
    the database itself refuses one message too many, whatever the number of workers.
    """

    class Source(models.TextChoices):
        PROACTIVE = "proactive", _("проактивное сообщение")
        BROADCAST = "broadcast", _("рассылка")

    user = models.ForeignKey(TelegramUser, on_delete=models.CASCADE, related_name="daily_slots",
                             verbose_name=_("участник"))
    local_date = models.DateField(_("местная дата"))
    slot = models.PositiveSmallIntegerField(_("номер за день"))
    source = models.CharField(_("источник"), max_length=10, choices=Source.choices)
    taken_at = models.DateTimeField(_("занят в"), default=timezone.now)

    class Meta:
        ordering = ["-local_date", "slot"]
        verbose_name = _("сообщение в дневном лимите")
        verbose_name_plural = _("дневной лимит сообщений")
        constraints = [
            models.UniqueConstraint(fields=["user", "local_date", "slot"], name="daily_slot_unique"),
            models.CheckConstraint(condition=models.Q(slot__gte=1, slot__lte=MAX_SLOTS_PER_DAY),
                                   name="daily_slot_range"),
        ]

    def __str__(self):
        return f"{self.user_id} · {self.local_date} · {self.slot}"


class OperationalFailure(models.Model):
    """A background task or the bot failed: one row per (where, error class, hour), counted.

    Never holds personal data: only the task or component name and the exception's class.
    """

    source = models.CharField(_("где"), max_length=120)
    error_class = models.CharField(_("ошибка"), max_length=120)
    hour = models.DateTimeField(_("час"))
    count = models.PositiveIntegerField(_("сколько раз"), default=1)
    first_at = models.DateTimeField(_("впервые"), default=timezone.now)
    last_at = models.DateTimeField(_("в последний раз"), default=timezone.now)
    alerted = models.BooleanField(_("сотрудники оповещены"), default=False)

    class Meta:
        ordering = ["-last_at"]
        verbose_name = _("сбой фоновой задачи")
        verbose_name_plural = _("сбои фоновых задач")
        constraints = [models.UniqueConstraint(fields=["source", "error_class", "hour"], name="failure_unique_hour")]

    def __str__(self):
        return f"{self.source}: {self.error_class} ×{self.count}"
