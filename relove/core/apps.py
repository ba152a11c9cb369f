from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "relove.core"
    label = "core"
    verbose_name = _("Инфраструктура")

    def ready(self):
        from django.db.models.signals import post_migrate

        from . import checks  # noqa: F401  (registers system checks)
        from .crypto import ensure_canary
        from .schedules import ensure_periodic_tasks

        post_migrate.connect(ensure_canary, sender=self)
        post_migrate.connect(ensure_periodic_tasks, sender=self)
