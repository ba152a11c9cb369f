"""Admin actions that fail say why, in Russian, on the page staff came from (never a bare 500)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from .staff_errors import tell_staff

# Django answers these itself (403, 404, 400): they are not failures of an action.
_HANDLED_BY_DJANGO = (Http404, PermissionDenied, SuspiciousOperation)


class StaffErrorMiddleware:
    """A POST in the admin (an action, a button, a save) that raises is logged with its traceback
    and turned into a redirect back with «Действие не выполнено: <причина>». GET requests keep
    Django's error page: redirecting a failing page to itself would loop."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.admin_prefix = reverse("admin:index")

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exc):
        if (request.method != "POST" or not request.path.startswith(self.admin_prefix)
                or isinstance(exc, _HANDLED_BY_DJANGO) or not getattr(request.user, "is_staff", False)):
            return None
        tell_staff(request, exc, failed="Действие не выполнено")
        return HttpResponseRedirect(self._back(request))

    @staticmethod
    def _back(request) -> str:
        referer = request.headers.get("Referer", "")
        if referer and url_has_allowed_host_and_scheme(referer, {request.get_host()}, request.is_secure()):
            return referer
        return request.get_full_path()
