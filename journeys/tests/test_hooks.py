"""The orchestrator and session hooks enqueue the stage analysis after commit, off the reply path;
what the analysis stores comes back into Natasha's prompt (style per stage, earlier insights)."""

import pytest

from bot.models import UserSession
from bot.services import natasha
from bot.services.members import TelegramIdentity
from bot.services.orchestrator import Incoming, Kind, handle
from bot.services.sessions import session_end_for
from journeys.models import JourneyInsight, JourneyStage
from journeys.services import journey_start
from journeys.tasks import analyse_member_later
from testkit.factories import TelegramUserFactory

pytestmark = pytest.mark.django_db

ANALYSIS = {"stage": 2, "confidence": 0.9, "evidence": "хочу перемен",
            "insights": ["Понимает, что давно хочет перемен"], "breakthroughs": [], "avoidance": "",
            "contradiction": ""}
REPLY = {"reply": "Что для тебя перемены?", "quick_replies": ["Свобода", "Страх"]}


def route(body):
    """Answer the stage analysis with JSON analysis, everything else as Natasha."""
    system = body["messages"][0]["content"]
    return ANALYSIS if "Этапы пути героя" in system else REPLY


@pytest.fixture
def member(db):
    user = TelegramUserFactory(journey_stage=None, telegram_id=4242)
    journey_start(user=user)
    return user


def say(text):
    return handle(Incoming(TelegramIdentity(telegram_id=4242), Kind.TEXT, text=text))


def test_a_member_turn_is_answered_first_and_analysed_on_commit(member, fake_llm, django_capture_on_commit_callbacks):
    fake_llm.responder = route
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        out = say("Я давно хочу перемен")
    assert "Что для тебя перемены?" in out[0].text
    assert len(fake_llm.requests) == 1  # the reply did not wait for the analysis
    assert not JourneyInsight.objects.filter(user=member).exists()

    for callback in callbacks:  # what Celery runs after the commit
        callback()
    assert len(fake_llm.requests) == 2
    assert JourneyInsight.objects.filter(user=member, kind="stage_signal", stage__order=2).count() == 1


def test_session_end_enqueues_an_analysis_of_what_was_not_analysed(member, fake_llm,
                                                                   django_capture_on_commit_callbacks):
    fake_llm.responder = route
    with django_capture_on_commit_callbacks(execute=False):
        say("Я давно хочу перемен")  # its analysis is lost (say, the broker was down)
    with django_capture_on_commit_callbacks(execute=True):
        assert session_end_for(user=member, reason=UserSession.EndReason.COMMAND)
    assert JourneyInsight.objects.filter(user=member, kind="stage_signal").count() == 1


def test_the_hook_can_be_switched_off(member, settings, django_capture_on_commit_callbacks):
    settings.JOURNEY_ANALYSIS_ENABLED = False
    with django_capture_on_commit_callbacks() as callbacks:
        analyse_member_later(member.pk)
    assert callbacks == []


def test_stage_style_and_earlier_insights_shape_natashas_prompt(member):
    JourneyInsight.objects.create(user=member, stage=JourneyStage.objects.get(order=1), kind="insight",
                                  text="Понимает, что давно хочет перемен", confidence=0.9)
    member.journey_stage = 3
    refusal = JourneyStage.objects.get(order=3)
    history = [{"role": "assistant", "content": "Что тебя держит на месте?"}]
    prompt = natasha.system_prompt(user=member, stage=refusal)
    data = natasha.context_message(user=member, history=history)  # member-derived: user role, delimited
    assert refusal.style_prompt in prompt and "мягче" in prompt  # softer on the Refusal
    assert data["role"] == "user" and "Понимает, что давно хочет перемен" in data["content"]  # earlier insights
    assert "Что тебя держит на месте?" in data["content"]  # ...and does not repeat its questions
