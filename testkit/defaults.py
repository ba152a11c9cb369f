"""Restore the rows the data migrations create, for tests that flush the database.

Transactional tests (the bot in threads and processes, concurrency tests) end with a
flush that also removes the 12 stages, templates, prompts and the config. The data
migrations' own functions put them back, so tests see exactly what ``migrate`` creates.
"""

import importlib

from django.apps import apps

DATA_MIGRATIONS = [
    ("journeys.migrations.0002_default_stages", "create_stages"),
    ("bot.migrations.0002_defaults", "create_defaults"),
    ("triggers.migrations.0002_default_config", "create_config"),
]


def ensure_default_rows() -> None:
    for module, function in DATA_MIGRATIONS:
        getattr(importlib.import_module(module), function)(apps, None)
    from relove.core.crypto import ensure_canary
    from relove.core.schedules import ensure_periodic_tasks

    ensure_canary()
    ensure_periodic_tasks()
