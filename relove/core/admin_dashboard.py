"""The admin index's operations dashboard: unfold's DASHBOARD_CALLBACK and its live-refresh endpoint."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .dashboard import dashboard, metrics_of

BODY_TEMPLATE = "admin/relove/dashboard_body.html"


def dashboard_callback(request, context: dict) -> dict:
    """unfold calls this for ``admin:index``: the cards this staff member may see."""
    context.update(ops=dashboard(request.user), refresh_seconds=settings.DASHBOARD_REFRESH_SECONDS)
    return context


@never_cache
@require_GET
def dashboard_json(request):
    """The same dashboard, re-read: the index page polls it and swaps the body in place."""
    data = dashboard(request.user)
    return JsonResponse({
        "generated_at": data["generated_at"].isoformat(),
        "metrics": metrics_of(data),
        "status": {row["key"]: row["tone"] for row in data["status"]},
        "html": render_to_string(BODY_TEMPLATE, {"ops": data}, request=request),
    })
