"""Safe editors: templates and prompts are checked on save, previewed with the bot's own render,
list fields are edited one per line, the reply contract lives in code, protected records stay."""

import importlib
from datetime import time

import pytest
from django.urls import reverse

from bot import template_keys
from bot.defaults import PROMPTS, TEMPLATES
from bot.models import CrisisAlert, MessageTemplate, OutboundMessage, PersonaPrompt
from bot.services import natasha
from journeys.models import JourneyStage, StreamStepDelivery
from relove.core.process_cache import process_caches_drop
from testkit.factories import (
    ActivityLogFactory,
    JourneyProgressFactory,
    StreamEnrollmentFactory,
    StreamFactory,
    StreamStepFactory,
    TelegramUserFactory,
    UserSessionFactory,
)
from triggers.models import ProactivityConfig

pytestmark = pytest.mark.django_db
PREVIEW = reverse("admin:bot_messagetemplate_preview")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def _template(key):
    return MessageTemplate.objects.filter(key=key).first()


def _form_data(row, **changes):
    data = {"key": row.key, "stage": row.stage_id or "", "text": row.text,
            "quick_replies": "\n".join(row.quick_replies), "is_active": "on" if row.is_active else ""}
    return {k: v for k, v in (data | changes).items() if v is not None}


# --- checks --------------------------------------------------------------------------------

def test_unknown_placeholder_and_unclosed_tag_are_refused_naming_the_allowed_placeholders(admin_client):
    row = _template("timezone_set")
    url = reverse("admin:bot_messagetemplate_change", args=[row.pk])
    response = admin_client.post(url, _form_data(row, text="Пояс: <b>{timezon}"))
    assert response.status_code == 200  # the form again, not a redirect
    page = response.content.decode()
    assert "неизвестная подстановка {timezon}: в этом шаблоне можно только {timezone}, {window}, {daily_limit}" in page
    assert "не закрыт &lt;b&gt;" in page
    row.refresh_from_db()
    assert "{timezon}" not in row.text


def test_a_correct_template_saves_and_records_a_history_version(admin_client):
    row = _template("timezone_set")
    versions = row.history.count()
    url = reverse("admin:bot_messagetemplate_change", args=[row.pk])
    response = admin_client.post(url, _form_data(row, text="Готово: <b>{timezone}</b>. Пишу {window}."))
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.text == "Готово: <b>{timezone}</b>. Пишу {window}."
    assert row.history.count() == versions + 1


def test_the_key_is_chosen_from_the_registry_and_an_unknown_key_is_refused(admin_client):
    page = admin_client.get(reverse("admin:bot_messagetemplate_add")).content.decode()
    assert "Часовой пояс сохранён (timezone_set)" in page
    response = admin_client.post(reverse("admin:bot_messagetemplate_add"),
                                 {"key": "timezone_sett", "text": "x", "quick_replies": "", "is_active": "on"})
    assert response.status_code == 200 and not MessageTemplate.objects.filter(key="timezone_sett").exists()


def test_every_shipped_template_key_is_in_the_registry_and_passes_its_own_check():
    for key, text, replies in TEMPLATES:
        assert key in template_keys.KEYS, key
        assert template_keys.check_template(key=key, text=text, quick_replies=replies) == {}, key


def test_the_help_text_shows_the_tags_instead_of_swallowing_them(admin_client):
    row = _template("greeting")
    page = admin_client.get(reverse("admin:bot_messagetemplate_change", args=[row.pk])).content.decode()
    assert "HTML Telegram: , ," not in page
    assert "&lt;b&gt;жирный&lt;/b&gt;" in page


def test_quick_replies_are_edited_one_per_line_and_limited(admin_client):
    row = _template("proactive_avoidance")
    url = reverse("admin:bot_messagetemplate_change", args=[row.pk])
    page = admin_client.get(url).content.decode()
    assert "Ты права\nНе сейчас" in page  # lines, not ["Ты права", "Не сейчас"]
    assert admin_client.post(url, _form_data(row, quick_replies="Да\n\n  Нет  \n")).status_code == 302
    row.refresh_from_db()
    assert row.quick_replies == ["Да", "Нет"]
    response = admin_client.post(url, _form_data(row, quick_replies="1\n2\n3\n4"))
    assert "не больше 3 быстрых ответов" in response.content.decode()
    response = admin_client.post(url, _form_data(row, quick_replies="x" * 41))
    assert "длиннее 40 символов" in response.content.decode()


