from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from .crypto import verify_keys


@checks.register(checks.Tags.security)
def check_encryption_keys(app_configs, **kwargs):
    """A wrong or missing FIELD_ENCRYPTION_KEY fails loudly, never silently."""
    try:
        verify_keys()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="relove.E001", hint="Set FIELD_ENCRYPTION_KEY (see README).")]
    return []


@checks.register()
def check_admin_time_zone(app_configs, **kwargs):
    """ADMIN_TIME_ZONE must be an IANA zone: every admin page renders times in it."""
    from .admin_time import admin_zone

    try:
        admin_zone()
    except (ValueError, LookupError) as exc:
        return [checks.Error(f"ADMIN_TIME_ZONE is not a known time zone: {exc}", id="relove.E002",
                             hint="Use an IANA name such as Europe/Moscow.")]
    return []
