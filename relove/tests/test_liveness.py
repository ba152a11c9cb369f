"""Heartbeats: the worker and beat report themselves; /healthz and staff pages judge their age."""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from relove.core import health, liveness
from relove.core.models import Heartbeat

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttle():
    # Heartbeats written by other tests' clients from their own threads were committed outside
    # those tests' transactions: start from none.
    Heartbeat.objects.all().delete()
    liveness.forget_throttle()
    yield
    liveness.forget_throttle()


def test_record_is_throttled_per_process_but_a_change_of_state_is_written_at_once(settings):
    settings.HEARTBEAT_SECONDS = 3600
    assert liveness.record(liveness.LLM, detail="ok")
    assert not liveness.record(liveness.LLM)  # within the interval: no write
    assert liveness.record(liveness.LLM, ok=False, detail="timeout")  # state changed: written
    row = Heartbeat.objects.get(name=liveness.LLM)
    assert (row.ok, row.detail) == (False, "timeout")


def test_snapshot_judges_worker_and_beat_by_age(settings):
    settings.WORKER_SILENT_AFTER_SECONDS = 180
    now = timezone.now()
    Heartbeat.objects.create(name=liveness.WORKER, seen_at=now - timedelta(seconds=30))
    Heartbeat.objects.create(name=liveness.BEAT, seen_at=now - timedelta(seconds=600))
    states = liveness.snapshot()
    assert states[liveness.WORKER].alive is True
    assert states[liveness.BEAT].alive is False
    assert states[liveness.BOT].alive is None and states[liveness.BOT].seen_at is None


@pytest.mark.django_db(transaction=True)
def test_the_worker_heartbeat_thread_writes_until_stopped(settings):
    settings.HEARTBEAT_SECONDS = 0.05
    stop = threading.Event()
    thread = liveness.start_worker_heartbeat(stop)
    try:
        for _ in range(200):
            if Heartbeat.objects.filter(name=liveness.WORKER).exists():
                break
            stop.wait(0.05)
        first = Heartbeat.objects.get(name=liveness.WORKER).seen_at
        for _ in range(200):
            if Heartbeat.objects.get(name=liveness.WORKER).seen_at > first:
                break
            stop.wait(0.05)
        assert Heartbeat.objects.get(name=liveness.WORKER).seen_at > first
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


@pytest.mark.django_db(transaction=True)
def test_each_beat_tick_is_a_heartbeat():
    from relove.celery import app
    from relove.core.beat import HeartbeatScheduler

    scheduler = HeartbeatScheduler(app=app, lazy=True)
    scheduler.tick()
    assert Heartbeat.objects.get(name=liveness.BEAT).seen_at > timezone.now() - timedelta(seconds=10)


@pytest.fixture
def with_worker(settings):
    """A setup where tasks go to a worker (not eager), as in production."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.WORKER_SILENT_AFTER_SECONDS = 120


def test_healthz_is_503_when_the_worker_has_been_silent_too_long(client, with_worker):
    now = timezone.now()
    Heartbeat.objects.create(name=liveness.WORKER, seen_at=now - timedelta(seconds=500))
    Heartbeat.objects.create(name=liveness.BEAT, seen_at=now)
    body = client.get("/healthz")
    assert body.status_code == 503
    checks = body.json()["checks"]
    assert checks["worker"]["ok"] is False and checks["worker"]["error"].startswith("silent for 50")
    assert checks["beat"]["ok"] is True and checks["database"]["ok"] is True
    # The container health check asks only for the web process's own dependencies.
    assert client.get("/healthz?scope=web").status_code == 200


def test_healthz_is_200_when_worker_and_beat_report(client, with_worker):
    for name in (liveness.WORKER, liveness.BEAT):
        Heartbeat.objects.create(name=name, seen_at=timezone.now())
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["worker"]["ok"] is True


def test_a_worker_never_seen_is_down_only_after_the_start_grace(client, with_worker, monkeypatch):
    assert client.get("/healthz").json()["checks"]["worker"] == {"ok": True, "starting": True}
    monkeypatch.setattr(health, "_STARTED", health._STARTED - 10_000)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == {"ok": False, "error": "never seen"}
