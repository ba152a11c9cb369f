"""Memory Natasha uses (R9): she is asked to name a contradiction or avoidance once a session, to
recall the last session in the first reply of a new one, and offline replies recall the stage's
first question and the member's last insight."""

import pytest

from bot.models import UserSession
from bot.services.members import TelegramIdentity
from bot.services.natasha import CONTRADICTION_CONTRACT, CONTRADICTION_DONE, RECALL_CONTRACT
from bot.services.orchestrator import Incoming, Kind, handle
from journeys.models import JourneyStage
from profiles.models import TelegramUser
from testkit.factories import JourneyInsightFactory

pytestmark = pytest.mark.django_db
TELEGRAM_ID = 5401
NONE = {"reply": "Что за этим стоит?", "quick_replies": [], "risk": "none"}
RAISED = {**NONE, "reply": "Ты хочешь перемен и держишься за старое. Что это тебе даёт?",
          "raised_contradiction": True}


def say(text):
    if text.startswith("/"):
        return handle(Incoming(TelegramIdentity(telegram_id=TELEGRAM_ID), Kind.COMMAND, text=text,
                               command=text[1:]))
    return handle(Incoming(TelegramIdentity(telegram_id=TELEGRAM_ID), Kind.TEXT, text=text))


@pytest.fixture
def member(db):
    say("/start")
    handle(Incoming(TelegramIdentity(telegram_id=TELEGRAM_ID), Kind.CALLBACK, callback_data="c:y"))
    return TelegramUser.objects.get(telegram_id=TELEGRAM_ID)


def last_request(fake_llm):
    messages = [r["messages"] for r in fake_llm.requests if "Проанализируй разговор" not in r["messages"][0]["content"]]
    return messages[-1]


def system_of(fake_llm):
    return last_request(fake_llm)[0]["content"]


def test_the_contradiction_is_asked_for_once_a_session(member, fake_llm):
    JourneyInsightFactory(user=member, kind="avoidance", text="Уходит от темы денег")
    fake_llm.enqueue(NONE)
    say("Я опять всё отложила")
    assert CONTRADICTION_CONTRACT in system_of(fake_llm)
    assert "Уходит от темы денег" in last_request(fake_llm)[1]["content"]  # the pattern: data, user role
    assert UserSession.objects.get(user=member).contradiction_raised_at is None  # she did not raise it yet

    fake_llm.enqueue(RAISED)
    assert say("Деньги тут ни при чём")[0].text == RAISED["reply"]
    session = UserSession.objects.get(user=member)
    assert session.contradiction_raised_at is not None

    fake_llm.enqueue(RAISED)
    say("Ну, может быть")
    assert CONTRADICTION_CONTRACT not in system_of(fake_llm) and CONTRADICTION_DONE in system_of(fake_llm)
    assert UserSession.objects.get(pk=session.pk).contradiction_raised_at == session.contradiction_raised_at

    say("/end")
    fake_llm.enqueue(NONE)
    say("Я вернулась")
    assert CONTRADICTION_CONTRACT in system_of(fake_llm)  # a new session may raise it again


def test_without_a_noticed_pattern_nothing_is_asked_and_the_flag_is_ignored(member, fake_llm):
    JourneyInsightFactory(user=member, kind="insight", text="Замечает свою усталость")
    fake_llm.enqueue(RAISED)
    say("Я устала")
    system = system_of(fake_llm)
    assert CONTRADICTION_CONTRACT not in system and CONTRADICTION_DONE not in system
    assert UserSession.objects.get(user=member).contradiction_raised_at is None


def test_no_contradiction_or_recall_in_crisis_mode(member, fake_llm):
    JourneyInsightFactory(user=member, kind="contradiction", text="Хочет близости и отталкивает")
    TelegramUser.objects.filter(pk=member.pk).update(crisis_flag=True, last_summary="Говорили о разводе.")
    say("/end")
    fake_llm.enqueue(NONE)
    say("Мне тяжело")
    system = system_of(fake_llm)
    assert CONTRADICTION_CONTRACT not in system and RECALL_CONTRACT not in system


def test_the_first_reply_of_a_new_session_recalls_the_last_one(member, fake_llm):
    fake_llm.enqueue(NONE, NONE)
    say("Я боюсь сменить работу, начальник давит")
    say("/end")
    member.refresh_from_db()
    assert "начальник давит" in member.last_summary

    say("Привет, я снова тут")
    request = last_request(fake_llm)
    assert RECALL_CONTRACT in request[0]["content"]
    assert "начальник давит" not in request[0]["content"]  # the summary stays in the data block
    assert request[1]["role"] == "user" and "начальник давит" in request[1]["content"]

    fake_llm.enqueue(NONE)
    say("Продолжим")
    assert RECALL_CONTRACT not in system_of(fake_llm)  # only the first reply of the session


def test_a_new_member_gets_no_recall(member, fake_llm):
    fake_llm.enqueue(NONE)
    say("Привет")
    assert RECALL_CONTRACT not in system_of(fake_llm)


# --- offline -----------------------------------------------------------------------------------

@pytest.fixture
def offline(settings):
    settings.OPENAI_API_KEY = ""


def test_offline_replies_use_the_first_question_then_the_last_insight(offline, member):
    first_question = JourneyStage.objects.get(order=1).first_question
    JourneyInsightFactory(user=member, kind="insight", text="Старое")
    JourneyInsightFactory(user=member, kind="breakthrough", text="Мне можно <отдыхать> & не оправдываться")
    JourneyInsightFactory(user=member, kind="avoidance", text="Избегает разговора с мамой")
    say("/end")  # the consent session had the first question: a new session starts afresh

    assert say("Привет")[0].text == first_question
    recall = say("Да, так и есть")[0].text
    assert "Мне можно &lt;отдыхать&gt; &amp; не оправдываться" in recall and "В прошлый раз" in recall
    third = say("Не знаю")[0].text
    assert "отдыхать" not in third and third != first_question  # the rotating prompts from here on


def test_offline_without_an_insight_goes_from_the_first_question_to_the_rotating_prompts(offline, member):
    out = say("Привет")
    assert "В прошлый раз" not in out[0].text and out[0].text != JourneyStage.objects.get(order=1).first_question
