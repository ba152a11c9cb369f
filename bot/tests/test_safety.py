"""The safety gate and crisis mode through the orchestrator (real DB, fake LLM on loopback)."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from bot.models import CrisisAlert, OutboundMessage, UserSession
from bot.safety import gate
from bot.services import safety
from bot.services.members import TelegramIdentity
from bot.services.orchestrator import Incoming, Kind, handle
from bot.services.sessions import session_history
from journeys.analysis import journey_analyse
from journeys.services import journey_advance
from profiles.models import TelegramUser
from testkit.factories import StreamStepFactory

pytestmark = pytest.mark.django_db
ME = 6001


def say(text, telegram_id=ME):
    return handle(Incoming(TelegramIdentity(telegram_id=telegram_id, first_name="Оля"), Kind.TEXT, text=text))


def press(data, telegram_id=ME):
    return handle(Incoming(TelegramIdentity(telegram_id=telegram_id, first_name="Оля"), Kind.CALLBACK,
                           callback_data=data))


def consent(telegram_id=ME):
    handle(Incoming(TelegramIdentity(telegram_id=telegram_id), Kind.COMMAND, text="/start", command="start"))
    return press("c:y", telegram_id)


def member():
    return TelegramUser.objects.get(telegram_id=ME)


def test_llm_judged_risk_discards_the_persona_reply(fake_llm):
    consent()
    fake_llm.enqueue({"risk": "crisis", "reply": "Провокация: а что ты выбираешь?", "quick_replies": ["Да"]})
    out = say("всё как-то серо и пусто, сижу и смотрю в стену")  # no keyword matches this
    assert "8-800-2000-122" in out[0].text and "Провокация" not in out[0].text
    alert = CrisisAlert.objects.get(user=member())
    assert alert.detected_by == "llm" and alert.status == "new"
    assert member().crisis_flag
    history = session_history(UserSession.objects.get(user=member()))
    assert "Провокация" not in str(history)


def test_offline_risk_needs_no_llm_call(fake_llm):
    consent()
    before = len(fake_llm.requests)
    out = say("хачу умиреть")
    assert "112" in out[0].text and len(fake_llm.requests) == before
    assert CrisisAlert.objects.get(user=member()).category == "explicit"


def test_llm_down_falls_back_to_the_offline_verdict(fake_llm, settings):
    settings.LLM_TOTAL_BUDGET = 1.0
    consent()
    fake_llm.responder = lambda body: 500
    assert "112" in say("ya ne hochu zhit")[0].text
    out = say("дедлайны убивают, но я справлюсь")
    assert "112" not in out[0].text and out[0].text


def test_missing_or_malformed_risk_field_means_unknown_and_the_offline_verdict_decides(fake_llm):
    consent()
    fake_llm.enqueue({"reply": "Что держит тебя?", "quick_replies": []},
                     {"risk": "maybe?", "reply": "И что дальше?", "quick_replies": []})
    assert say("хочу сменить работу")[0].text == "Что держит тебя?"
    assert say("умираю от смеха с этого видео")[0].text == "И что дальше?"
    assert not CrisisAlert.objects.exists()


def test_a_failing_detector_never_lets_an_unchecked_persona_reply_out(monkeypatch, settings):
    consent()

    def broken(text):
        raise RuntimeError("bug")

    monkeypatch.setattr(gate, "detect", broken)  # the offline detector itself fails; no LLM configured
    out = say("обычное сообщение")
    assert out[0].text in {t for t in _gentle_texts()}


def _gentle_texts():
    from bot.models import MessageTemplate

    return set(MessageTemplate.objects.filter(key="crisis_gentle").values_list("text", flat=True))


@pytest.mark.parametrize("text", ["", " ", "🙂" * 500, "слово " * 17_000, "Hello, I feel okay. Привет, всё хорошо 😊"])
def test_bad_input_goes_through_the_gate(text, fake_llm):
    consent()
    fake_llm.enqueue({"risk": "none", "reply": "Слышу тебя.", "quick_replies": []})
    out = say(text)
    assert out and out[0].text


def test_risk_at_the_end_of_a_huge_message_is_caught():
    consent()
    out = say("обычный текст " * 7000 + ". я не хочу больше жить")
    assert "8-800-2000-122" in out[0].text


def test_crisis_mode_is_gentle_until_staff_resolve(fake_llm, superuser):
    consent()
    say("хочу покончить с собой")
    fake_llm.enqueue({"risk": "none", "reply": "Я рядом. Что сейчас вокруг тебя?", "quick_replies": []})
    out = say("спасибо, я дома")
    assert out[0].text == "Я рядом. Что сейчас вокруг тебя?"
    prompt = fake_llm.prompts()[-1]
    assert "бережном режиме" in prompt and "Стиль на этом этапе" not in prompt
    step = StreamStepFactory(day_offset=0, text="Сделай вызов страху")
    assert "Задания подождут" in press(f"st:{step.stream_id}")[0].text
    alert = CrisisAlert.objects.get(user=member())
    safety.crisis_resolve(alert=alert, staff=superuser, note="Поговорили по телефону, она в безопасности.")
    assert not member().crisis_flag
    say("продолжим путь")
    assert "Стиль на этом этапе" in fake_llm.prompts()[-1]


def test_helplines_again_not_more_often_than_every_ten_minutes_unless_acute(settings):
    settings.TELEGRAM_STAFF_CHAT_ID = 999
    consent()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert "8-800-2000-122" in say("хочу умереть")[0].text
        second = say("я правда не хочу жить")[0].text
        assert "8-800-2000-122" not in second and "выше" in second
        assert "8-800-2000-122" in say("я выпила всю упаковку таблеток")[0].text  # acute: at once
        clock.shift(timedelta(minutes=11))
        assert "8-800-2000-122" in say("не хочу жить")[0].text
    alert = CrisisAlert.objects.get(user=member())  # one open alert, four signals
    assert alert.signals == 4 and alert.acute
    assert set(OutboundMessage.objects.values_list("dedupe_key", flat=True)) == {
        f"crisis:{alert.pk}", f"crisis:{alert.pk}:acute"}


def test_crisis_in_a_flood_is_still_answered(settings):
    settings.FLOOD_MAX_PER_MINUTE = 2
    consent()
    say("раз")
    say("два")
    out = say("я стою на краю крыши")
    assert "112" in out[0].text and member().crisis_flag


def test_replies_to_proactive_and_broadcast_buttons_go_through_the_gate(fake_llm):
    from bot import hooks

    consent()
    hooks.register_quick_reply_source("bq", lambda user, data: "не хочу больше жить")
    try:
        out = press("bq:1:0")
    finally:
        hooks._quick_reply_sources.pop("bq")
    assert "8-800-2000-122" in out[0].text


def test_no_stage_analysis_moves_a_member_in_crisis(fake_llm):
    consent()
    say("хочу умереть")
    user = member()
    assert journey_analyse(user_id=user.pk).status == "skipped"
    assert journey_advance(user_id=user.pk, from_order=user.journey_stage, to_order=user.journey_stage + 1,
                           confidence=1.0, evidence="x", reason="test") is None
    assert member().journey_stage == 1


def test_members_in_crisis_get_no_proactive_messages_or_broadcasts():
    from broadcasts.selectors import Segment, audience
    from triggers.selectors import eligible_members

    consent()
    say("хочу умереть")
    assert not eligible_members().filter(telegram_id=ME).exists()
    assert not audience(segment=Segment()).filter(telegram_id=ME).exists()


def test_emptying_the_judgement_prompt_does_not_switch_the_gate_off(fake_llm):
    from bot.models import PersonaPrompt

    PersonaPrompt.objects.filter(key="safety").update(text="")
    consent()
    fake_llm.enqueue({"risk": "crisis", "reply": "Что выберешь?", "quick_replies": []})
    assert "8-800-2000-122" in say("всё серо, сижу и смотрю в стену")[0].text
    assert gate.RISK_CONTRACT in fake_llm.prompts()[-1]
    before = len(fake_llm.requests)
    say("хочу умереть")  # the offline detector: a second signal, no LLM call
    assert len(fake_llm.requests) == before
    assert CrisisAlert.objects.get(user=member()).signals == 2


@pytest.mark.django_db(transaction=True)  # on-commit hooks run as in production
def test_helplines_go_out_even_when_the_staff_alert_cannot_be_queued(monkeypatch, settings):
    from kombu.exceptions import OperationalError

    from bot.tasks import deliver_outbound

    settings.TELEGRAM_STAFF_CHAT_ID = 999
    consent()

    def broker_down(*args, **kwargs):
        raise OperationalError("broker unreachable")

    monkeypatch.setattr(deliver_outbound, "delay", broker_down)
    out = say("хочу покончить с собой")
    assert "8-800-2000-122" in out[0].text
    alert = CrisisAlert.objects.get(user=member())  # recorded: the re-alert task pages staff later
    assert OutboundMessage.objects.get(dedupe_key=f"crisis:{alert.pk}").status == "pending"
