"""Slow admin actions: queued by the request, run once by a worker, announced once."""

import pytest
from django.contrib import messages
from django.contrib.messages import get_messages
from django.test import RequestFactory

from relove.core.models import StaffTask
from relove.core.staff_tasks import Outcome, staff_task_run, staff_tasks_announce

pytestmark = pytest.mark.django_db


def _request(user):
    from django.contrib.messages.storage.fallback import FallbackStorage

    request = RequestFactory().get("/")
    request.user, request.session = user, {}
    request._messages = FallbackStorage(request)
    return request


def test_a_task_delivered_twice_does_its_work_once(superuser):
    row = StaffTask.objects.create(kind="x", requested_by=superuser)
    calls = []

    def work(task):
        calls.append(task.pk)
        return Outcome("готово", messages.SUCCESS, {"n": 1})

    assert staff_task_run(task_id=row.pk, work=work) == "done"
    assert staff_task_run(task_id=row.pk, work=work) is None
    row.refresh_from_db()
    assert calls == [row.pk] and (row.status, row.message, row.result) == ("done", "готово", {"n": 1})


def test_a_failure_is_stored_for_staff_and_not_retried(superuser):
    row = StaffTask.objects.create(kind="x", requested_by=superuser)

    def work(task):
        raise ConnectionError("member text must not leak")

    assert staff_task_run(task_id=row.pk, work=work) == "failed"
    row.refresh_from_db()
    assert row.level == messages.ERROR and "leak" not in row.message
    assert row.message == "Не получилось: нет связи с внешним сервисом — проверьте сеть сервера."


def test_outcomes_are_announced_once_to_their_own_staff_member(superuser):
    from testkit.factories import StaffFactory

    other = StaffFactory()
    mine = StaffTask.objects.create(kind="x", target="broadcast:1", requested_by=superuser, status="done",
                                    message="мой итог", level=messages.SUCCESS)
    StaffTask.objects.create(kind="x", target="broadcast:1", requested_by=other, status="done", message="чужой")
    StaffTask.objects.create(kind="x", target="broadcast:1", requested_by=superuser, status="queued", message="")
    request = _request(superuser)
    assert staff_tasks_announce(request=request, kinds=("x",), target="broadcast:1") == [mine]
    assert [str(m) for m in get_messages(request)] == ["мой итог"]
    assert staff_tasks_announce(request=_request(superuser), kinds=("x",), target="broadcast:1") == []
