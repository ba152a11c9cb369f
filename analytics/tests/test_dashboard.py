from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics import selectors
from analytics.services import activity_rollup_due
from profiles.models import UserInteraction
from testkit.factories import StaffFactory, TelegramUserFactory, TriggerFactory

pytestmark = pytest.mark.django_db


def test_summary_numbers():
    now = timezone.now()
    a = TelegramUserFactory(journey_stage=2, last_user_message_at=now)
    TelegramUserFactory(journey_stage=2, last_user_message_at=now - timedelta(days=10))
    TelegramUserFactory(journey_stage=5, last_user_message_at=now - timedelta(days=40), is_blocked=True)
    UserInteraction.objects.create(user=a, kind="message_in")
    TriggerFactory(user=a, status="sent", sent_at=now, answered_at=now)
    TriggerFactory(user=a, status="sent", sent_at=now)

    activity_rollup_due(now=now)  # what beat does every minute
    data = selectors.summary(now=now)
    assert data["active_members"] == {"day": 1, "week": 1, "month": 2, "total": 3, "blocked": 1}
    assert {s["stage"]: s["members"] for s in data["stages"]}[2] == 2
    assert data["proactive"] == {"sent": 2, "answered": 1, "rate": 0.5}
    assert data["messages_per_day"][-1]["count"] == 1
    assert data["retention"][-1]["members"] == 3
    assert data["retention"][-1]["retention"][0] == round(1 / 3, 3)


def test_dashboard_is_staff_only_and_renders(client):
    url = reverse("analytics-dashboard")
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(StaffFactory())
    assert client.get(url).status_code == 403  # staff without the analytics permission
    client.force_login(StaffFactory(roles=["Аналитик"]))
    response = client.get(url)
    assert response.status_code == 200
    assert "Удержание" in response.content.decode()
    assert client.get(reverse("analytics-dashboard-data")).json()["totals"]["total"] == 0
