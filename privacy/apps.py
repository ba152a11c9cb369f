from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = "Личные данные и доступ"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import schema, signals  # noqa: F401 (registers the OpenAPI scheme, the receivers)
        from .roles import roles_top_up

        post_migrate.connect(roles_top_up, dispatch_uid="privacy.roles_top_up")
        _log_llm_endpoint()


def _log_llm_endpoint() -> None:
    """Every process says at start where members' words would be sent (152-FZ: data location)."""
    import logging
    from urllib.parse import urlsplit

    from django.conf import settings

    logger = logging.getLogger("relove.startup")
    anthropic = settings.LLM_PROVIDER == "anthropic"
    key = settings.ANTHROPIC_API_KEY if anthropic else settings.OPENAI_API_KEY
    base_url = settings.ANTHROPIC_BASE_URL if anthropic else settings.OPENAI_BASE_URL
    if not key:
        logger.info("LLM: off (templates only); no member text leaves this server")
        return
    host = urlsplit(base_url).hostname if base_url else ("api.anthropic.com" if anthropic else "api.openai.com")
    foreign = " (foreign endpoint allowed by LLM_ALLOW_FOREIGN_ENDPOINT)" if not base_url else ""
    logger.info("LLM endpoint host: %s%s (%s)", host, foreign, settings.LLM_PROVIDER)
