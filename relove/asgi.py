"""ASGI entry point (uvicorn in production): the admin, the API and the Telegram webhook."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relove.settings")

application = get_asgi_application()

from relove.core.startup import run_startup_checks  # noqa: E402  (needs the app registry)

# Safe inside a worker's running event loop (uvicorn --workers): see run_startup_checks.
run_startup_checks()
