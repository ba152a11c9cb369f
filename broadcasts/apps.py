from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BroadcastsConfig(AppConfig):
    name = "broadcasts"
    verbose_name = _("Рассылки")

    def ready(self):
        from bot import hooks

        from .rendering import CALLBACK_PREFIX
        from .services.buttons import broadcast_button_pressed

        hooks.register_quick_reply_source(CALLBACK_PREFIX, broadcast_button_pressed)

        from .services.staff_link import staff_link_command

        hooks.register_command("staff", staff_link_command)
