"""The admin index is an operations dashboard: right numbers, each a link to the rows it counts."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from bot.models import CrisisAlert, OutboundMessage
from profiles.models import UserInteraction
from relove.core import liveness
from relove.core.dashboard import dashboard, metrics_of
from relove.core.models import Heartbeat
from testkit.factories import (
    BroadcastDeliveryFactory,
    BroadcastFactory,
    StaffFactory,
    TelegramUserFactory,
    TriggerFactory,
)

pytestmark = pytest.mark.django_db

# 14:00 Moscow: "today" began at 21:00 UTC the day before.
NOON = "2026-03-10 11:00:00+00:00"


@pytest.fixture(autouse=True)
def _no_heartbeats():
    Heartbeat.objects.all().delete()
    liveness.forget_throttle()
    yield
    liveness.forget_throttle()


def _world():
    now = timezone.now()
    day_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    members = [TelegramUserFactory(last_activity_at=now - timedelta(minutes=5)) for _ in range(2)]
    members.append(TelegramUserFactory(last_activity_at=day_start - timedelta(days=3)))
    members.append(TelegramUserFactory(last_activity_at=None))
    CrisisAlert.objects.create(user=members[0], status="new", acute=True)
    CrisisAlert.objects.create(user=members[1], status="in_progress")
    CrisisAlert.objects.create(user=members[2], status="resolved", acute=True)
    sending = BroadcastFactory(status="sending", started_at=now)
    for member, status in zip(members, ["sent", "sent", "failed", "pending"], strict=True):
        BroadcastDeliveryFactory(broadcast=sending, user=member, status=status)
    BroadcastFactory(status="scheduled", scheduled_at=now + timedelta(hours=2))
    BroadcastFactory(status="done")
    TriggerFactory(user=members[0], scheduled_for=now - timedelta(minutes=1))
    TriggerFactory(user=members[1], scheduled_for=now + timedelta(hours=3))
    TriggerFactory(user=members[1], status="failed", claimed_at=now - timedelta(hours=1))
    TriggerFactory(user=members[2], status="failed", claimed_at=day_start - timedelta(minutes=1))
    TriggerFactory(user=members[2], status="sent", claimed_at=now)
    OutboundMessage.objects.create(kind="staff_alert", chat_id=1, text="x", dedupe_key="a", status="failed")
    for source, minutes in [("llm", 5), ("llm", 30), ("template", 10), ("llm", 90), ("safety", 5)]:
        row = UserInteraction.objects.create(user=members[0], kind="message_out", metadata={"source": source})
        UserInteraction.objects.filter(pk=row.pk).update(created_at=now - timedelta(minutes=minutes))
    UserInteraction.objects.create(user=members[0], kind="message_in", metadata={"source": "llm"})
    return sending


EXPECTED = {
    "crisis.new": 1, "crisis.in_progress": 1, "crisis.acute": 1,
    "broadcasts.sending": 1, "broadcasts.scheduled": 1,
    "proactive.due": 1, "proactive.deferred": 1, "proactive.failed": 1, "outbound.failed": 1,
    "members.today": 2, "members.week": 3, "members.total": 4,
    "replies.llm": 2, "replies.template": 1,
}


@pytest.mark.clock(NOON)
def test_the_numbers_count_what_they_say(superuser):
    sending = _world()
    values = metrics_of(dashboard(superuser))
    assert {key: values[key] for key in EXPECTED} == EXPECTED
    assert (values[f"broadcast.{sending.pk}.sent"], values[f"broadcast.{sending.pk}.total"]) == (2, 4)


@pytest.mark.clock(NOON)
def test_every_number_links_to_a_list_of_exactly_those_rows(client, superuser):
    _world()
    client.force_login(superuser)
    for card in dashboard(superuser)["cards"]:
        for metric in card.metrics:
            response = client.get(metric.href)
            assert response.status_code == 200, metric.href  # an unknown filter would redirect (?e=1)
            assert response.context_data["cl"].result_count == metric.value, metric.key


@pytest.mark.clock(NOON)
def test_broadcast_progress_links_to_its_deliveries(client, superuser):
    sending = _world()
    client.force_login(superuser)
    row = next(card for card in dashboard(superuser)["cards"] if card.key == "broadcasts").rows[0]
    assert (row["title"], row["percent"], row["waiting"], row["failed"]) == (sending.title, 75, 1, 1)
    for href, expected in [(row["sent_href"], 2), (row["failed_href"], 1), (row["waiting_href"], 1)]:
        assert client.get(href).context_data["cl"].result_count == expected


def test_the_index_page_shows_the_cards_and_the_status_block(client, superuser):
    _world()
    Heartbeat.objects.create(name=liveness.BEAT, seen_at=timezone.now() - timedelta(hours=1))
    client.force_login(superuser)
    page = client.get(reverse("admin:index")).content.decode()
    assert 'id="ops-crisis"' in page and "ops-card-danger" in page
    assert 'data-metric="members.total"' in page and "Состояние системы" in page
    assert "Не работает: Расписание (Celery beat)" in page


def test_cards_follow_the_staff_members_view_permissions(client):
    _world()
    staff = StaffFactory(perms=["broadcasts.view_broadcast"])
    keys = [card.key for card in dashboard(staff)["cards"]]
    assert keys == ["broadcasts"]
    client.force_login(staff)
    data = client.get(reverse("admin-dashboard-data")).json()
    assert set(data["metrics"]) == {"broadcasts.sending", "broadcasts.scheduled"} | {
        key for key in data["metrics"] if key.startswith("broadcast.")}
    assert "crisis" not in data["html"] and "Состояние системы" in data["html"]


def test_a_staff_member_with_no_model_rights_gets_an_explanation(client):
    staff = StaffFactory()
    client.force_login(staff)
    page = client.get(reverse("admin:index")).content.decode()
    assert "Для вашей роли на обзоре нет разделов" in page


def test_the_live_endpoint_is_for_staff_only(client, member):
    response = client.get(reverse("admin-dashboard-data"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.clock(NOON)
def test_the_live_endpoint_reports_new_numbers(client, superuser):
    _world()
    client.force_login(superuser)
    before = client.get(reverse("admin-dashboard-data")).json()["metrics"]["crisis.new"]
    CrisisAlert.objects.create(user=TelegramUserFactory(), status="new")
    after = client.get(reverse("admin-dashboard-data")).json()
    assert (before, after["metrics"]["crisis.new"]) == (1, 2)
    assert 'data-metric="crisis.new"' in after["html"]


def test_the_query_count_does_not_grow_with_the_data(client, superuser, django_assert_max_num_queries):
    client.force_login(superuser)
    client.get(reverse("admin-dashboard-data"))  # warm per-process caches (sessions, content types)
    with django_assert_max_num_queries(14):
        client.get(reverse("admin-dashboard-data"))
    for _ in range(3):
        _world_many()
    with django_assert_max_num_queries(14):
        client.get(reverse("admin-dashboard-data"))


def _world_many():
    for _ in range(4):
        broadcast = BroadcastFactory(status="sending", started_at=timezone.now())
        BroadcastDeliveryFactory.create_batch(3, broadcast=broadcast)
    TriggerFactory.create_batch(3)


def test_a_sending_broadcast_without_a_worker_says_why_it_does_not_move(settings, superuser):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    BroadcastFactory(status="sending", started_at=timezone.now())
    Heartbeat.objects.create(name=liveness.WORKER, seen_at=timezone.now() - timedelta(hours=2))
    card = next(card for card in dashboard(superuser)["cards"] if card.key == "broadcasts")
    assert card.note == "Воркер не запущен — задача ждёт в очереди и выполнится, когда он запустится: " \
                        "рассылки не двигаются."
    assert card.tone == "danger"


def test_the_status_block_tells_alive_silent_failed_and_unknown_apart(settings, superuser):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.WORKER_SILENT_AFTER_SECONDS = 180
    now = timezone.now()
    Heartbeat.objects.create(name=liveness.WORKER, seen_at=now - timedelta(seconds=20))
    Heartbeat.objects.create(name=liveness.BEAT, seen_at=now - timedelta(minutes=15))
    Heartbeat.objects.create(name=liveness.LLM, seen_at=now, ok=False, detail="языковая модель не ответила вовремя")
    rows = {row["key"]: row for row in dashboard(superuser)["status"]}
    assert (rows["status.worker"]["tone"], rows["status.worker"]["text"]) == ("ok", "работает")
    assert (rows["status.beat"]["tone"], rows["status.beat"]["seen"]) == ("danger", "15 мин назад")
    llm = rows["status.llm"]
    assert (llm["tone"], llm["text"], llm["detail"]) == ("danger", "ошибка", "языковая модель не ответила вовремя")
    assert (rows["status.bot"]["tone"], rows["status.bot"]["text"]) == ("muted", "нет данных")
