"""The sidebar is organised by job and shows each staff member only what their role may open."""

import pytest

from bot.models import CrisisAlert
from relove.core.admin_nav import sidebar
from testkit.factories import StaffFactory, TelegramUserFactory

pytestmark = pytest.mark.django_db

JOBS = ["", "Участники", "Разговоры", "Кризисы", "Рассылки", "Проактивность", "Наташа", "Аналитика", "Система"]


def _groups(rf, user) -> dict[str, list[dict]]:
    request = rf.get("/admin/")
    request.user = user
    return {group["title"]: group["items"] for group in sidebar(request)}


def test_groups_follow_the_jobs_in_russian_and_the_page_renders_them(client, rf):
    admin = StaffFactory(is_superuser=True)
    assert list(_groups(rf, admin)) == JOBS
    client.force_login(admin)
    page = client.get("/admin/").content.decode()
    assert all(f"{title}\n" in page or f">{title}<" in page for title in JOBS[1:])


@pytest.mark.parametrize(("role", "present", "absent"), [
    ("Куратор", {"Участники", "Кризисы", "Разговоры"}, {"Рассылки", "Аналитика"}),
    ("Редактор контента", {"Наташа"}, {"Участники", "Разговоры", "Рассылки", "Аналитика"}),
    ("Рассылки", {"Рассылки"}, {"Кризисы", "Разговоры", "Аналитика"}),
    ("Аналитик", {"Аналитика"}, {"Участники", "Кризисы", "Разговоры", "Рассылки", "Наташа", "Система"}),
])
def test_each_role_sees_only_its_groups(rf, role, present, absent):
    groups = set(_groups(rf, StaffFactory(roles=[role])))
    assert present <= groups
    assert not (absent & groups)


def test_open_crisis_alerts_are_counted_in_the_sidebar(rf):
    admin = StaffFactory(is_superuser=True)

    def crisis_item():
        return next(i for i in _groups(rf, admin)["Кризисы"] if i["title"] == "Кризисные сигналы")

    assert "badge" not in crisis_item()
    for _ in range(2):
        CrisisAlert.objects.create(user=TelegramUserFactory(), excerpt="…")
    assert crisis_item()["badge"] == "2"
