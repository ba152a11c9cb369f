"""The settings page says when a change applies and shows what members read; both follow the settings."""

from datetime import time

import pytest
from django.urls import reverse

from triggers.models import ProactivityConfig
from triggers.wording import daily_limit_phrase, window_phrase

pytestmark = pytest.mark.django_db
ADMIN_URL = reverse("admin:triggers_proactivityconfig_change", args=[1])


def test_the_page_says_when_a_change_applies_and_what_members_read(client, superuser):
    client.force_login(superuser)
    page = client.get(ADMIN_URL).content.decode()
    assert "не позже чем через минуту" in page
    assert "«Писать первой буду не чаще двух раз в день и только с 8 до 22 по твоему времени»" in page
    config = ProactivityConfig.load()
    config.max_per_day, config.window_end = 4, time(20, 30)
    config.save()
    page = client.get(ADMIN_URL).content.decode()
    assert "не чаще четырёх раз в день и только с 8 до 20:30" in page


@pytest.mark.parametrize(("count", "phrase"), [(1, "не чаще одного раза в день"), (2, "не чаще двух раз в день"),
                                               (5, "не чаще пяти раз в день"), (10, "не чаще десяти раз в день"),
                                               (0, "пока ни разу в день")])
def test_the_daily_limit_reads_as_russian(count, phrase):
    assert daily_limit_phrase(count) == phrase


def test_the_window_reads_with_minutes_only_when_there_are_some():
    assert window_phrase(time(8), time(22)) == "с 8 до 22"
    assert window_phrase(time(9, 30), time(21, 5)) == "с 9:30 до 21:05"
