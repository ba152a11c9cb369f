"""A stage change reaches the member once, with the ✅/🔥/⚪️ indicator (R11), by the next reply or
by the trigger engine, whichever comes first; a staff change with "notify" off sends nothing."""

import pytest
from django.utils import timezone

from bot.services.members import TelegramIdentity
from bot.services.orchestrator import Incoming, Kind, handle
from journeys.models import JourneyProgress
from journeys.services import journey_set_stage, journey_start
from testkit.factories import StaffFactory, TelegramUserFactory
from triggers.services import triggers_run_scan

# Midday in Moscow: the proactive window below (00:00–23:00) is open whatever the real hour is.
pytestmark = [pytest.mark.django_db, pytest.mark.clock("2026-11-25 09:00:00+00:00")]
TELEGRAM_ID = 5151
REPLY = {"reply": "Что ты уже знаешь о своём страхе?", "quick_replies": ["Многое", "Ничего"]}
STAGE_5 = {"stage": 5, "confidence": 0.9, "evidence": "я уже ушла с работы и начала своё дело",
           "insights": [], "breakthroughs": [], "avoidance": "", "contradiction": ""}


def route(body):
    return STAGE_5 if "Этапы пути героя" in body["messages"][0]["content"] else REPLY


@pytest.fixture
def member(db, config_window_open):
    user = TelegramUserFactory(journey_stage=None, telegram_id=TELEGRAM_ID)
    journey_start(user=user)
    return user


@pytest.fixture
def config_window_open(db):
    from triggers.models import ProactivityConfig

    config = ProactivityConfig.load()
    config.window_start, config.window_end = config.window_start.replace(hour=0), config.window_end.replace(hour=23)
    config.save()
    return config


def say(text):
    return handle(Incoming(TelegramIdentity(telegram_id=TELEGRAM_ID), Kind.TEXT, text=text))


def texts(messages):
    return [m.text for m in messages]


def test_the_next_reply_shows_the_new_stage_once_and_the_trigger_then_sends_nothing(
        member, fake_llm, fake_telegram, settings, django_capture_on_commit_callbacks):
    settings.TELEGRAM_GLOBAL_RATE, settings.TELEGRAM_PER_CHAT_INTERVAL = 10_000, 0
    fake_llm.responder = route
    for text in ("Я ушла с работы", "И уже начала своё дело", "Страшно, но иду"):
        with django_capture_on_commit_callbacks(execute=True):
            replies = texts(say(text))
        if len(replies) > 1:
            break
    member.refresh_from_db()
    assert member.journey_stage == 5
    news = replies[0]
    assert "Преодоление первого порога" in news and "5/12" in news and news.count("🔥") == 1
    assert news.count("✅") == 4 and news.count("⚪️") == 7
    assert "Что ты уже знаешь" in replies[-1]

    progress = texts(handle(Incoming(TelegramIdentity(telegram_id=TELEGRAM_ID), Kind.COMMAND, command="progress")))
    assert "5/12" in progress[0] and "🔥" in progress[0]
    with django_capture_on_commit_callbacks(execute=True):
        again = texts(say("Продолжим"))
    assert not any("5/12" in t for t in again)  # shown once
    triggers_run_scan(now=timezone.now())
    assert not any("5/12" in m["text"] for m in fake_telegram.sent_messages(TELEGRAM_ID))


def test_a_silent_member_gets_the_congratulation_with_the_indicator_proactively(
        member, fake_telegram, settings):
    settings.TELEGRAM_GLOBAL_RATE, settings.TELEGRAM_PER_CHAT_INTERVAL = 10_000, 0
    journey_set_stage(user=member, stage=3, staff=StaffFactory(), reason="по итогам звонка", notify=True)
    triggers_run_scan(now=timezone.now())
    [message] = [m for m in fake_telegram.sent_messages(TELEGRAM_ID) if "3/12" in m["text"]]
    assert "🔥" in message["text"]
    assert JourneyProgress.objects.filter(user=member, stage__order=3).get().announced_at is not None


def test_a_staff_change_without_notify_sends_nothing_anywhere(member, fake_llm, fake_telegram,
                                                             django_capture_on_commit_callbacks):
    fake_llm.responder = lambda body: REPLY
    journey_set_stage(user=member, stage=6, staff=StaffFactory(), reason="перенос из старой базы")
    triggers_run_scan(now=timezone.now())
    assert fake_telegram.sent_messages(TELEGRAM_ID) == []
    with django_capture_on_commit_callbacks(execute=True):
        replies = texts(say("Привет"))
    assert not any("6/12" in t for t in replies)
