import pytest

from analytics.selectors import stream_attribution, summary
from journeys.services import (
    CONVERSATION,
    stream_click_in_conversation,
    stream_click_record,
    stream_enroll,
    stream_offer_claim,
    stream_ref_code,
)
from testkit.factories import StreamFactory, TelegramUserFactory

pytestmark = pytest.mark.django_db
NOT_FROM_CONVERSATION = {"offered": 0, "conversation_clicks": 0, "conversation_enrolled": 0}


def test_clicks_and_enrolments_are_counted_per_stream():
    stream, other = StreamFactory(title="Смелость"), StreamFactory(title="Тишина")
    anna, boris = TelegramUserFactory(), TelegramUserFactory()
    for member in (anna, boris):
        stream_click_record(ref=stream_ref_code(user=member, stream=stream))
    stream_click_record(ref=stream_ref_code(user=anna, stream=other))
    stream_enroll(user=anna, stream=stream)

    assert stream_attribution() == [
        {"stream": stream.pk, "title": "Смелость", "clicks": 2, "enrolled": 1, **NOT_FROM_CONVERSATION},
        {"stream": other.pk, "title": "Тишина", "clicks": 1, "enrolled": 0, **NOT_FROM_CONVERSATION},
    ]
    assert summary()["streams"] == stream_attribution()


def test_invitations_in_the_conversation_are_counted_with_their_clicks_and_enrolments():
    stream = StreamFactory(title="Смелость")
    anna, boris = TelegramUserFactory(), TelegramUserFactory()
    for member in (anna, boris):
        assert stream_offer_claim(user=member, stream=stream)
        stream_click_in_conversation(user=member, stream=stream, action="about")
    stream_click_record(ref=stream_ref_code(user=boris, stream=stream))  # the link in the card
    stream_enroll(user=anna, stream=stream, source=CONVERSATION)

    assert stream_attribution() == [{"stream": stream.pk, "title": "Смелость", "clicks": 3, "enrolled": 1,
                                     "offered": 2, "conversation_clicks": 2, "conversation_enrolled": 1}]
