from django.db import models
from django.utils.translation import gettext_lazy as _

from .crypto import EncryptedTextField


class EncryptionCanary(models.Model):
    """One known value encrypted with the key in use; decrypting it at startup proves the keys."""

    value = EncryptedTextField()

    class Meta:
        verbose_name = _("контрольное значение шифрования")
        verbose_name_plural = _("контрольные значения шифрования")

    def __str__(self):
        return str(self._meta.verbose_name)
