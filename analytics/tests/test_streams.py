import pytest

from analytics.selectors import stream_attribution, summary
from journeys.services import stream_click_record, stream_enroll, stream_ref_code
from testkit.factories import StreamFactory, TelegramUserFactory

pytestmark = pytest.mark.django_db


def test_clicks_and_enrolments_are_counted_per_stream():
    stream, other = StreamFactory(title="Смелость"), StreamFactory(title="Тишина")
    anna, boris = TelegramUserFactory(), TelegramUserFactory()
    for member in (anna, boris):
        stream_click_record(ref=stream_ref_code(user=member, stream=stream))
    stream_click_record(ref=stream_ref_code(user=anna, stream=other))
    stream_enroll(user=anna, stream=stream)

    assert stream_attribution() == [
        {"stream": stream.pk, "title": "Смелость", "clicks": 2, "enrolled": 1},
        {"stream": other.pk, "title": "Тишина", "clicks": 1, "enrolled": 0},
    ]
    assert summary()["streams"] == stream_attribution()
