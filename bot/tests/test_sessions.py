from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from bot.models import CrisisAlert, UserSession
from bot.services import natasha, sessions
from bot.services.members import TelegramIdentity
from bot.services.orchestrator import Incoming, Kind, handle
from bot.services.sessions import session_history
from journeys.models import JourneyStage
from profiles.models import TelegramUser
from testkit.factories import TelegramUserFactory

pytestmark = pytest.mark.django_db


def test_history_survives_and_cache_is_only_a_cache():
    member = TelegramUserFactory()
    session = sessions.session_get_active(user=member)
    sessions.session_append(session=session, turns=[sessions.Turn("user", "раз"), sessions.Turn("assistant", "два")])
    again = sessions.session_get_active(user=member)  # served from the cache
    assert [t["content"] for t in session_history(again)] == ["раз", "два"]
    from django.core.cache import cache

    cache.clear()  # a restart with an empty cache: the database is the truth
    fresh = sessions.session_get_active(user=member)
    assert fresh.pk == session.pk
    assert [t["content"] for t in session_history(fresh)] == ["раз", "два"]


def test_idle_sessions_end_and_update_the_member(settings):
    settings.SESSION_IDLE_MINUTES = 30
    member = TelegramUserFactory()
    session = sessions.session_get_active(user=member)
    sessions.session_append(session=session, turns=[sessions.Turn("user", "Я поняла, что боюсь перемен")])
    UserSession.objects.filter(pk=session.pk).update(last_activity_at=timezone.now() - timedelta(minutes=31))
    assert sessions.sessions_end_idle() == 1
    assert sessions.sessions_end_idle() == 0  # idempotent
    session.refresh_from_db()
    member.refresh_from_db()
    assert (session.status, session.end_reason) == ("ended", "idle")
    assert "боюсь перемен" in member.last_summary
    # The next message opens a new session whose prompt recalls the previous one.
    new = sessions.session_get_active(user=member)
    assert new.pk != session.pk
    assert "боюсь перемен" in natasha.context_message(user=member, history=[])["content"]


def test_long_history_is_summarised_and_the_context_stays_in_budget(fake_llm, settings):
    settings.CONTEXT_TOKEN_BUDGET = 1500
    member = TelegramUserFactory()
    session = sessions.session_get_active(user=member)
    turns = []
    for i in range(40):
        turns += [sessions.Turn("user", f"Реплика участника номер {i}: " + "подробно " * 30),
                  sessions.Turn("assistant", f"Ответ Наташи {i}?")]
    session = sessions.session_append(session=session, turns=turns)
    fake_llm.enqueue("Раньше участник рассказывал о работе и страхах.", {"reply": "Продолжим?", "quick_replies": []})
    natasha.reply(user=member, session=session, stage=JourneyStage.objects.get(order=1))

    summary_request, reply_request = fake_llm.requests[-2], fake_llm.requests[-1]
    assert "Реплика участника номер 0:" in summary_request["messages"][-1]["content"]
    prompt = "\n".join(m["content"] for m in reply_request["messages"])
    assert "Раньше участник рассказывал о работе" in prompt
    assert "Реплика участника номер 0:" not in prompt  # summarised, not verbatim
    assert "Реплика участника номер 39:" in prompt  # recent turns verbatim
    assert len(prompt) // natasha.CHARS_PER_TOKEN < settings.CONTEXT_TOKEN_BUDGET + 1000
    session.refresh_from_db()
    assert session.summarized_turns > 0


def test_natasha_does_not_repeat_questions(fake_llm):
    member = TelegramUserFactory()
    session = sessions.session_get_active(user=member)
    session = sessions.session_append(session=session, turns=[
        sessions.Turn("assistant", "Что ты чувствуешь прямо сейчас?"), sessions.Turn("user", "Тревогу")])
    natasha.reply(user=member, session=session, stage=JourneyStage.objects.get(order=1))
    assert "не повторяй" in fake_llm.prompts()[-1] and "Что ты чувствуешь прямо сейчас?" in fake_llm.prompts()[-1]


