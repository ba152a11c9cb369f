"""Failing staff actions say why on the page: the middleware, a refused queue, no worker."""

import pytest
from celery import Celery
from django.contrib import messages
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import path

from relove.core.models import StaffTask
from relove.core.staff_tasks import staff_enqueue, staff_task_queue, staff_task_queued_notice
from relove.urls import urlpatterns as project_urls
from testkit.factories import StaffFactory

pytestmark = pytest.mark.django_db


def _broken_query(request):
    with transaction.atomic(), connection.cursor() as cursor:  # a real database error
        cursor.execute("SELECT * FROM relove_table_that_does_not_exist")
    return HttpResponse("unreachable")


def _forbidden(request):
    raise PermissionDenied


urlpatterns = [path("admin/broken/", _broken_query), path("admin/forbidden/", _forbidden), *project_urls]

# A broker nobody listens on: the real Celery/kombu client fails to publish.
refusing = Celery("refusing", broker="redis://127.0.0.1:1/0", set_as_current=False)
refusing.conf.broker_connection_timeout = 1


@refusing.task(name="tests.refused")
def refused_task(*args):
    return None


@pytest.fixture
def staff_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.mark.urls(__name__)
def test_a_failing_admin_post_returns_to_the_page_with_the_cause(staff_client):
    response = staff_client.post("/admin/broken/", HTTP_REFERER="http://testserver/admin/bot/crisisalert/")
    assert response.status_code == 302 and response["Location"] == "http://testserver/admin/bot/crisisalert/"
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert shown == ["Действие не выполнено: ошибка базы данных — подробности записаны в журнал."]


@pytest.mark.urls(__name__)
def test_a_referer_from_elsewhere_is_not_followed(staff_client):
    response = staff_client.post("/admin/broken/", HTTP_REFERER="https://evil.example/")
    assert response["Location"] == "/admin/broken/"


@pytest.mark.urls(__name__)
def test_permission_errors_and_pages_keep_djangos_answer(staff_client):
    assert staff_client.post("/admin/forbidden/").status_code == 403
    staff_client.raise_request_exception = True
    with pytest.raises(Exception, match="relove_table_that_does_not_exist"):
        staff_client.get("/admin/broken/")  # a page, not an action: nothing to go back to


def _request(user):
    from django.contrib.messages.storage.fallback import FallbackStorage

    request = RequestFactory().post("/admin/")
    request.user, request.session = user, {}
    request._messages = FallbackStorage(request)
    return request


@pytest.mark.django_db(transaction=True)  # autocommit, as in the admin: on_commit runs at once
def test_a_staff_task_the_broker_refuses_fails_at_once_with_the_reason(superuser, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    request = _request(superuser)
    row = staff_task_queue(kind="x", requested_by=superuser, task=refused_task)
    staff_task_queued_notice(request=request, row=row, text="Поставлено в очередь.")
    row.refresh_from_db()
    expected = "Не поставлено в очередь: Redis (очередь задач) недоступен — проверьте REDIS_URL и что Redis запущен."
    assert (row.status, row.message) == ("failed", expected)
    assert [(m.level, str(m)) for m in get_messages(request)] == [(messages.ERROR, expected)]
    assert StaffTask.objects.filter(pk=row.pk, announced_at__isnull=False).exists()  # not shown twice


@pytest.mark.django_db(transaction=True)
def test_queued_work_with_a_dead_broker_is_not_called_queued(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    request = _request(StaffFactory())
    assert not staff_enqueue(request=request, send=lambda: refused_task.apply_async(args=[1], retry=False),
                             text="Профиль поставлен в очередь на пересборку.")
    assert [str(m) for m in get_messages(request)] == [
        "Не поставлено в очередь: Redis (очередь задач) недоступен — проверьте REDIS_URL и что Redis запущен."]


def test_queued_work_with_no_worker_says_it_waits(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    request = _request(StaffFactory())
    assert staff_enqueue(request=request, send=lambda: None, text="Анализ этапа поставлен в очередь.")
    assert [(m.level, str(m)) for m in get_messages(request)] == [
        (messages.WARNING, "Анализ этапа поставлен в очередь. Но воркер не запущен — задача ждёт в очереди и "
                           "выполнится, когда он запустится.")]
