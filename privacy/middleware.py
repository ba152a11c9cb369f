"""An admin session ends ADMIN_SESSION_MAX_HOURS after the login, however active it is."""

import time

from django.conf import settings
from django.contrib.auth import logout

from .signals import SESSION_LOGIN_AT


class AbsoluteSessionLifetimeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            login_at = request.session.get(SESSION_LOGIN_AT)
            # A session without a login time predates this rule: it ends too.
            if login_at is None or time.time() - login_at > settings.ADMIN_SESSION_MAX_HOURS * 3600:
                logout(request)
        return self.get_response(request)
