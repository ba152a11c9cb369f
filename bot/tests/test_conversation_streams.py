"""Streams inside the conversation (R2/R8): Natasha's prompt carries the member's top offerable
streams, a reply naming one gets the «Узнать о потоке» / «Начать поток» buttons, presses enrol and
are attributed to the conversation; fatigue, crisis mode and enrolments hold invitations back."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from bot.models import UserSession
from bot.services.members import TelegramIdentity
from bot.services.natasha import STREAM_CONTRACT
from bot.services.orchestrator import Incoming, Kind, handle
from bot.ui import MAX_CALLBACK_BYTES
from journeys.models import JourneyStage, StreamEnrollment
from journeys.recommendations import MAX_RECOMMENDATIONS
from journeys.services import stream_enroll
from profiles.models import TelegramUser, UserInteraction
from testkit.bot_runner import PollingBot
from testkit.factories import JourneyInsightFactory, StreamFactory, StreamStepFactory

from .test_telegram_e2e import CHAT, converse, markup, rejected, start_and_consent

TELEGRAM_ID = 5301
ANALYSIS = {"stage": 1, "confidence": 0.1, "evidence": "", "insights": [], "breakthroughs": [],
            "avoidance": "", "contradiction": ""}
CATALOGUE_HEAD = STREAM_CONTRACT.split("\n")[0]


@pytest.fixture
def fake_llm(fake_llm):
    fake_llm.route("Проанализируй разговор", ANALYSIS)
    return fake_llm


@pytest.fixture
def catalogue(db):
    """Three open streams: two fit stage 1, one fits only stage 12 (ranked last)."""
    first, last = JourneyStage.objects.get(order=1), JourneyStage.objects.get(order=12)
    soon = StreamFactory(title="Смелость быть собой", slug="courage",
                         starts_at=timezone.localdate() + timedelta(days=5))
    soon.suitable_stages.add(first)
    evergreen = StreamFactory(title="Тишина внутри", slug="silence")
    evergreen.suitable_stages.add(first)
    late = StreamFactory(title="Возвращение с эликсиром", slug="elixir")
    late.suitable_stages.add(last)
    StreamStepFactory(stream=soon, day_offset=0, text="Запиши один страх, который держит тебя дома.")
    return soon, evergreen, late


def offer_buttons(message_markup):
    rows = (message_markup or {}).get("inline_keyboard", [])
    return [b for row in rows for b in row if b.get("callback_data", "").startswith("cv:")]


def system_prompt_of(fake_llm):
    return [r["messages"][0]["content"] for r in fake_llm.requests
            if "Проанализируй разговор" not in r["messages"][0]["content"]][-1]


@pytest.mark.django_db(transaction=True)
def test_a_reply_naming_a_stream_shows_the_buttons_and_a_press_enrols_from_the_conversation(
        fake_telegram, fake_llm, catalogue):
    soon = catalogue[0]
    with PollingBot(fake_telegram):
        start_and_consent(fake_telegram)
        member = TelegramUser.objects.get(telegram_id=CHAT)
        JourneyInsightFactory(user=member, kind="contradiction", text="Хочет перемен, но держится за старое")
        fake_llm.enqueue({"reply": "Тебе нужна опора. Посмотри на «Смелость быть собой».",
                          "quick_replies": ["Расскажи"], "risk": "none", "stream": "courage"})
        out = converse(fake_telegram, fake_telegram.message_update(CHAT, "Мне одной не справиться"), 1)
        about, start = offer_buttons(markup(out[0]))
        assert (about["text"], start["text"]) == ("Узнать о потоке", "🔥 Начать поток")
        assert markup(out[0])["inline_keyboard"][0][0]["text"] == "Расскажи"  # quick replies stay first
        assert all(len(b["callback_data"].encode()) <= MAX_CALLBACK_BYTES for b in (about, start))

        card = converse(fake_telegram, fake_telegram.callback_update(CHAT, about["callback_data"]), 1)
        assert "Смелость быть собой" in card[0]["text"] and soon.description in card[0]["text"]
        card_start = offer_buttons(markup(card[0]))[0]
        assert card_start["text"] == "🔥 Начать поток"
        enrolled = converse(fake_telegram, fake_telegram.callback_update(CHAT, card_start["callback_data"]), 1)
    assert "Ты в потоке" in enrolled[0]["text"] and "Запиши один страх" in enrolled[0]["text"]
    assert StreamEnrollment.objects.filter(user=member, stream=soon).exists()
    events = UserInteraction.objects.filter(user=member, metadata__stream_id=soon.pk)
    assert sorted((e.kind, e.metadata.get("source"), e.metadata.get("action")) for e in events) == [
        ("stream_clicked", "conversation", "about"), ("stream_clicked", "conversation", "start"),
        ("stream_enrolled", "conversation", None), ("stream_offered", "conversation", None)]
    assert events.get(kind="stream_offered").metadata["session_id"] == UserSession.objects.get(user=member).pk

    system = system_prompt_of(fake_llm)
    catalogue_lines = [line for line in system.splitlines() if line.startswith("- код ")]
    assert len(catalogue_lines) == MAX_RECOMMENDATIONS
    assert '"courage"' in system and '"silence"' in system and "elixir" not in system
    assert "назови его своими словами" in system  # the contradiction instruction
    assert "Хочет перемен" not in system  # the pattern itself is member data: in the data block only
    assert rejected(fake_telegram) == []


# --- the rules, through the orchestrator and the fake LLM ---------------------------------------

def say(text):
    return handle(Incoming(TelegramIdentity(telegram_id=TELEGRAM_ID), Kind.TEXT, text=text))


def press(data):
    return handle(Incoming(TelegramIdentity(telegram_id=TELEGRAM_ID), Kind.CALLBACK, callback_data=data))


@pytest.fixture
def member(db):
    say("/start")
    press("c:y")
    return TelegramUser.objects.get(telegram_id=TELEGRAM_ID)


def naming(slug):
    return {"reply": "Загляни в этот поток.", "quick_replies": [], "risk": "none", "stream": slug}


def stream_buttons(out):
    return [b for b in out[-1].buttons for b in b if (b.callback_data or "").startswith("cv:")]


def test_the_same_stream_is_not_offered_again_within_the_fatigue_window(member, catalogue, fake_llm, settings):
    settings.STREAM_OFFER_EVERY_DAYS = 7
    soon = catalogue[0]
    fake_llm.enqueue(naming("courage"))
    assert [b.callback_data for b in stream_buttons(say("Хочу в группу"))] == [f"cv:i:{soon.pk}", f"cv:s:{soon.pk}"]

    fake_llm.enqueue(naming("courage"))  # the LLM names it again anyway
    assert stream_buttons(say("А что ещё?")) == []
    system = system_prompt_of(fake_llm)
    assert '"courage"' not in system and '"silence"' in system and '"elixir"' in system  # the next best moves up
    assert UserInteraction.objects.filter(user=member, kind="stream_offered").count() == 1

    UserInteraction.objects.filter(kind="stream_offered").update(created_at=timezone.now() - timedelta(days=8))
    fake_llm.enqueue(naming("courage"))
    assert len(stream_buttons(say("Расскажи про потоки"))) == 2
    assert '"courage"' in system_prompt_of(fake_llm)


def test_no_invitation_in_crisis_mode(member, catalogue, fake_llm):
    soon, _, _ = catalogue
    TelegramUser.objects.filter(pk=member.pk).update(crisis_flag=True)
    fake_llm.enqueue(naming("courage"))
    out = say("Просто поговори со мной")
    assert stream_buttons(out) == [] and out[-1].text == "Загляни в этот поток."
    assert CATALOGUE_HEAD not in system_prompt_of(fake_llm) and "courage" not in system_prompt_of(fake_llm)
    assert not UserInteraction.objects.filter(kind="stream_offered").exists()
    # A button from before the crisis enrols nobody either.
    assert "Задания подождут" in press(f"cv:s:{soon.pk}")[0].text
    assert not StreamEnrollment.objects.exists()


def test_a_stream_the_member_is_in_or_one_not_offered_gets_no_button(member, catalogue, fake_llm):
    soon, evergreen, _ = catalogue
    ranked_third = StreamFactory(slug="far", starts_at=timezone.localdate() + timedelta(days=60))
    ranked_third.suitable_stages.add(JourneyStage.objects.get(order=12))
    stream_enroll(user=member, stream=soon)
    for named in ("courage", "far", "nonexistent", ranked_third.pk, True, "", None):
        fake_llm.enqueue(naming(named))
        assert stream_buttons(say("Что мне делать дальше?")) == []
    system = system_prompt_of(fake_llm)
    assert '"courage"' not in system and '"far"' not in system and '"elixir"' in system
    fake_llm.enqueue(naming(evergreen.pk))  # by id works too
    assert len(stream_buttons(say("А группа есть?"))) == 2


def test_the_prompt_never_lists_more_than_the_catalogue_holds(member, fake_llm):
    fake_llm.enqueue({"reply": "Что ты чувствуешь?", "quick_replies": [], "risk": "none"})
    say("Привет")
    assert CATALOGUE_HEAD not in system_prompt_of(fake_llm)  # no open stream: no invitation asked for

    StreamFactory(slug="only-one", starts_at=date.today() + timedelta(days=3))
    fake_llm.enqueue({"reply": "Что ты чувствуешь?", "quick_replies": [], "risk": "none"})
    say("Ещё раз привет")
    system = system_prompt_of(fake_llm)
    assert len([line for line in system.splitlines() if line.startswith("- код ")]) == 1


def test_profile_reasons_travel_in_the_data_block_not_the_system_prompt(member, catalogue, fake_llm):
    from testkit.factories import ProfileFactory

    soon, _, _ = catalogue
    soon.tags = ["страх осуждения"]
    soon.save()
    ProfileFactory(user=member, data={"pains": ["страх осуждения"]})
    fake_llm.enqueue({"reply": "Что ты чувствуешь?", "quick_replies": [], "risk": "none"})
    say("Привет")
    request = fake_llm.requests[-1]["messages"]
    assert "страх осуждения" not in request[0]["content"]
    assert request[1]["role"] == "user" and "courage: темы профиля: страх осуждения" in request[1]["content"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_turns_at_once_invite_to_a_stream_once():
    from journeys.services import stream_offer_claim
    from testkit.concurrency import in_threads
    from testkit.factories import TelegramUserFactory

    member, stream = TelegramUserFactory(), StreamFactory()
    results = in_threads(4, lambda: stream_offer_claim(user=member, stream=stream))
    assert sorted(results) == [False, False, False, True]
    assert UserInteraction.objects.filter(user=member, kind="stream_offered").count() == 1
