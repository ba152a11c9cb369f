"""One default time zone: TIME_ZONE_DEFAULT seeds the settings; every app reads the settings."""

from zoneinfo import ZoneInfo

import pytest

from bot.services.members import TelegramIdentity
from bot.services.orchestrator import Incoming, Kind, handle
from journeys.services import stream_enroll
from profiles.zones import default_zone_name, member_zone
from testkit.factories import StreamFactory, StreamStepFactory, TelegramUserFactory
from triggers.models import ProactivityConfig

pytestmark = pytest.mark.django_db


def test_the_first_migrate_seeded_the_default_from_time_zone_default(settings):
    assert ProactivityConfig.load().default_timezone == settings.TIME_ZONE_DEFAULT
    assert default_zone_name() == settings.TIME_ZONE_DEFAULT


def test_a_changed_default_reaches_journeys_the_bot_and_members_without_a_zone():
    ProactivityConfig.objects.filter(pk=1).update(default_timezone="Asia/Novosibirsk")
    member = TelegramUserFactory(timezone="", telegram_id=6060)
    assert member_zone(member) == ZoneInfo("Asia/Novosibirsk")
    assert member_zone(TelegramUserFactory(timezone="Europe/Kaliningrad")) == ZoneInfo("Europe/Kaliningrad")

    out = handle(Incoming(TelegramIdentity(telegram_id=6060), Kind.COMMAND, command="settings"))
    assert "Asia/Novosibirsk" in out[0].text  # the member is told which zone "default" is

    stream = StreamFactory()
    StreamStepFactory(stream=stream, day_offset=0)
    StreamStepFactory(stream=stream, day_offset=1)
    enrollment, _ = stream_enroll(user=member, stream=stream)
    step = enrollment.step_deliveries.get(step__day_offset=1)
    local_day = enrollment.enrolled_at.astimezone(ZoneInfo("Asia/Novosibirsk")).date()
    assert (step.due_on - local_day).days == 1
