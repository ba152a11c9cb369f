"""The crisis workflow in the admin: status, assignee, notes, resolve needs a note, read-only flags."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from bot.models import CrisisAlert, CrisisNote, MemberFlagChange
from bot.safety.gate import Decision
from bot.services import safety
from profiles.models import TelegramUser
from testkit.factories import TelegramUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(member):
    return safety.crisis_signal(user=member, text="хочу умереть",
                                decision=Decision(True, detected_by="keywords", category="explicit",
                                                  evidence=("хочу умереть",))).alert


def test_index_shows_the_open_count_and_the_member_page_a_banner(client, superuser, alert, member):
    client.force_login(superuser)
    index = client.get(reverse("admin:index")).content.decode()
    assert 'id="ops-crisis"' in index and "ops-card-danger" in index
    assert 'data-metric="crisis.new">\n        <span class="ops-value">1</span>' in index
    page = client.get(reverse("admin:profiles_telegramuser_change", args=[member.pk])).content.decode()
    assert "Открытый кризисный сигнал" in page


def test_workflow_take_note_resolve_requires_a_note(client, superuser, alert, member):
    client.force_login(superuser)
    url = reverse("admin:bot_crisisalert_workflow", args=[alert.pk])
    page = client.get(reverse("admin:bot_crisisalert_change", args=[alert.pk])).content.decode()
    assert "Разобрано (нужна заметка)" in page and "Последняя переписка" not in page  # no session yet
    client.post(url, {"action": "take"})
    alert.refresh_from_db()
    assert alert.status == "in_progress" and alert.assignee == superuser
    client.post(url, {"action": "resolve", "note": "  "})
    alert.refresh_from_db()
    assert alert.status == "in_progress" and TelegramUser.objects.get(pk=member.pk).crisis_flag
    client.post(url, {"action": "note", "note": "Позвонила, не берёт трубку"})
    client.post(url, {"action": "resolve", "note": "Дозвонились, она у мамы, в безопасности"})
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolved_by == superuser
    assert [n.author for n in CrisisNote.objects.filter(alert=alert)] == [superuser, superuser]
    assert not TelegramUser.objects.get(pk=member.pk).crisis_flag
    change = MemberFlagChange.objects.get(user=member)
    assert change.staff == superuser and "у мамы" in change.reason


def test_flags_are_read_only_on_the_form_and_change_with_who_and_why(client, superuser, member):
    client.force_login(superuser)
    change_url = reverse("admin:profiles_telegramuser_change", args=[member.pk])
    page = client.get(change_url).content.decode()
    assert 'name="crisis_flag"' not in page and 'name="is_blocked"' not in page
    flag_url = reverse("admin:bot_member_flag", args=[member.pk, "is_blocked", 1])
    assert client.post(flag_url, {"reason": ""}).status_code == 200  # the form again: a reason is required
    assert not TelegramUser.objects.get(pk=member.pk).is_blocked
    client.post(flag_url, {"reason": "Написал в поддержку, что удалил чат"})
    assert TelegramUser.objects.get(pk=member.pk).is_blocked
    client.post(reverse("admin:bot_member_flag", args=[member.pk, "crisis_flag", 1]), {"reason": "Звонила мама"})
    assert CrisisAlert.objects.get(user=member).detected_by == "staff"
    assert list(MemberFlagChange.objects.filter(user=member).values_list("field", "value", "staff")) == [
        ("crisis_flag", True, superuser.pk), ("is_blocked", True, superuser.pk)]


def test_conversation_link_only_with_the_conversation_permission(client, alert, member, django_user_model):
    from bot.services.sessions import Turn, session_append, session_get_active

    session_append(session=session_get_active(user=member), turns=[Turn("user", "…")])
    staff = django_user_model.objects.create_user("anna", password="x", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_crisisalert", "change_crisisalert"]))
    client.force_login(staff)
    page = client.get(reverse("admin:bot_crisisalert_change", args=[alert.pk])).content.decode()
    assert "Последняя переписка" not in page
    staff.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    client.force_login(django_user_model.objects.get(pk=staff.pk))
    page = client.get(reverse("admin:bot_crisisalert_change", args=[alert.pk])).content.decode()
    assert "Последняя переписка" in page


def test_a_second_member_alert_is_separate(alert):
    other = TelegramUserFactory()
    safety.crisis_signal(user=other, text="", decision=Decision(True, detected_by="llm", category="llm"))
    assert CrisisAlert.objects.exclude(status="resolved").count() == 2


def test_erasing_a_member_in_the_admin_cascades_over_their_alerts(client, superuser, alert, member):
    client.force_login(superuser)
    safety.crisis_note_add(alert=alert, author=superuser, text="Позвонили")
    url = reverse("admin:privacy_member_erase", args=[member.pk])  # the only way to delete a member
    response = client.post(url)
    assert response.status_code == 302
    assert not TelegramUser.objects.filter(pk=member.pk).exists()
    assert not CrisisAlert.objects.exists() and not CrisisNote.objects.exists()


def test_open_alerts_are_listed_first(client, superuser, alert):
    old = TelegramUserFactory()
    resolved = safety.crisis_signal(user=old, text="", decision=Decision(True, detected_by="llm", category="llm")).alert
    safety.crisis_resolve(alert=resolved, staff=superuser, note="Всё в порядке")
    client.force_login(superuser)
    page = client.get(reverse("admin:bot_crisisalert_changelist")).content.decode()
    assert page.index(f"/bot/crisisalert/{alert.pk}/change/") < page.index(f"/bot/crisisalert/{resolved.pk}/change/")
