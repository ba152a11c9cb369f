"""The orchestrator end to end, without Telegram: what the member sees and what is stored."""

import json

import pytest

from bot.models import CrisisAlert, UserSession
from bot.services.members import TelegramIdentity
from bot.services.orchestrator import Incoming, Kind, handle
from bot.services.sessions import session_history
from bot.telegram_html import visible_length
from bot.ui import MENU_PAUSE, MENU_SESSION
from journeys.models import JourneyProgress
from profiles.models import TelegramUser, UserActivityLog, UserInteraction
from testkit.factories import StreamStepFactory

pytestmark = pytest.mark.django_db


def ident(telegram_id=5001, **kw):
    return TelegramIdentity(telegram_id=telegram_id, username="anya", first_name="Аня", **kw)


def say(text, telegram_id=5001):
    if text.startswith("/"):
        return handle(Incoming(ident(telegram_id), Kind.COMMAND, text=text, command=text[1:]))
    return handle(Incoming(ident(telegram_id), Kind.TEXT, text=text))


def press(data, telegram_id=5001):
    return handle(Incoming(ident(telegram_id), Kind.CALLBACK, callback_data=data))


def consent(telegram_id=5001):
    say("/start", telegram_id)
    return press("c:y", telegram_id)


def test_start_asks_for_consent_with_the_consent_button_first():
    out = say("/start")
    assert "согласие" in out[0].text
    assert out[0].buttons[0][0].callback_data == "c:y"
    member = TelegramUser.objects.get(telegram_id=5001)
    assert member.consent_at is None
    assert not UserActivityLog.objects.exists()  # nothing profiled before consent


def test_consent_button_then_first_question_follows_at_once():
    out = consent()
    member = TelegramUser.objects.get(telegram_id=5001)
    assert member.consent_at is not None and member.journey_stage == 1
    assert JourneyProgress.objects.filter(user=member, source="initial").count() == 1
    assert out[0].reply_keyboard[0] == ["📊 Моя сессия", "🌌 Мой профиль"]
    assert out[-1].text.endswith("?")  # the first question
    assert len(out[-1].buttons) >= 2  # with quick replies


@pytest.mark.parametrize("word", ["да", "Согласна!", "согласен"])
def test_typed_consent_counts(word):
    say("/start")
    out = say(word)
    assert TelegramUser.objects.get(telegram_id=5001).consent_at is not None
    assert out[-1].text.endswith("?")


def test_before_consent_free_text_gets_the_consent_request_again():
    say("/start")
    out = say("расскажи о себе")
    assert out[0].buttons[0][0].callback_data == "c:y"
    assert not UserSession.objects.exists()


def test_turns_are_stored_and_reach_the_llm_with_history(fake_llm):
    consent()
    fake_llm.enqueue({"reply": "Что ты чувствуешь, когда думаешь о работе?", "quick_replies": ["Страх", "Скуку"]})
    out = say("Я хочу уйти с работы")
    assert "Что ты чувствуешь" in out[0].text
    assert [b[0].text for b in out[-1].buttons] == ["Страх", "Скуку"]

    say("Мне страшно")
    last_prompt = fake_llm.prompts()[-1]
    assert "Я хочу уйти с работы" in last_prompt and "Что ты чувствуешь" in last_prompt
    assert "<<<MEMBER>>>\nМне страшно\n<<<END>>>" in last_prompt
    # No Telegram names or ids in what the LLM sees.
    body = json.dumps(fake_llm.requests, ensure_ascii=False)
    assert "anya" not in body and "Аня" not in body and "5001" not in body

    session = UserSession.objects.get(user__telegram_id=5001)
    roles = [t["role"] for t in session_history(session)]
    assert roles[-4:] == ["user", "assistant", "user", "assistant"]
    kinds = set(UserInteraction.objects.values_list("kind", flat=True))
    assert {"message_in", "message_out", "consent"} <= kinds


