"""The one time zone the back office shows times in (``ADMIN_TIME_ZONE``), with its label.

Staff read every time on a page in one labelled zone («МСК» by default), whatever their
browser's zone: admin requests run with this zone active, and times we render ourselves
carry the label.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from django.conf import settings
from django.utils import timezone

# Labels staff know; any other zone is labelled by its abbreviation or UTC offset.
KNOWN_LABELS = {
    "Europe/Moscow": "МСК",
    "UTC": "UTC",
    "Etc/UTC": "UTC",
}


def admin_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(getattr(settings, "ADMIN_TIME_ZONE", "") or settings.TIME_ZONE)


def zone_label(zone: zoneinfo.ZoneInfo, *, at: datetime | None = None) -> str:
    """«МСК» for Moscow; otherwise the zone's abbreviation («CET») or its offset («UTC+05»)."""
    if zone.key in KNOWN_LABELS:
        return KNOWN_LABELS[zone.key]
    name = (at or timezone.now()).astimezone(zone).tzname() or ""
    if name[:1] in "+-":
        return f"UTC{name}"
    return name or zone.key


def admin_zone_label() -> str:
    return zone_label(admin_zone())


def admin_datetime(value: datetime | None, *, label: bool = True) -> str:
    """A moment as staff read it: ``2026-11-29 21:33 МСК`` (empty for None)."""
    if value is None:
        return "—"
    zone = admin_zone()
    text = timezone.localtime(value, zone).strftime("%Y-%m-%d %H:%M")
    return f"{text} {zone_label(zone, at=value)}" if label else text


class AdminTimeZoneMiddleware:
    """Activates ``ADMIN_TIME_ZONE`` for the admin, so fields, lists and forms share one zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/admin/"):
            return self.get_response(request)
        with timezone.override(admin_zone()):
            return self.get_response(request)
