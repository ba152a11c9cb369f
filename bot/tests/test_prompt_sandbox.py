"""The prompt sandbox: the draft reaches the LLM in a worker, both replies are shown, publishing
records a history version, and only staff allowed to read conversations may replay real ones."""

import pytest
from django.urls import reverse

from bot.models import PersonaPrompt
from bot.services import natasha, sandbox
from relove.core.models import StaffTask
from testkit.factories import StaffFactory, TelegramUserFactory, UserSessionFactory

pytestmark = pytest.mark.django_db
SANDBOX = reverse("admin:bot_personaprompt_sandbox")
DRAFT = "Ты — Наташа. ЧЕРНОВИК-7: отвечай одной фразой."
TYPED = "Участник: Мне страшно менять работу\nНаташа: Что именно пугает?\nчто не справлюсь"


@pytest.fixture
def editor(client):
    staff = StaffFactory(roles=["Редактор контента"])
    client.force_login(staff)
    return staff


def _form(**changes):
    return {"key": "persona", "stage": "3", "conversation": TYPED, "draft": DRAFT} | changes


def _queue(client, capture, **changes):
    with capture() as queued:
        response = client.post(SANDBOX, _form(**changes))
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"], queued


def test_the_draft_reaches_the_llm_in_a_worker_and_both_replies_are_shown(client, editor, fake_llm,
                                                                            django_capture_on_commit_callbacks):
    fake_llm.route("ЧЕРНОВИК-7", {"reply": "Ответ по <черновику>.", "quick_replies": ["Да"], "risk": "none"})
    fake_llm.enqueue({"reply": "Ответ по сохранённому промпту.", "quick_replies": ["Нет"], "risk": "none"})

    result_url, queued = _queue(client, django_capture_on_commit_callbacks)
    assert fake_llm.requests == []  # nothing called in the request
    waiting = client.get(result_url).content.decode()
    assert 'id="sandbox-queued"' in waiting and 'http-equiv="refresh"' in waiting

    queued[0]()
    systems = [r["messages"][0]["content"] for r in fake_llm.requests]
    assert len(systems) == 2
    assert DRAFT in systems[1] and DRAFT not in systems[0]
    assert natasha.prompt_text("persona") in systems[0]
    assert all(natasha.REPLY_CONTRACT in s and "Этап пути участника: 3/12" in s for s in systems)
    last_member_turn = fake_llm.requests[1]["messages"][-1]["content"]
    assert "что не справлюсь" in last_member_turn and "<<<MEMBER>>>" in last_member_turn

    page = client.get(result_url).content.decode()
    assert "Ответ по сохранённому промпту." in page and "Ответ по &lt;черновику&gt;." in page
    assert page.count("Ответ ИИ") == 2 and "Опубликовать черновик" in page
    assert 'http-equiv="refresh"' not in page


def test_publishing_saves_the_draft_with_a_history_version_naming_the_editor(client, editor,
                                                                             django_capture_on_commit_callbacks):
    prompt = PersonaPrompt.objects.get(key="persona")
    versions = prompt.history.count()
    _result_url, queued = _queue(client, django_capture_on_commit_callbacks)
    queued[0]()
    task = StaffTask.objects.get(kind=sandbox.SANDBOX)
    response = client.post(reverse("admin:bot_personaprompt_sandbox_publish", args=[task.pk]))
    assert response["Location"] == reverse("admin:bot_personaprompt_history", args=[prompt.pk])
    prompt.refresh_from_db()
    assert prompt.text == DRAFT
    latest = prompt.history.first()
    assert prompt.history.count() == versions + 1
    assert latest.history_user == editor and latest.history_change_reason == "опубликовано из песочницы"
    assert natasha.prompt_text("persona") == DRAFT  # the bot's copy follows at once


def test_publishing_is_refused_when_the_prompt_changed_after_the_comparison(client, editor,
                                                                            django_capture_on_commit_callbacks):
    result_url, queued = _queue(client, django_capture_on_commit_callbacks)
    queued[0]()
    prompt = PersonaPrompt.objects.get(key="persona")
    prompt.text = "Правка коллеги."
    prompt.save()
    assert 'id="sandbox-stale"' in client.get(result_url).content.decode()
    task = StaffTask.objects.get(kind=sandbox.SANDBOX)
    response = client.post(reverse("admin:bot_personaprompt_sandbox_publish", args=[task.pk]), follow=True)
    assert "Промпт уже изменили после сравнения" in response.content.decode()
    prompt.refresh_from_db()
    assert prompt.text == "Правка коллеги."


def test_without_an_llm_the_page_says_so_and_labels_the_template_fallback(client, editor, settings,
                                                                          django_capture_on_commit_callbacks):
    settings.OPENAI_API_KEY = ""
    assert 'id="sandbox-no-llm"' in client.get(SANDBOX).content.decode()
    result_url, queued = _queue(client, django_capture_on_commit_callbacks)
    queued[0]()
    page = client.get(result_url).content.decode()
    assert 'id="sandbox-fallback"' in page and "не задан OPENAI_API_KEY" in page
    assert page.count("Запасной ответ из шаблона (не ИИ)") == 2


