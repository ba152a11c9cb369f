"""Stream recommendations: explainable, deterministic, at most two."""

from datetime import date, timedelta

import pytest

from journeys.recommendations import stream_recommendations, stream_scores, topic_match
from journeys.selectors import streams_for_member
from testkit.factories import (
    ProfileFactory,
    StreamEnrollmentFactory,
    StreamFactory,
    TelegramUserFactory,
    stage,
)

pytestmark = pytest.mark.django_db

TODAY = date(2030, 3, 1)


def make_stream(title, *, stages=(), tags=(), starts_in=None, **kwargs):
    stream = StreamFactory(title=title, tags=list(tags),
                           starts_at=TODAY + timedelta(days=starts_in) if starts_in is not None else None, **kwargs)
    stream.suitable_stages.set([stage(s) for s in stages])
    return stream


@pytest.fixture
def catalogue():
    return {
        "fear": make_stream("Страх и смелость", stages=[3], tags=["страх", "кризис"], starts_in=6),
        "love": make_stream("Отношения", stages=[1], tags=["отношения"], starts_in=3),
        "open": make_stream("Для всех", starts_in=None),
        "near": make_stream("Наставник", stages=[4], tags=["смелость"], starts_in=40),
        "past": make_stream("Прошедший", stages=[3], tags=["страх"], starts_in=-1),
        "off": make_stream("Выключенный", stages=[3], tags=["страх"], starts_in=1, is_active=False),
        "joined": make_stream("Уже записан", stages=[3], tags=["страх"], starts_in=1),
    }


@pytest.fixture
def seeker(catalogue):
    member = TelegramUserFactory(journey_stage=3)
    ProfileFactory(user=member, version=1, data={"interests": ["страха перемен"], "pains": ["кризис в отношениях"],
                                                 "goals": [], "recommended_streams": []})
    StreamEnrollmentFactory(user=member, stream=catalogue["joined"])
    return member


def test_scores_are_explained_part_by_part(seeker, catalogue):
    scores = {s.stream.title: s for s in stream_scores(user=seeker, today=TODAY)}

    assert set(scores) == {"Страх и смелость", "Отношения", "Для всех", "Наставник"}  # open, active, not joined
    assert scores["Страх и смелость"].parts == {"stage": 3.0, "topics": 2.0, "profile": 0.0, "start": 0.8}
    assert scores["Страх и смелость"].total == 5.8
    assert scores["Страх и смелость"].reasons == ["подходит этапу 3", "темы профиля: страх, кризис",
                                                  "старт через 6 дн."]
    assert scores["Отношения"].parts == {"stage": 0.0, "topics": 1.0, "profile": 0.0, "start": 0.9}
    assert scores["Для всех"].parts == {"stage": 0.5, "topics": 0.0, "profile": 0.0, "start": 0.2}
    assert scores["Наставник"].parts == {"stage": 1.0, "topics": 0.0, "profile": 0.0, "start": 0.0}


def test_ranking_is_deterministic_and_at_most_two(seeker):
    first = [s.as_dict() for s in stream_scores(user=seeker, today=TODAY)]
    for _ in range(3):
        assert [s.as_dict() for s in stream_scores(user=seeker, today=TODAY)] == first
    assert [s["title"] for s in first] == ["Страх и смелость", "Отношения", "Наставник", "Для всех"]
    assert [s.stream.title for s in stream_recommendations(user=seeker, limit=10, today=TODAY)] == [
        "Страх и смелость", "Отношения"]


def test_ties_break_on_the_sooner_start_then_on_id(db):
    member = TelegramUserFactory(journey_stage=2)
    undated_a = make_stream("Без даты А", stages=[2])
    undated_b = make_stream("Без даты Б", stages=[2])
    later = make_stream("Через 45 дней", stages=[2], starts_in=45)  # proximity 0 for both dated ones
    sooner = make_stream("Через 35 дней", stages=[2], starts_in=35)
    ranked = [s.stream.pk for s in stream_scores(user=member, today=TODAY)]
    # 3.2 (undated, equal: by id) before 3.0 (dated, equal: sooner first)
    assert ranked == [undated_a.pk, undated_b.pk, sooner.pk, later.pk]


def test_a_stream_named_in_the_profile_gets_the_profile_part(db):
    member = TelegramUserFactory(journey_stage=5)
    ProfileFactory(user=member, version=1, data={"recommended_streams": ["Путь к себе"]})
    picked = make_stream("Путь к себе", stages=[9], starts_in=10)
    other = make_stream("Другой", stages=[9], starts_in=10)
    scores = {s.stream.pk: s for s in stream_scores(user=member, today=TODAY)}
    assert scores[picked.pk].parts["profile"] == 1.0 and "назван в профиле" in scores[picked.pk].reasons
    assert scores[other.pk].parts["profile"] == 0.0


def test_member_without_profile_gets_stage_and_date_ranking(catalogue):
    member = TelegramUserFactory(journey_stage=3)
    ranked = [s.stream.title for s in stream_recommendations(user=member, today=TODAY)]
    assert ranked == ["Уже записан", "Страх и смелость"]  # stage 3 + start in 1 day beats 6 days
    assert len(streams_for_member(user=member, limit=5)) == 2


@pytest.mark.parametrize(("tag", "term", "expected"), [
    ("страх", "страха перемен", True),
    ("отношения", "кризис в отношениях", True),
    ("страх", "страна", False),
    ("отношения с собой", "отношения", True),
    ("Кризис", "КРИЗИС!", True),
    ("тревога", "тревожность", False),
    ("", "что угодно", False),
])
def test_topic_match_is_word_based_with_short_inflections(tag, term, expected):
    assert topic_match(tag, term) is expected


def test_the_catalogue_is_kept_per_process_and_a_staff_edit_reaches_the_next_score(catalogue, seeker,
                                                                                 django_assert_num_queries):
    stream_scores(user=seeker, today=TODAY)  # loads the catalogue
    with django_assert_num_queries(2):  # the profile and the member's enrolments; the catalogue is kept
        stream_scores(user=seeker, today=TODAY)
    with django_assert_num_queries(1):  # the caller read the profile already
        stream_scores(user=seeker, today=TODAY, profile_data={})

    fear = catalogue["fear"]
    fear.is_active = False
    fear.save()  # what the admin does
    assert fear.pk not in [s.stream.pk for s in stream_scores(user=seeker, today=TODAY)]

    near = catalogue["near"]
    assert {s.stream.pk: s for s in stream_scores(user=seeker, today=TODAY)}[near.pk].parts["stage"] == 1.0
    near.suitable_stages.set([stage(3)])  # the admin saves many-to-many fields after the row
    assert {s.stream.pk: s for s in stream_scores(user=seeker, today=TODAY)}[near.pk].parts["stage"] == 3.0


def test_no_open_stream_costs_no_query(django_assert_num_queries):
    member = TelegramUserFactory(journey_stage=3)
    stream_scores(user=member, today=TODAY)
    with django_assert_num_queries(0):
        assert stream_scores(user=member, today=TODAY) == []
