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
