import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relove.settings")

application = get_wsgi_application()

from relove.core.crypto import verify_keys  # noqa: E402  (needs the app registry)

verify_keys()
