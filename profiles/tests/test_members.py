"""Member writes live in profiles.services; the admin and the API meet the same member rules."""

import pytest
from django.urls import reverse
from django.utils import timezone

from profiles.models import TelegramUser, UserInteraction
from profiles.services import (
    TelegramIdentity,
    member_record_consent,
    member_record_message,
    member_sync,
    member_update_settings,
    members_mark_blocked,
)
from testkit.factories import TelegramUserFactory

pytestmark = pytest.mark.django_db


def test_sync_creates_once_keeps_names_current_and_unblocks():
    first = member_sync(identity=TelegramIdentity(telegram_id=555, first_name="Аня", username="a" * 80))
    assert (first.first_name, len(first.username)) == ("Аня", 64)
    members_mark_blocked(user_ids=[first.pk])
    again = member_sync(identity=TelegramIdentity(telegram_id=555, first_name="Анна"))
    assert again.pk == first.pk and TelegramUser.objects.count() == 1
    stored = TelegramUser.objects.get(pk=first.pk)
    assert (stored.first_name, stored.is_blocked, stored.username) == ("Анна", False, "a" * 64)


def test_consent_is_recorded_once():
    member = TelegramUserFactory(consent_at=None)
    assert member_record_consent(user=member) is True
    assert member_record_consent(user=member) is False
    assert UserInteraction.objects.filter(user=member, kind=UserInteraction.Kind.CONSENT).count() == 1


def test_message_counts_add_up():
    member = TelegramUserFactory(messages_count=3)
    now = timezone.now()
    member_record_message(user=member, at=now)
    member_record_message(user=member, at=now)
    member.refresh_from_db()
    assert (member.messages_count, member.last_user_message_at) == (5, now)


def test_settings_refuse_an_unknown_zone():
    from django.core.exceptions import ValidationError

    member = TelegramUserFactory(timezone="Europe/Moscow")
    with pytest.raises(ValidationError):
        member_update_settings(user=member, timezone="Mars/Olympus")
    member.refresh_from_db()
    assert member.timezone == "Europe/Moscow"
    member_update_settings(user=member, timezone="Asia/Tokyo", is_paused=True)
    member.refresh_from_db()
    assert (member.timezone, member.is_paused) == ("Asia/Tokyo", True)


def test_the_admin_and_the_api_refuse_an_unknown_zone_with_the_same_message(client, superuser):
    member = TelegramUserFactory(timezone="Europe/Moscow")
    client.force_login(superuser)
    url = reverse("admin:profiles_telegramuser_change", args=[member.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("on" if v is True else v) for k, v in data.items() if v not in (False, None)}
    response = client.post(url, data | {"timezone": "Mars/Olympus"})
    assert response.status_code == 200
    admin_errors = response.context["adminform"].form.errors["timezone"]
    api = client.patch(f"/api/v1/users/{member.pk}/", {"timezone": "Mars/Olympus"}, content_type="application/json")
    assert api.status_code == 400
    assert api.json()["timezone"] == admin_errors == ["Неизвестный часовой пояс: Mars/Olympus"]
    member.refresh_from_db()
    assert member.timezone == "Europe/Moscow"