def test_a_template_longer_than_telegram_allows_once_filled_is_refused():
    errors = template_keys.check_template(key="proactive_stream_step", text="{step}" * 20 + "я" * 3900)
    assert errors == {"text": ["с подставленными значениями длиннее 4096 символов"]}


# --- preview -------------------------------------------------------------------------------

def test_the_preview_renders_with_sample_values_through_the_bots_render(admin_client):
    response = admin_client.post(PREVIEW, {"key": "session_status", "text": "<b>Этап</b>: {stage} & <i>{messages}",
                                           "quick_replies": "Да\nНет"})
    data = response.json()
    assert "<b>Этап</b>: Зов к приключениям" in data["html"]
    assert '<div class="tg-button">Да</div>' in data["html"]
    assert "символ & нужно писать как &amp;" in data["errors"]
    assert "не закрыт <i>" in data["errors"]


def test_the_preview_names_an_unknown_placeholder_and_leaves_it_visible(admin_client):
    data = admin_client.post(PREVIEW, {"key": "settings", "text": "Пояс {timezon}"}).json()
    assert "Пояс {timezon}" in data["html"]
    assert data["errors"] == ["неизвестная подстановка {timezon}: в этом шаблоне можно только "
                              "{timezone}, {proactive}, {window}, {daily_limit}"]


def test_the_preview_escapes_what_staff_type_outside_telegram_tags(admin_client):
    data = admin_client.post(PREVIEW, {"key": "help",
                                       "text": '<script>alert(1)</script><a href="javascript:x">y</a>'}).json()
    assert "<script>" not in data["html"] and "javascript:" not in data["html"]


def test_the_preview_is_for_staff_who_may_see_templates(client):
    assert client.post(PREVIEW, {"key": "help", "text": "x"}).status_code == 302  # to the login page
    from testkit.factories import StaffFactory

    client.force_login(StaffFactory())
    assert client.post(PREVIEW, {"key": "help", "text": "x"}).status_code == 403


# --- prompts and the reply contract ----------------------------------------------------------

def test_a_prompt_must_not_be_empty_or_too_long(admin_client):
    row = PersonaPrompt.objects.get(key="persona")
    url = reverse("admin:bot_personaprompt_change", args=[row.pk])
    assert template_keys.check_prompt("   ") == ["пустой промпт"]
    assert "длиннее 4096 символов" in admin_client.post(url, {"key": "persona", "text": "я" * 5000}).content.decode()
    assert admin_client.post(url, {"key": "persona", "text": "Ты — Наташа."}).status_code == 302


def test_the_reply_contract_is_added_by_code_whatever_the_persona_says(fake_llm):
    assert "JSON" not in PROMPTS["persona"] and "JSON" not in PROMPTS["proactive"]
    PersonaPrompt.objects.filter(key="persona").update(text="Ты — Наташа, пиши коротко.")
    stage = JourneyStage.objects.get(order=1)
    member = TelegramUserFactory(journey_stage=1)
    session = UserSessionFactory(user=member, turns=[{"role": "user", "content": "привет"}])
    process_caches_drop()  # a QuerySet.update sends no signal
    generated = natasha.reply(user=member, session=session, stage=stage)
    assert generated.source == "llm"
    system = fake_llm.requests[-1]["messages"][0]["content"]
    assert system.startswith("Ты — Наташа, пиши коротко.")
    assert natasha.REPLY_CONTRACT in system


def test_the_migration_drops_the_contract_from_saved_prompts_and_uses_the_limit_placeholders():
    migration = importlib.import_module("bot.migrations.0012_limits_from_settings_reply_contract_in_code")
    old_persona = PROMPTS["persona"] + (' Ответ верни JSON-объектом: {"reply": "текст ответа", "quick_replies": '
                                        '["2–3 коротких варианта ответа от лица участника, до 40 символов"]}.')
    PersonaPrompt.objects.filter(key="persona").update(text=old_persona)
    MessageTemplate.objects.filter(key="proactive_on").update(
        text="Договорились: иногда буду писать первой, не чаще двух раз в день.")
    from django.apps import apps

    migration.forward(apps, None)
    process_caches_drop()
    assert PersonaPrompt.objects.get(key="persona").text == PROMPTS["persona"]
    assert _template("proactive_on").text == "Договорились: иногда буду писать первой, {daily_limit}."


