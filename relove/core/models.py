from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .crypto import EncryptedJSONField, EncryptedTextField


class EncryptionCanary(models.Model):
    """One known value encrypted with the key in use; decrypting it at startup proves the keys."""

    value = EncryptedTextField()

    class Meta:
        verbose_name = _("контрольное значение шифрования")
        verbose_name_plural = _("контрольные значения шифрования")

    def __str__(self):
        return str(self._meta.verbose_name)


class StaffTask(models.Model):
    """Slow work a staff member asked for in the admin (a send, an LLM preview), done by a worker.

    The web request only writes this row and queues a Celery task with its id; the admin
    says "queued" and later shows the stored outcome (``relove.core.staff_tasks``).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("в очереди")
        RUNNING = "running", _("выполняется")
        DONE = "done", _("готово")
        FAILED = "failed", _("ошибка")

    kind = models.CharField(_("действие"), max_length=48)
    target = models.CharField(_("объект"), max_length=64, blank=True, help_text=_("например, broadcast:12"))
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True,
                                     related_name="+", verbose_name=_("сотрудник"))
    # A sandbox run carries a conversation typed or replayed by staff: encrypted like the result.
    params = EncryptedJSONField(_("параметры"), default=dict, blank=True)
    status = models.CharField(_("статус"), max_length=8, choices=Status.choices, default=Status.QUEUED)
    level = models.PositiveSmallIntegerField(_("уровень"), default=20)  # django.contrib.messages levels
    message = models.CharField(_("итог"), max_length=500, blank=True)
    # Previews carry Natasha's words to a member: personal data, so encrypted like the rest.
    result = EncryptedJSONField(_("результат"), default=dict, blank=True)
    created_at = models.DateTimeField(_("создано"), auto_now_add=True)
    finished_at = models.DateTimeField(_("завершено"), null=True, blank=True)
    announced_at = models.DateTimeField(_("показано сотруднику"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("фоновое действие")
        verbose_name_plural = _("фоновые действия")
        indexes = [models.Index(fields=["requested_by", "kind"], name="stafftask_unannounced_idx",
                                condition=models.Q(announced_at=None))]

    def __str__(self):
        return f"{self.kind} · {self.get_status_display()}"


class Heartbeat(models.Model):
    """When each moving part of the product last proved it was alive (``relove.core.liveness``).

    One row per component: the Celery worker, beat, the bot's update loop, the trigger scan, the
    Telegram token check, the LLM. Kept in the database because it is the one store every process
    shares, in production and in the single-machine setup alike. No personal data.
    """

    name = models.CharField(_("компонент"), max_length=32, primary_key=True)
    seen_at = models.DateTimeField(_("последний сигнал"))
    ok = models.BooleanField(_("в порядке"), default=True)
    detail = models.CharField(_("подробности"), max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("сигнал жизни")
        verbose_name_plural = _("сигналы жизни")

    def __str__(self):
        return f"{self.name}: {self.seen_at:%Y-%m-%d %H:%M:%S}"