def test_quick_reply_is_handled_exactly_like_typed_text(fake_llm):
    consent()
    fake_llm.enqueue({"reply": "Что выберешь?", "quick_replies": ["Смелость", "Покой"]})
    out = say("Не знаю, что делать")
    data = out[-1].buttons[0][0].callback_data
    assert len(data.encode()) <= 64
    press(data)
    session = UserSession.objects.get(user__telegram_id=5001)
    user_turns = [t["content"] for t in session_history(session) if t["role"] == "user"]
    assert user_turns[-1] == "Смелость"
    assert "<<<MEMBER>>>\nСмелость\n<<<END>>>" in fake_llm.prompts()[-1]


def test_llm_failures_fall_back_to_stage_templates(fake_llm, settings):
    settings.LLM_TOTAL_BUDGET = 1.5
    consent()
    fake_llm.responder = lambda body: 500
    out = say("Привет")
    assert out and out[0].text  # the member still gets an answer
    assert len(fake_llm.requests) >= 2  # retried before giving up
    session = UserSession.objects.get(user__telegram_id=5001)
    assert session_history(session)[-1]["role"] == "assistant"


def test_invalid_llm_output_is_discarded(fake_llm):
    consent()
    fake_llm.enqueue("not json at all", "not json at all", "not json at all", "not json at all")
    out = say("Привет")
    assert out[0].text and "not json" not in out[0].text


def test_member_html_is_kept_as_text_and_llm_html_is_sanitised_to_bold_and_italic(fake_llm):
    consent()
    fake_llm.enqueue({"reply": "Запомни: <b>страх — компас</b> & <a href='javascript:x'>жми</a></i> <3",
                      "quick_replies": []})
    out = say("<b>жирно</b> & <script>")
    assert out[0].text == "Запомни: <b>страх — компас</b> &amp; жми &lt;3"
    session = UserSession.objects.get(user__telegram_id=5001)
    history = session_history(session)
    assert history[-2]["content"] == "<b>жирно</b> & <script>"
    assert history[-1]["content"] == "Запомни: страх — компас & жми <3"


def test_an_llm_reply_with_no_visible_text_is_discarded(fake_llm):
    consent()
    fake_llm.enqueue(*[{"reply": "<script>alert(1)</script><b></b>", "quick_replies": []}] * 4)
    out = say("Привет")
    assert out[0].text.strip() and "script" not in out[0].text


def test_a_ten_thousand_character_message_is_answered(fake_llm):
    consent()
    fake_llm.enqueue({"reply": "Я прочитала всё. " * 400, "quick_replies": ["Да"]})
    out = say("слово " * 1700)
    assert len(out) >= 2 and all(visible_length(m.text) <= 4096 for m in out)
    assert out[-1].buttons and not out[0].buttons  # quick replies under the last part
    session = UserSession.objects.get(user__telegram_id=5001)
    assert len(session_history(session)[-2]["content"]) == 4000


def test_crisis_phrase_gets_support_flag_and_alert_without_a_persona_call(fake_llm):
    consent()
    calls_before = len(fake_llm.requests)
    out = say("Я больше не хочу жить")
    assert "112" in out[0].text and "8-800-2000-122" in out[0].text
    assert len(fake_llm.requests) == calls_before  # hard phrase: no LLM at all
    member = TelegramUser.objects.get(telegram_id=5001)
    assert member.crisis_flag and not member.can_receive_proactive
    assert CrisisAlert.objects.filter(user=member, resolved_at__isnull=True).count() == 1


def test_every_message_gets_the_llm_risk_judgement_in_the_same_call(fake_llm):
    consent()
    before = len(fake_llm.requests)
    fake_llm.enqueue({"risk": "none", "reply": "Расскажи, что случилось.", "quick_replies": []})
    out = say("Я больше не могу с этой работой")
    assert "Расскажи" in out[0].text
    assert len(fake_llm.requests) == before + 1  # no second, separate classifier call
    assert '"risk"' in fake_llm.prompts()[-1]
    assert not TelegramUser.objects.get(telegram_id=5001).crisis_flag