# --- limits from the settings -----------------------------------------------------------------

def test_member_facing_limits_follow_the_proactivity_settings():
    from bot.tests.test_orchestrator import consent, press, say

    greeting = say("/start")[0].text
    assert "не чаще двух раз в день и только с 8 до 22" in greeting
    config = ProactivityConfig.load()
    config.max_per_day, config.window_start, config.window_end = 3, time(9, 30), time(21)
    config.save()
    assert "не чаще трёх раз в день и только с 9:30 до 21" in say("/start")[0].text
    consent()
    settings_text = say("/settings")[0].text
    assert "не чаще трёх раз в день, с 9:30 до 21 по твоему времени" in settings_text
    press("set:tz")
    assert "Писать первой буду только с 9:30 до 21 по нему." in say("Новосибирск")[0].text
    assert "не чаще трёх раз в день" in press("set:pro:1")[0].text
    config.max_per_day = 1
    config.save()
    assert "не чаще одного раза в день" in press("set:pro:1")[0].text


def test_with_the_cap_at_zero_members_are_not_promised_messages():
    from bot.tests.test_orchestrator import say
    from triggers.wording import daily_limit_phrase

    config = ProactivityConfig.load()
    config.max_per_day = 0
    config.save()
    assert "пока ни разу в день" in say("/start")[0].text
    assert daily_limit_phrase(2, enabled=False) == "пока ни разу в день"


def test_the_preview_uses_the_current_limits(admin_client):
    config = ProactivityConfig.load()
    config.window_start, config.window_end = time(10), time(20)
    config.save()
    data = admin_client.post(PREVIEW, {"key": "timezone_set", "text": "Пишу {window}, {daily_limit}."}).json()
    assert "Пишу с 10 до 20, не чаще двух раз в день." in data["html"]


# --- lists instead of JSON boxes ---------------------------------------------------------------

def test_stage_quick_replies_and_stream_tags_are_edited_as_lines(admin_client):
    stage = JourneyStage.objects.get(order=2)
    url = reverse("admin:journeys_journeystage_change", args=[stage.pk])
    form = admin_client.get(url).context["adminform"].form
    assert form["quick_replies"].value() == "\n".join(stage.quick_replies)
    data = {name: form[name].value() for name in form.fields}
    data.update(quick_replies="Хочу\nБоюсь", min_confidence="0.7")
    assert admin_client.post(url, {k: v for k, v in data.items() if v is not None}).status_code == 302
    stage.refresh_from_db()
    assert stage.quick_replies == ["Хочу", "Боюсь"]
    data.update(quick_replies="1\n2\n3\n4")
    assert "Не больше 3 быстрых ответов" in admin_client.post(url, data).content.decode()

    stream = StreamFactory(tags=["смелость"])
    page = admin_client.get(reverse("admin:journeys_stream_change", args=[stream.pk])).content.decode()
    assert "смелость</textarea>" in page and "[&quot;смелость&quot;]" not in page


# --- protected records ------------------------------------------------------------------------

def test_system_records_cannot_be_deleted_in_the_admin(admin_client):
    member = TelegramUserFactory()
    session = UserSessionFactory(user=member)
    alert = CrisisAlert.objects.create(user=member)
    outbound = OutboundMessage.objects.create(kind="test", chat_id=1, text="x", dedupe_key="k")
    progress = JourneyProgressFactory(user=member)
    log = ActivityLogFactory(user=member)
    enrollment = StreamEnrollmentFactory(user=member)
    step = StreamStepFactory(stream=enrollment.stream)
    delivery = StreamStepDelivery.objects.create(enrollment=enrollment, step=step, due_on="2026-01-01")
    for name, row in [("bot_usersession", session), ("bot_crisisalert", alert), ("bot_outboundmessage", outbound),
                      ("journeys_journeyprogress", progress), ("profiles_useractivitylog", log),
                      ("journeys_streamstepdelivery", delivery)]:
        assert admin_client.post(reverse(f"admin:{name}_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
        assert type(row).objects.filter(pk=row.pk).exists(), name
        listing = admin_client.get(reverse(f"admin:{name}_changelist")).content.decode()
        assert "delete_selected" not in listing, name
