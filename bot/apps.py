from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BotConfig(AppConfig):
    name = "bot"
    verbose_name = _("Бот и разговоры")

    def ready(self):
        from celery.signals import task_failure

        from .services.failures import on_task_failure

        task_failure.connect(on_task_failure, dispatch_uid="bot.failures")
