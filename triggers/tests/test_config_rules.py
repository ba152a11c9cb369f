"""The proactivity rules live in the model: the admin form and the API refuse the same values alike."""

import pytest
from django.urls import reverse

from testkit.factories import StaffFactory
from triggers.models import ProactivityConfig

pytestmark = pytest.mark.django_db
CONFIG_URL = "/api/v1/proactivity-config/"
ADMIN_URL = reverse("admin:triggers_proactivityconfig_change", args=[1])

BAD = [
    ({"max_per_day": "11"}, "max_per_day", "10"),
    ({"fatigue_multiplier": "0"}, "fatigue_multiplier", "1"),
    ({"inactivity_after": "00:00:00"}, "inactivity_after", "не меньше одной минуты"),
    ({"inactivity_after": "-1 00:00:00"}, "inactivity_after", "не меньше одной минуты"),
    ({"min_interval": "-1 23:00:00"}, "min_interval", "не может быть отрицательным"),
    ({"window_start": "23:00"}, "window_end", "заканчиваться позже"),
    ({"morning_start": "10:00", "morning_end": "09:00"}, "morning_end", "заканчиваться позже начала"),
    ({"morning_start": "06:00", "morning_end": "07:00"}, "morning_start", "попадать в окно отправки"),
    ({"window_start": "10:00"}, "morning_start", "попадать в окно отправки"),  # the stored check-in ends at 10
]


def _admin_form_data(client, changes):
    form = client.get(ADMIN_URL).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("on" if v is True else v) for k, v in data.items() if v not in (False, None)}
    return data | changes


@pytest.mark.parametrize(("changes", "field", "message"), BAD)
def test_admin_and_api_refuse_the_same_values_with_the_same_message(client, changes, field, message):
    client.force_login(StaffFactory(is_superuser=True))
    before = ProactivityConfig.load().updated_at

    response = client.post(ADMIN_URL, _admin_form_data(client, changes))
    assert response.status_code == 200
    admin_errors = response.context["adminform"].form.errors[field]

    api = client.patch(CONFIG_URL, changes, content_type="application/json")
    assert api.status_code == 400
    assert api.json()[field] == admin_errors
    assert message in admin_errors[0]
    assert ProactivityConfig.load().updated_at == before


def test_the_service_refuses_what_the_forms_refuse():
    from django.core.exceptions import ValidationError

    from triggers.services.config import proactivity_config_update

    with pytest.raises(ValidationError) as refused:
        proactivity_config_update(changes={"min_interval": -ProactivityConfig.load().min_interval})
    assert "min_interval" in refused.value.message_dict


def test_a_check_in_overlapping_the_window_is_accepted(client):
    client.force_login(StaffFactory(is_superuser=True))
    response = client.patch(CONFIG_URL, {"window_start": "09:30", "morning_start": "07:00", "morning_end": "10:00"},
                            content_type="application/json")
    assert response.status_code == 200, response.json()
    assert str(ProactivityConfig.load().morning_start) == "07:00:00"
