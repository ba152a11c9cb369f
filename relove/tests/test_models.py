from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction

from bot.models import MessageTemplate, PersonaPrompt, UserSession
from journeys.models import JourneyStage
from testkit.factories import (
    BroadcastDeliveryFactory,
    DailySlotFactory,
    TelegramUserFactory,
    TriggerFactory,
    UserSessionFactory,
)
from triggers.models import ProactivityConfig

SPEC_STAGE_NAMES = [
    "Обычный мир", "Зов к приключениям", "Отказ от зова", "Встреча с наставником",
    "Преодоление первого порога", "Испытания, союзники, враги", "Приближение к сокровенной пещере",
    "Главное испытание", "Награда", "Обратный путь", "Воскресение", "Возвращение с эликсиром",
]


@pytest.mark.django_db
def test_data_migrations_create_twelve_stages_and_one_config():
    assert list(JourneyStage.objects.values_list("name", flat=True)) == SPEC_STAGE_NAMES
    assert all(len(s.quick_replies) >= 2 and s.style_prompt for s in JourneyStage.objects.all())
    config = ProactivityConfig.objects.get()
    assert (config.pk, config.max_per_day, str(config.window_start), str(config.window_end)) == (
        1, 2, "08:00:00", "22:00:00")
    assert config.default_timezone == "Europe/Moscow"
    assert config.inactivity_after.total_seconds() == 24 * 3600
    assert PersonaPrompt.objects.filter(key="persona").exists()
    assert MessageTemplate.objects.filter(key="crisis_support").exists()


@pytest.mark.django_db
def test_config_is_a_singleton():
    ProactivityConfig(max_per_day=3).save()  # save() pins pk=1: an update, not a second row
    assert ProactivityConfig.objects.count() == 1
    assert ProactivityConfig.load().max_per_day == 3


@pytest.mark.django_db
def test_daily_cap_is_enforced_by_the_database():
    member = TelegramUserFactory()
    day = date(2026, 11, 25)
    DailySlotFactory(user=member, local_date=day, slot=1)
    DailySlotFactory(user=member, local_date=day, slot=2, source="broadcast")
    with pytest.raises(IntegrityError), transaction.atomic():
        DailySlotFactory(user=member, local_date=day, slot=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        DailySlotFactory(user=member, local_date=day, slot=11)  # outside 1..10
    DailySlotFactory(user=member, local_date=date(2026, 11, 26), slot=1)


@pytest.mark.django_db
def test_one_open_trigger_per_reason():
    member = TelegramUserFactory()
    TriggerFactory(user=member, dedupe_key="inactivity:2026-11-25")
    with pytest.raises(IntegrityError), transaction.atomic():
        TriggerFactory(user=member, dedupe_key="inactivity:2026-11-25")
    # Once the first is final, the same reason may open again.
    TriggerFactory(user=member, dedupe_key="inactivity:2026-11-24", status="sent")
    TriggerFactory(user=member, dedupe_key="inactivity:2026-11-24")


@pytest.mark.django_db
def test_broadcast_delivery_unique_per_member():
    delivery = BroadcastDeliveryFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        BroadcastDeliveryFactory(broadcast=delivery.broadcast, user=delivery.user)


@pytest.mark.django_db
def test_one_active_session_per_member():
    session = UserSessionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        UserSessionFactory(user=session.user)
    UserSession.objects.filter(pk=session.pk).update(status="ended")
    UserSessionFactory(user=session.user)


@pytest.mark.django_db
def test_database_backend_matches_environment():
    """CI sets DATABASE_URL to PostgreSQL; the suite must really run there."""
    import os

    expected = "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    assert connection.vendor == expected
