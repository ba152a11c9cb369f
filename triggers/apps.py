from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TriggersConfig(AppConfig):
    name = "triggers"
    verbose_name = _("Проактивность")

    def ready(self):
        from bot import hooks
        from profiles.zones import register_default_zone

        from .budget import daily_budget_policy
        from .models import ProactivityConfig
        from .services.attribution import on_member_message

        hooks.register_message_listener("triggers.attribution", on_member_message)
        hooks.register_daily_budget(daily_budget_policy)
        register_default_zone(lambda: ProactivityConfig.load().default_timezone)