def test_member_histories_never_mix(fake_llm):
    consent(1)
    consent(2)
    say("Секрет первой участницы: боюсь высоты", 1)
    say("А я просто пришла", 2)
    second_prompt = fake_llm.prompts()[-1]
    assert "боюсь высоты" not in second_prompt
    assert "А я просто пришла" in second_prompt


def test_menu_press_does_not_break_the_session(fake_llm):
    consent()
    say("Первая мысль")
    session_id = UserSession.objects.get(user__telegram_id=5001, status="active").pk
    turns = UserSession.objects.get(pk=session_id).message_count
    out = say(MENU_SESSION)
    assert "сессия" in out[0].text.lower()
    assert UserSession.objects.get(pk=session_id).message_count == turns
    out = say(MENU_PAUSE)
    assert TelegramUser.objects.get(telegram_id=5001).is_paused
    assert out[0].reply_keyboard[1][1] == "▶️ Продолжить"
    out = say("/resume")
    assert "Мы остановились" in out[0].text
    assert not TelegramUser.objects.get(telegram_id=5001).is_paused
    assert UserSession.objects.get(user__telegram_id=5001, status="active").pk == session_id


def test_flood_is_answered_once_and_not_sent_to_the_llm(fake_llm, settings):
    settings.FLOOD_MAX_PER_MINUTE = 3
    consent()
    before = len(fake_llm.requests)
    outs = [say(f"сообщение {i}") for i in range(6)]
    assert len(fake_llm.requests) - before == 1  # /start and the consent button took 2 of the 3 slots
    assert sum(1 for o in outs if o and "быстро" in o[0].text) == 1
    assert outs[-1] == []
    assert press("q:0:0") == []  # button presses count against the guard too: no LLM behind them
    assert len(fake_llm.requests) - before == 1
    assert consent(telegram_id=77)  # other members are unaffected


def test_settings_timezone_and_proactive_toggle():
    consent()
    out = say("/settings")
    assert "Часовой пояс" in out[0].text
    press("set:tz")
    out = say("Новосибирск")
    assert TelegramUser.objects.get(telegram_id=5001).timezone == "Asia/Novosibirsk"
    press("set:pro:0")
    assert TelegramUser.objects.get(telegram_id=5001).proactive_enabled is False


def test_unknown_and_forged_buttons_get_a_clear_answer():
    consent()
    for data in ["zzz", "q:999:0", "q:a:b", "st:99999", "", "c"]:
        out = press(data)
        assert out and out[0].text


def test_start_stream_enrols_and_sends_the_first_exercise():
    consent()
    step = StreamStepFactory(day_offset=0, text="Запиши три страха")
    out = press(f"st:{step.stream_id}")
    assert "Запиши три страха" in out[0].text
    assert step.stream.enrollments.filter(user__telegram_id=5001).exists()


def test_end_command_ends_the_session_and_updates_the_member():
    consent()
    say("Я сегодня многое поняла")
    say("/end")
    member = TelegramUser.objects.get(telegram_id=5001)
    assert not UserSession.objects.filter(user=member, status="active").exists()
    assert "многое поняла" in member.last_summary


def test_export_and_forget():
    consent()
    say("Мой секрет")
    out = say("/export")
    name, content = out[0].document
    assert name.endswith(".json") and "Мой секрет" in content.decode()
    say("/forget")
    press("fg:y")
    assert not TelegramUser.objects.filter(telegram_id=5001).exists()
    assert not UserActivityLog.objects.exists()


def test_non_text_and_edited_messages_get_a_friendly_answer():
    assert "текстом" in handle(Incoming(ident(), Kind.NON_TEXT))[0].text
    assert handle(Incoming(ident(), Kind.EDITED))[0].text