def test_an_editor_without_the_conversation_permission_may_only_type_one(client, editor,
                                                                         django_capture_on_commit_callbacks):
    session = UserSessionFactory(turns=[{"role": "user", "content": "секрет"}])
    page = client.get(SANDBOX).content.decode()
    assert 'id="sandbox-typed-only"' in page and 'name="session"' not in page
    assert client.post(SANDBOX, _form(session=str(session.pk), conversation="")).status_code == 403
    assert not StaffTask.objects.exists()


def test_a_typed_conversation_needs_a_member_turn_and_the_draft_is_checked(client, editor):
    page = client.post(SANDBOX, _form(conversation="Наташа: Привет!")).content.decode()
    assert "Нужна хотя бы одна реплика участника" in page
    page = client.post(SANDBOX, _form(draft="я" * 5000)).content.decode()
    assert "длиннее 4096 символов" in page
    assert not StaffTask.objects.exists()


def test_a_recent_conversation_is_replayed_without_names_or_contacts(client, fake_llm,
                                                                     django_capture_on_commit_callbacks):
    staff = StaffFactory(roles=["Редактор контента"], perms=["bot.view_conversation"])
    client.force_login(staff)
    member = TelegramUserFactory(first_name="Ольга", last_name="Смирнова", username="olga_k", telegram_id=987654321)
    session = UserSessionFactory(user=member, turns=[
        {"role": "user", "content": "Я ольга смирнова, пиши @olga_k или +7 912 345-67-89, olga@mail.ru, id 987654321"},
        {"role": "assistant", "content": "Что сейчас главное?"},
        {"role": "user", "content": "Ольга устала"},
        {"role": "assistant", "content": "Слышу."},
    ])
    page = client.get(SANDBOX).content.decode()
    assert f"Разговор №{session.pk}" in page and "Ольга" not in page and "olga" not in page

    result_url, queued = _queue(client, django_capture_on_commit_callbacks, session=str(session.pk), conversation="")
    queued[0]()
    sent = "\n".join(m["content"] for r in fake_llm.requests for m in r["messages"])
    for secret in ("Ольга", "ольга", "Смирнова", "смирнова", "olga", "987654321", "912 345", "mail.ru"):
        assert secret not in sent, secret
    assert "Я [имя] [имя], пиши [имя] или [телефон], [почта], id [имя]" in sent
    assert fake_llm.requests[0]["messages"][-1]["content"].count("[имя] устала") == 1  # ends on the member's turn
    page = client.get(result_url).content.decode()
    assert "[имя] устала" in page and "Ольга" not in page


def test_the_sandbox_is_for_prompt_editors_and_each_result_for_who_asked(client, editor,
                                                                         django_capture_on_commit_callbacks):
    result_url, _queued = _queue(client, django_capture_on_commit_callbacks)
    for roles in (["Аналитик"], ["Куратор"], ["Рассылки"]):
        client.force_login(StaffFactory(roles=roles))
        assert client.get(SANDBOX).status_code == 403, roles
        assert client.post(SANDBOX, _form()).status_code == 403, roles
    other_editor = StaffFactory(roles=["Редактор контента"])
    client.force_login(other_editor)
    assert client.get(result_url).status_code == 404
    task = StaffTask.objects.get(kind=sandbox.SANDBOX)
    assert client.post(reverse("admin:bot_personaprompt_sandbox_publish", args=[task.pk])).status_code == 404
    assert PersonaPrompt.objects.get(key="persona").text != DRAFT


def test_edit_again_starts_from_the_previous_run(client, editor, django_capture_on_commit_callbacks):
    _result_url, _queued = _queue(client, django_capture_on_commit_callbacks, key="crisis_mode", stage="5")
    task = StaffTask.objects.get(kind=sandbox.SANDBOX)
    form = client.get(f"{SANDBOX}?from={task.pk}").context["form"]
    assert form.initial["key"] == "crisis_mode" and form.initial["draft"] == DRAFT
    assert form.initial["stage"].order == 5
    assert form.initial["conversation"].endswith("Участник: что не справлюсь")


def test_a_crisis_mode_draft_is_tried_in_crisis_mode(fake_llm):
    from journeys.models import JourneyStage

    stage = JourneyStage.objects.get(order=4)
    natasha.sandbox_reply(stage=stage, turns=[{"role": "user", "content": "мне плохо"}], crisis=True,
                          prompts={"crisis_mode": "БЕРЕЖНО-9"})
    system = fake_llm.requests[0]["messages"][0]["content"]
    assert "БЕРЕЖНО-9" in system and "Этап пути участника" not in system


def test_the_sidebar_highlights_the_sandbox_not_the_prompts_on_the_sandbox_page(rf, superuser):
    from relove.core.admin_nav import sidebar

    def active(path):
        request = rf.get(path)
        request.user = superuser
        return [item["title"] for group in sidebar(request) for item in group["items"] if item["active"]]

    assert active(SANDBOX) == ["Песочница промпта"]
    assert active(reverse("admin:bot_personaprompt_changelist")) == ["Промпты"]
    assert active(reverse("admin:bot_personaprompt_change", args=[1])) == ["Промпты"]
    assert active(reverse("admin:index")) == ["Обзор"]
