from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TriggersConfig(AppConfig):
    name = "triggers"
    verbose_name = _("Проактивность")

    def ready(self):
        from bot.signals import member_message_received

        from .services.attribution import on_member_message

        member_message_received.connect(on_member_message, dispatch_uid="triggers.attribution")
