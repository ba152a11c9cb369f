"""Writes on the proactivity rules."""

from __future__ import annotations

from django.db import transaction

from ..models import ProactivityConfig


@transaction.atomic
def proactivity_config_update(*, changes: dict) -> ProactivityConfig:
    """Change the rules; validated like the admin form, recorded in the history.

    Nothing is cached: every scan reads the row, so the change applies from the next one,
    and deferrals planned under the old rules are planned again (see ``scan``).
    """
    config = ProactivityConfig.objects.select_for_update().get_or_create(pk=1)[0]
    for field, value in changes.items():
        setattr(config, field, value)
    config.full_clean()
    config.save()
    return config
