from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = "Личные данные и доступ"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import signals  # noqa: F401
        from .roles import roles_top_up

        post_migrate.connect(roles_top_up, dispatch_uid="privacy.roles_top_up")
