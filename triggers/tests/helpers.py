"""Small builders shared by the trigger tests."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from testkit.factories import TelegramUserFactory

MOSCOW = ZoneInfo("Europe/Moscow")


def local(zone: str | ZoneInfo, *args) -> datetime:
    """An aware UTC datetime for a local wall-clock time, e.g. ``local("Asia/Tokyo", 2026, 3, 1, 9)``."""
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    return datetime(*args, tzinfo=tz).astimezone(UTC)


def silent_member(*, now: datetime, silent_for: timedelta = timedelta(hours=25), **fields):
    """A consenting member on stage 1 whose last message was ``silent_for`` before ``now``."""
    fields.setdefault("last_user_message_at", now - silent_for)
    fields.setdefault("last_activity_at", fields["last_user_message_at"])
    fields.setdefault("consent_at", now - timedelta(days=30))
    return TelegramUserFactory(**fields)
