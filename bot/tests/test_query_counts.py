"""SQL queries per update, pinned (docs/benchmarks.md has the before/after).

Counts include the transaction statements Django issues (BEGIN/COMMIT, or SAVEPOINT/RELEASE
inside the test's transaction). Stages, prompts and templates come from the per-process
cache, so a warm turn reads none of them.
"""

import pytest
from django.db import connection

from bot.services.members import TelegramIdentity
from bot.services.orchestrator import Incoming, Kind, handle

pytestmark = pytest.mark.django_db

IDENTITY = TelegramIdentity(telegram_id=6001, first_name="Аня", language_code="ru")
# Templates answer (no LLM): the LLM path adds the member context (profile, insights) instead.
# The writes that go together (the reply's turn row, both log tables, the member's count) are one
# query on PostgreSQL (``execute_together``: several statements in one round trip, one implicit
# transaction); SQLite runs them one by one inside a transaction (BEGIN/COMMIT in production,
# SAVEPOINT/RELEASE here, both counted).
ON_POSTGRES = connection.vendor == "postgresql"
PLAIN_TURN, QUICK_REPLY, COMMAND = (6, 7, 4) if ON_POSTGRES else (15, 16, 7)
# Natasha answering through the LLM, with an open stream to offer: + what she knows (the profile
# and the insights, read once for the context, the offers and the contradiction question) + the
# member's enrolments and recent offers. The stream catalogue comes from the per-process cache.
LLM_TURN = 10 if ON_POSTGRES else 19


@pytest.fixture
def conversing(settings):
    settings.JOURNEY_ANALYSIS_ENABLED = False  # a Celery task, not part of the turn
    settings.FLOOD_MAX_PER_MINUTE = 1000
    handle(Incoming(IDENTITY, Kind.COMMAND, text="/start", command="start"))
    handle(Incoming(IDENTITY, Kind.CALLBACK, callback_data="c:y"))
    return handle(Incoming(IDENTITY, Kind.TEXT, text="Разогрев: кэш этапов и шаблонов"))


def test_a_plain_turn(conversing, django_assert_num_queries):
    with django_assert_num_queries(PLAIN_TURN):
        handle(Incoming(IDENTITY, Kind.TEXT, text="Я хочу понять, чего боюсь"))


def test_a_quick_reply_press(conversing, django_assert_num_queries):
    button = conversing[-1].buttons[0][0].callback_data
    with django_assert_num_queries(QUICK_REPLY):
        handle(Incoming(IDENTITY, Kind.CALLBACK, callback_data=button))


def test_a_command(conversing, django_assert_num_queries):
    with django_assert_num_queries(COMMAND):
        handle(Incoming(IDENTITY, Kind.COMMAND, text="/progress", command="progress"))


def test_a_turn_costs_the_same_queries_late_in_a_long_session(conversing, django_assert_num_queries):
    for i in range(60):  # past the summary threshold: the summary runs now and then, not here
        handle(Incoming(IDENTITY, Kind.TEXT, text=f"сообщение {i}"))
    with django_assert_num_queries(PLAIN_TURN):
        handle(Incoming(IDENTITY, Kind.TEXT, text="и ещё одно"))


def test_a_staff_edit_reaches_the_next_turn(conversing, settings):
    from bot.models import MessageTemplate
    from journeys.models import JourneyStage

    settings.FLOOD_MAX_PER_MINUTE = 1000
    stage = JourneyStage.objects.get(order=1)
    MessageTemplate.objects.filter(key="reply").update(is_active=False)  # bypasses signals on purpose
    only = MessageTemplate.objects.create(key="reply", stage=stage, text="Новый текст от команды", is_active=True)
    answers = {handle(Incoming(IDENTITY, Kind.TEXT, text=f"ещё {i}"))[0].text for i in range(3)}
    assert only.text in answers


def test_a_turn_natasha_answers_with_the_llm(conversing, fake_llm, django_assert_num_queries):
    from profiles.models import TelegramUser
    from testkit.factories import JourneyInsightFactory, ProfileFactory, StreamFactory

    member = TelegramUser.objects.get(telegram_id=IDENTITY.telegram_id)
    ProfileFactory(user=member, version=1, summary="Ищет смелость", data={"interests": ["смелость"]})
    JourneyInsightFactory(user=member, kind="avoidance", text="Избегает разговора о работе")
    StreamFactory(title="Смелость", tags=["смелость"])
    fake_llm.responder = lambda body: {"reply": "Что ты чувствуешь?", "quick_replies": ["Страх"]}
    handle(Incoming(IDENTITY, Kind.TEXT, text="Разогрев: каталог потоков"))
    with django_assert_num_queries(LLM_TURN):
        handle(Incoming(IDENTITY, Kind.TEXT, text="Я хочу понять, чего боюсь"))
    assert "Смелость" in fake_llm.requests[-1]["messages"][0]["content"]  # the offer reached the prompt
