"""The analytics page in the admin: numbers from ``selectors.summary``, refreshed every ~30 s."""

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import JsonResponse
from django.template.response import TemplateResponse

from relove.core.access import ANALYTICS

from . import selectors


@staff_member_required
@permission_required(ANALYTICS, raise_exception=True)
def dashboard(request):
    context = {**admin.site.each_context(request), "title": "Аналитика", "summary": selectors.summary()}
    return TemplateResponse(request, "admin/analytics/dashboard.html", context)


@staff_member_required
@permission_required(ANALYTICS, raise_exception=True)
def dashboard_data(request):
    return JsonResponse(selectors.summary())
