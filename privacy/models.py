"""Records of privacy operations. They hold no personal data: not the member's id, not a name."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ErasureRecord(models.Model):
    """A member's data was erased: when, by whom (the member or a staff account) and how much."""

    class Initiator(models.TextChoices):
        MEMBER = "member", _("участник (/forget)")
        STAFF = "staff", _("сотрудник")

    erased_at = models.DateTimeField(_("удалено"), auto_now_add=True, db_index=True)
    initiator = models.CharField(_("инициатор"), max_length=8, choices=Initiator.choices)
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+", verbose_name=_("сотрудник"))
    rows_deleted = models.JSONField(_("удалено записей"), default=dict,
                                    help_text=_("Число удалённых строк по таблицам"))
    archive_rows_deleted = models.PositiveIntegerField(_("удалено записей из архивов"), default=0)
    cache_keys_deleted = models.PositiveIntegerField(_("удалено ключей кэша"), default=0)

    class Meta:
        ordering = ["-erased_at"]
        verbose_name = _("удаление данных участника")
        verbose_name_plural = _("удаления данных участников")

    def __str__(self):
        return f"{self.get_initiator_display()} · {self.erased_at:%Y-%m-%d %H:%M}"


class Access(models.Model):
    """No table: holds the permissions that belong to no single model."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_analytics", _("Может смотреть аналитику (только агрегаты)")),
            ("export_member_data", _("Может выгружать все данные участника")),
        ]
        verbose_name = _("доступ")
        verbose_name_plural = _("доступ")

    def __str__(self):
        return str(self._meta.verbose_name)
