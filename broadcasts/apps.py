from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BroadcastsConfig(AppConfig):
    name = "broadcasts"
    verbose_name = _("Рассылки")

    def ready(self):
        from bot.services.orchestrator import register_command, register_quick_reply_source

        from .rendering import CALLBACK_PREFIX
        from .services.buttons import broadcast_button_pressed

        register_quick_reply_source(CALLBACK_PREFIX, broadcast_button_pressed)

        from .services.staff_link import staff_link_command

        register_command("staff", staff_link_command)
