import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse

from testkit.factories import (
    ActivityLogFactory,
    BroadcastDeliveryFactory,
    ProfileFactory,
    StaffFactory,
    StreamStepFactory,
    TelegramUserFactory,
    TriggerFactory,
    UserSessionFactory,
)

SECRET = "мой самый большой страх"


@pytest.fixture
def populated(db):
    member = TelegramUserFactory()
    UserSessionFactory(user=member, turns=[{"role": "user", "content": SECRET}])
    ActivityLogFactory(user=member)
    ProfileFactory(user=member)
    StreamStepFactory()
    TriggerFactory(user=member)
    BroadcastDeliveryFactory(user=member)
    return member


def registered_models():
    return sorted(admin.site._registry, key=lambda m: m._meta.label)


@pytest.mark.django_db
def test_every_admin_page_renders_for_a_superuser(client, superuser, populated):
    client.force_login(superuser)
    checked = 0
    for model in registered_models():
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        model_admin = admin.site._registry[model]
        if model_admin.has_add_permission(_request(superuser)):
            add = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
            assert add.status_code == 200, opts.label
        obj = model._default_manager.first()
        if obj is not None:
            change = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
            assert change.status_code == 200, opts.label
            checked += 1
    assert checked >= 15


def _request(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = user
    return request


@pytest.mark.django_db
def test_conversation_is_shown_only_with_the_dedicated_permission(client, populated):
    staff = StaffFactory()
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_telegramuser", "view_usersession"]))
    client.force_login(staff)
    url = reverse("admin:profiles_telegramuser_change", args=[populated.pk])
    assert SECRET not in client.get(url).content.decode()

    staff.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    client.force_login(staff)  # permissions are cached per user object
    assert SECRET in client.get(url).content.decode()


@pytest.mark.django_db
def test_config_changelist_opens_the_single_row(client, superuser):
    client.force_login(superuser)
    response = client.get(reverse("admin:triggers_proactivityconfig_changelist"))
    assert response.status_code == 302
    assert response["Location"].endswith("/triggers/proactivityconfig/1/change/")


@pytest.mark.django_db
def test_admin_is_in_russian(client, superuser):
    client.force_login(superuser)
    body = client.get(reverse("admin:index")).content.decode()
    assert "Участники" in body and "Проактивность" in body
