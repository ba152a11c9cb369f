"""API output formats: profile data is JSON, list sizes are capped."""

import pytest
from rest_framework.test import APIClient

from testkit.factories import ProfileFactory, StaffFactory, TelegramUserFactory

pytestmark = pytest.mark.django_db


def test_profile_data_is_a_json_object_not_a_repr():
    ProfileFactory(data={"interests": ["отношения"], "pains": []})
    client = APIClient()
    client.force_login(StaffFactory(roles=["Куратор"]))
    row = client.get("/api/v1/profiles/").json()["results"][0]
    assert row["data"] == {"interests": ["отношения"], "pains": []}


def test_limit_is_capped_at_200():
    TelegramUserFactory.create_batch(205)
    client = APIClient()
    client.force_login(StaffFactory(roles=["Куратор"]))
    body = client.get("/api/v1/users/?limit=100000").json()
    assert body["count"] == 205 and len(body["results"]) == 200
