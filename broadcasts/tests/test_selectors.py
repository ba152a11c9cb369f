from datetime import timedelta

import pytest
from django.utils import timezone

from broadcasts.models import BroadcastDelivery
from broadcasts.selectors import Segment, audience, audience_count, broadcast_progress, delivery_counts
from journeys.models import StreamEnrollment
from profiles.models import MemberTag
from testkit.factories import (
    BroadcastDeliveryFactory,
    BroadcastFactory,
    StreamFactory,
    TelegramUserFactory,
    stage,
)

pytestmark = pytest.mark.django_db


def ids(qs):
    return set(qs.values_list("pk", flat=True))


def test_everyone_who_may_be_written_to_is_in_the_empty_segment():
    ok = TelegramUserFactory()
    TelegramUserFactory(is_blocked=True)
    TelegramUserFactory(crisis_flag=True)
    TelegramUserFactory(proactive_enabled=False)
    TelegramUserFactory(is_paused=True)
    no_consent = TelegramUserFactory(consent_at=None)
    assert ids(audience(segment=Segment())) == {ok.pk}
    assert ids(audience(segment=Segment(consented_only=False))) == {ok.pk, no_consent.pk}


def test_segment_criteria_combine_with_and_values_with_or():
    now = timezone.now()
    stream = StreamFactory()
    tag = MemberTag.objects.create(name="vip")
    a = TelegramUserFactory(journey_stage=2, gender="female", language_code="ru-RU")
    b = TelegramUserFactory(journey_stage=3, gender="male", language_code="ru")
    c = TelegramUserFactory(journey_stage=5, language_code="en", last_activity_at=now - timedelta(days=40))
    StreamEnrollment.objects.create(user=b, stream=stream)
    StreamEnrollment.objects.create(user=c, stream=stream, status=StreamEnrollment.Status.LEFT)
    a.tags.add(tag)
    c.tags.add(tag)

    assert ids(audience(segment=Segment(stage_ids=(stage(2).pk, stage(3).pk)))) == {a.pk, b.pk}
    assert ids(audience(segment=Segment(stream_ids=(stream.pk,)))) == {b.pk, c.pk}
    assert ids(audience(segment=Segment(tag_ids=(tag.pk,)))) == {a.pk, c.pk}
    assert ids(audience(segment=Segment(gender="female"))) == {a.pk}
    assert ids(audience(segment=Segment(language="ru"))) == {a.pk, b.pk}
    assert ids(audience(segment=Segment(active_within_days=30))) == {a.pk, b.pk}
    assert ids(audience(segment=Segment(tag_ids=(tag.pk,), language="en"))) == {c.pk}
    assert audience_count(segment=Segment(stream_ids=(stream.pk,), tag_ids=(tag.pk,))) == 1


def test_counts_rate_and_eta():
    now = timezone.now()
    broadcast = BroadcastFactory(status="sending", started_at=now - timedelta(seconds=60))
    for _ in range(30):
        BroadcastDeliveryFactory(broadcast=broadcast, status="sent", sent_at=now - timedelta(seconds=5))
    for status in ("pending", "pending", "sending", "failed", "blocked", "unknown"):
        BroadcastDeliveryFactory(broadcast=broadcast, status=status)
    counts = delivery_counts(broadcast_id=broadcast.pk)
    assert (counts["total"], counts["sent"], counts["pending"], counts["failed"], counts["blocked"],
            counts["unknown"]) == (36, 30, 3, 1, 1, 1)
    progress = broadcast_progress(broadcast=broadcast, now=now)
    assert progress["rate"] == 1.0  # 30 in the last 30 s
    assert progress["eta_seconds"] == 3
    assert BroadcastDelivery.objects.count() == 36
