"""A member's time zone: their own, else the product's default — one answer for every app.

The default lives in the proactivity settings (``ProactivityConfig.default_timezone``, seeded
from ``TIME_ZONE_DEFAULT`` on the first migrate); the triggers app registers a reader for it
here, so the apps below it (journeys, bot) ask this module and never import triggers.
"""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

_default_reader: list[Callable[[], str]] = []


def register_default_zone(reader: Callable[[], str]) -> None:
    _default_reader[:] = [reader]


def default_zone_name() -> str:
    """The configured default zone's IANA name (``TIME_ZONE_DEFAULT`` until the settings say otherwise)."""
    name = _default_reader[0]() if _default_reader else ""
    return name or settings.TIME_ZONE_DEFAULT


def zone_or_default(name: str | None) -> ZoneInfo:
    """``name`` as a ZoneInfo; empty or unknown gives the default zone."""
    for candidate in (name, default_zone_name(), settings.TIME_ZONE_DEFAULT):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def member_zone(user) -> ZoneInfo:
    return zone_or_default(getattr(user, "timezone", ""))