def test_templates_rotate_without_the_llm():
    member = TelegramUserFactory()
    stage = JourneyStage.objects.get(order=1)
    session = sessions.session_get_active(user=member)
    seen = []
    for text in ["раз", "два", "три"]:
        session = sessions.session_append(session=session, turns=[sessions.Turn("user", text)])
        generated = natasha.reply(user=member, session=session, stage=stage)
        session = sessions.session_append(session=session, turns=[sessions.Turn("assistant", generated.plain)])
        seen.append(generated.plain)
    assert seen[0] == stage.first_question
    assert seen[1] != seen[2]  # never the same fallback twice in a row


def test_staff_clear_the_crisis_flag_in_admin(client, superuser):
    identity = TelegramIdentity(telegram_id=31337)
    handle(Incoming(identity, Kind.COMMAND, command="start"))
    handle(Incoming(identity, Kind.CALLBACK, callback_data="c:y"))
    handle(Incoming(identity, Kind.TEXT, text="Не хочу жить"))
    alert = CrisisAlert.objects.get()
    client.force_login(superuser)
    # Resolving needs a note (what was done): the old one-click bulk action is gone.
    response = client.post(reverse("admin:bot_crisisalert_workflow", args=[alert.pk]),
                           {"action": "resolve", "note": "Созвонились, в безопасности"})
    assert response.status_code == 302
    assert not TelegramUser.objects.get(telegram_id=31337).crisis_flag
    assert CrisisAlert.objects.get().resolved_by == superuser


def test_terminal_chat_talks_through_the_same_orchestrator(monkeypatch, capsys):
    answers = iter(["1", "Мне нужна смелость", "/progress", "/quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    call_command("chat")
    out = capsys.readouterr().out
    assert "согласие" in out and "1/12" in out
    member = TelegramUser.objects.get(telegram_id=1)
    assert member.consent_at is not None
    session = UserSession.objects.get(user=member)
    assert "Мне нужна смелость" in [t["content"] for t in session_history(session)]


def test_the_stage_news_read_with_the_session_agrees_with_the_orm():
    """The hand-written EXISTS of ``session_get_active`` answers what the ORM's would."""
    from django.db.models import Exists, F, OuterRef

    from journeys.models import JourneyProgress
    from testkit.factories import JourneyProgressFactory

    def orm_answer(member) -> bool:
        return UserSession.objects.filter(user=member).annotate(news=Exists(JourneyProgress.objects.filter(
            user_id=OuterRef("user_id"), announced_at__isnull=True, previous_stage__isnull=False,
            stage__order__gt=F("previous_stage__order")))).get().news

    stage = {s.order: s for s in JourneyStage.objects.all()}
    cases = {
        "nothing": [],
        "initial stage only": [dict(stage=stage[1], previous_stage=None)],
        "forward, not shown": [dict(stage=stage[3], previous_stage=stage[2])],
        "forward, shown": [dict(stage=stage[3], previous_stage=stage[2], announced_at=timezone.now())],
        "backward": [dict(stage=stage[2], previous_stage=stage[3])],
    }
    answers = {}
    for name, changes in cases.items():
        member = TelegramUserFactory()
        for change in changes:
            JourneyProgressFactory(user=member, **change)
        session = sessions.session_get_active(user=member, with_stage_news=True)  # creates the session
        session = sessions.session_get_active(user=member, with_stage_news=True)
        answers[name] = session.stage_news
        assert session.stage_news == orm_answer(member), name
    assert answers == {"nothing": False, "initial stage only": False, "forward, not shown": True,
                       "forward, shown": False, "backward": False}


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_to_one_session_never_collide_or_lose_a_turn():
    """A reply and a proactive message may append at the same moment (other threads, own connections)."""
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers with its file lock; the race needs PostgreSQL")
    session = sessions.session_get_active(user=TelegramUserFactory())
    start = threading.Barrier(3)
    errors = []

    def append(role):
        try:
            start.wait()
            for n in range(15):
                sessions.session_append(session=UserSession.objects.get(pk=session.pk),
                                        turns=[sessions.Turn(role, f"{role} {n}"), sessions.Turn(role, "ещё")])
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=append, args=(role,)) for role in ("user", "assistant", "user")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    turns = sessions.session_turns(session=session)
    assert [t["position"] for t in turns] == list(range(90))
    assert UserSession.objects.get(pk=session.pk).message_count == 90
    # Each append's two turns are adjacent: positions are taken per append, atomically.
    assert all(turns[i]["content"] == "ещё" for i in range(1, 90, 2))
