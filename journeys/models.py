"""The 12 stages of the hero's journey, each member's progress through them, and streams."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from profiles.models import TelegramUser
from relove.core.crypto import EncryptedTextField

STAGE_COUNT = 12
STEP_QUICK_REPLIES_MAX = 3
QUICK_REPLY_MAX_CHARS = 40
STREAM_TAG_MAX_CHARS = 64


def _short_strings(value, *, count: int | None, length: int) -> bool:
    return isinstance(value, list) and (count is None or len(value) <= count) and all(
        isinstance(v, str) and 0 < len(v.strip()) and len(v) <= length for v in value)


class JourneyStage(models.Model):
    order = models.PositiveSmallIntegerField(
        _("номер"), unique=True, validators=[MinValueValidator(1), MaxValueValidator(STAGE_COUNT)]
    )
    name = models.CharField(_("название"), max_length=128)
    description = models.TextField(_("описание"), blank=True)
    style_prompt = models.TextField(
        _("стиль Наташи на этапе"), blank=True,
        help_text=_("Как Наташа ведёт разговор на этом этапе (часть системного промпта)"),
    )
    quick_replies = models.JSONField(
        _("быстрые ответы"), default=list, blank=True,
        help_text=_("2–3 коротких ответа от лица участника"),
    )
    first_question = models.TextField(_("первый вопрос этапа"), blank=True)
    min_confidence = models.FloatField(
        _("минимальная уверенность для перехода"), default=0.7,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["order"]
        verbose_name = _("этап пути")
        verbose_name_plural = _("этапы пути")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(order__gte=1, order__lte=STAGE_COUNT), name="stage_order_range"
            ),
        ]

    def __str__(self):
        return f"{self.order} · {self.name}"


class JourneyProgress(models.Model):
    """One change of a member's stage: who or what moved them, how sure, on what evidence."""

    class Source(models.TextChoices):
        INITIAL = "initial", _("начало пути")
        PLACEMENT = "placement", _("определение этапа")
        LLM = "llm", _("анализ разговора")
        STAFF = "staff", _("вручную сотрудником")

    user = models.ForeignKey(TelegramUser, on_delete=models.CASCADE, related_name="journey_progress",
                             verbose_name=_("участник"))
    stage = models.ForeignKey(JourneyStage, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("этап"))
    previous_stage = models.ForeignKey(JourneyStage, on_delete=models.PROTECT, related_name="+",
                                       null=True, blank=True, verbose_name=_("предыдущий этап"))
    confidence = models.FloatField(_("уверенность"), default=1.0,
                                   validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    evidence = EncryptedTextField(_("основание"), blank=True, default="")
    source = models.CharField(_("источник"), max_length=10, choices=Source.choices, default=Source.LLM)
    skipped_stages = models.JSONField(
        _("пропущенные этапы"), default=list, blank=True,
        help_text=_("Этапы, через которые участник перешёл сразу: не пройдены, а пропущены"))
    announced_at = models.DateTimeField(
        _("участнику показано"), null=True, blank=True,
        help_text=_("Когда участник увидел поздравление с новым этапом (или решено не показывать)"))
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                   blank=True, verbose_name=_("сотрудник"))
    reason = models.TextField(_("причина"), blank=True)
    created_at = models.DateTimeField(_("время"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("изменение этапа")
        verbose_name_plural = _("история этапов")
        indexes = [
            models.Index(fields=["user", "-created_at"], name="progress_user_time_idx"),
            models.Index(fields=["stage", "created_at"], name="progress_stage_time_idx"),
        ]

    def __str__(self):
        return f"{self.user} → {self.stage}"


class JourneyInsight(models.Model):
    """What the stage analysis noticed: an insight, a breakthrough, an avoidance, a contradiction."""

    class Kind(models.TextChoices):
        INSIGHT = "insight", _("инсайт")
        BREAKTHROUGH = "breakthrough", _("прорыв")
        AVOIDANCE = "avoidance", _("избегание")
        CONTRADICTION = "contradiction", _("противоречие")
        STAGE_SIGNAL = "stage_signal", _("сигнал этапа")

    user = models.ForeignKey(TelegramUser, on_delete=models.CASCADE, related_name="insights",
                             verbose_name=_("участник"))
    stage = models.ForeignKey(JourneyStage, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+", verbose_name=_("этап"))
    kind = models.CharField(_("тип"), max_length=16, choices=Kind.choices)
    text = EncryptedTextField(_("текст"))
    confidence = models.FloatField(_("уверенность"), default=0.0)
    analysed_log_id = models.BigIntegerField(
        _("проанализирована реплика"), null=True, blank=True,
        help_text=_("Id последней реплики участника в журнале, которую видел анализ"),
    )
    created_at = models.DateTimeField(_("время"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("наблюдение")
        verbose_name_plural = _("наблюдения")
        indexes = [models.Index(fields=["user", "kind", "-created_at"], name="insight_user_kind_idx")]
        constraints = [
            # One stage analysis per member turn: a re-delivered or doubled task cannot count twice.
            models.UniqueConstraint(fields=["user", "analysed_log_id"], condition=models.Q(kind="stage_signal"),
                                    name="insight_one_signal_per_turn"),
        ]

    def __str__(self):
        return f"{self.user} · {self.get_kind_display()}"


class Stream(models.Model):
    """A relove.ru stream: a group programme with a start date and exercise steps."""

    title = models.CharField(_("название"), max_length=200)
    slug = models.SlugField(_("код"), max_length=64, unique=True)
    description = models.TextField(_("описание"), help_text=_("1–2 предложения для рекомендации"))
    url = models.URLField(_("ссылка"))
    starts_at = models.DateField(_("дата старта"), null=True, blank=True, db_index=True)
    tags = models.JSONField(_("темы"), default=list, blank=True)
    suitable_stages = models.ManyToManyField(JourneyStage, blank=True, related_name="streams",
                                             verbose_name=_("подходящие этапы"))
    is_active = models.BooleanField(_("активен"), default=True)
    created_at = models.DateTimeField(_("создан"), auto_now_add=True)

    class Meta:
        ordering = ["starts_at", "title"]
        verbose_name = _("поток")
        verbose_name_plural = _("потоки")

    def __str__(self):
        return self.title

    def clean(self):
        if not _short_strings(self.tags, count=None, length=STREAM_TAG_MAX_CHARS):
            raise ValidationError({"tags": _("Темы — список непустых строк до %(n)d символов.")
                                   % {"n": STREAM_TAG_MAX_CHARS}})


class StreamStep(models.Model):
    """One exercise of a stream's programme, due ``day_offset`` days after enrolment."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="steps",
                               verbose_name=_("поток"))
    day_offset = models.PositiveSmallIntegerField(_("день от начала"), default=0)
    order = models.PositiveSmallIntegerField(_("порядок"), default=0)
    text = models.TextField(_("задание"))
    quick_replies = models.JSONField(_("быстрые ответы"), default=list, blank=True)

    class Meta:
        ordering = ["stream", "day_offset", "order"]
        verbose_name = _("шаг программы")
        verbose_name_plural = _("шаги программы")
        constraints = [
            models.UniqueConstraint(fields=["stream", "day_offset", "order"], name="stream_step_unique"),
        ]

    def __str__(self):
        return f"{self.stream} · день {self.day_offset}"

    def clean(self):
        # Shown under the exercise as buttons: Telegram's keyboard and the bot's style limit them.
        if not _short_strings(self.quick_replies, count=STEP_QUICK_REPLIES_MAX, length=QUICK_REPLY_MAX_CHARS):
            raise ValidationError({"quick_replies": _(
                "Не больше %(count)d быстрых ответов, каждый от 1 до %(length)d символов.")
                % {"count": STEP_QUICK_REPLIES_MAX, "length": QUICK_REPLY_MAX_CHARS}})


class StreamEnrollment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("идёт")
        COMPLETED = "completed", _("завершён")
        LEFT = "left", _("вышел")

    user = models.ForeignKey(TelegramUser, on_delete=models.CASCADE, related_name="enrollments",
                             verbose_name=_("участник"))
    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="enrollments",
                               verbose_name=_("поток"))
    status = models.CharField(_("статус"), max_length=12, choices=Status.choices, default=Status.ACTIVE)
    ref_code = models.CharField(_("реф-код"), max_length=32, blank=True)
    enrolled_at = models.DateTimeField(_("записан"), auto_now_add=True)

    class Meta:
        ordering = ["-enrolled_at"]
        verbose_name = _("запись на поток")
        verbose_name_plural = _("записи на потоки")
        constraints = [
            models.UniqueConstraint(fields=["user", "stream"], name="enrollment_unique_member_stream"),
        ]
        indexes = [models.Index(fields=["stream", "status"], name="enrollment_stream_status_idx")]

    def __str__(self):
        return f"{self.user} · {self.stream}"


class StreamStepDelivery(models.Model):
    """One exercise of a member's stream programme: the day it is due and whether it went out.

    Written at enrolment for every step of the programme (the first one is sent at once and
    written as delivered). The trigger engine sends the undelivered rows whose ``due_on`` has
    come (``journeys.selectors.stream_steps_due``) and then calls
    ``journeys.services.stream_step_mark_delivered``.
    """

    enrollment = models.ForeignKey(StreamEnrollment, on_delete=models.CASCADE, related_name="step_deliveries",
                                   verbose_name=_("запись на поток"))
    step = models.ForeignKey(StreamStep, on_delete=models.CASCADE, related_name="deliveries",
                             verbose_name=_("шаг"))
    due_on = models.DateField(_("в какой день"), help_text=_("Дата в часовом поясе участника"))
    delivered_at = models.DateTimeField(_("отправлен"), null=True, blank=True)

    class Meta:
        ordering = ["enrollment", "due_on", "step__order"]
        verbose_name = _("шаг программы участника")
        verbose_name_plural = _("шаги программы участников")
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "step"], name="step_delivery_once"),
        ]
        indexes = [
            models.Index(fields=["due_on"], name="step_delivery_due_idx", condition=models.Q(delivered_at=None)),
        ]

    def __str__(self):
        return f"{self.enrollment} · {self.step}"
