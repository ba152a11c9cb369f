"""Every admin changelist and every API list costs a fixed number of queries, whatever the rows.

Each page is measured with a few rows of everything, then asserted (``django_assert_num_queries``)
to cost exactly as much with several times more: a query per row (N+1) fails here.
"""

from datetime import timedelta
from itertools import count

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from bot.models import CrisisAlert, OutboundMessage, ProcessedUpdate
from journeys.services import stream_enroll
from profiles.models import MemberTag, UserInteraction
from relove.core.models import StaffTask
from testkit.factories import (
    ActivityLogFactory,
    BroadcastDeliveryFactory,
    BroadcastFactory,
    JourneyInsightFactory,
    JourneyProgressFactory,
    ProfileFactory,
    StaffTelegramAccountFactory,
    StreamFactory,
    StreamStepFactory,
    TelegramUserFactory,
    TriggerFactory,
    UserSessionFactory,
)

pytestmark = pytest.mark.django_db
_serial = count(1)

API_LISTS = ["/api/v1/users/", "/api/v1/journeys/stages/", "/api/v1/journeys/progress/", "/api/v1/profiles/",
             "/api/v1/streams/", "/api/v1/triggers/", "/api/v1/broadcasts/"]


def _rows(n: int, staff) -> None:
    """``n`` rows of everything staff list, each with the relations its page shows."""
    for _ in range(n):
        i = next(_serial)
        member = TelegramUserFactory()
        member.tags.add(MemberTag.objects.create(name=f"tag-{i}"))
        UserSessionFactory(user=member, turns=[{"role": "user", "content": "привет"}])
        ProfileFactory(user=member)
        ActivityLogFactory(user=member)
        JourneyInsightFactory(user=member)
        JourneyProgressFactory(user=member, changed_by=staff)
        stream = StreamFactory()
        StreamStepFactory(stream=stream, day_offset=0)
        StreamStepFactory(stream=stream, day_offset=1)
        stream.suitable_stages.set([1, 2])
        stream_enroll(user=member, stream=stream)
        UserInteraction.objects.create(user=member, kind=UserInteraction.Kind.STREAM_CLICKED,
                                       metadata={"stream_id": stream.pk})
        TriggerFactory(user=member, scheduled_for=timezone.now() + timedelta(hours=i))
        broadcast = BroadcastFactory(created_by=staff)
        broadcast.segment_stages.set([1])
        BroadcastDeliveryFactory(broadcast=broadcast, user=member)
        StaffTelegramAccountFactory()
        CrisisAlert.objects.create(user=member, excerpt="…", resolved_by=staff)
        OutboundMessage.objects.create(kind="staff_alert", chat_id=-1, user=member, text="x", dedupe_key=f"q:{i}")
        ProcessedUpdate.objects.create(update_id=10_000 + i)
        StaffTask.objects.create(kind="triggers.send_now", requested_by=staff, message="Отправлено: 1")


def _changelists():
    return [reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            for model in admin.site._registry]


def _measure(client, urls) -> dict[str, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for url in urls:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, follow=True)
        assert response.status_code == 200, url
        counts[url] = len(queries)
    return counts


@pytest.mark.parametrize("pages", ["admin", "api"])
def test_lists_cost_the_same_number_of_queries_with_more_rows(client, superuser, pages, django_assert_num_queries):
    client.force_login(superuser)
    urls = _changelists() if pages == "admin" else API_LISTS
    _rows(2, superuser)
    _measure(client, urls)  # first visits fill per-process caches (content types, permissions)
    expected = _measure(client, urls)
    _rows(5, superuser)
    for url in urls:
        with django_assert_num_queries(expected[url], info=url):
            assert client.get(url, follow=True).status_code == 200
