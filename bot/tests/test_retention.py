"""Conversation text past CONVERSATION_RETENTION_DAYS is summarised into its session and removed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from bot.models import ConversationTurn
from bot.services.sessions import conversations_apply_retention, session_history
from bot.tasks import apply_conversation_retention
from testkit.factories import UserSessionFactory

pytestmark = pytest.mark.django_db


def test_old_turns_are_folded_into_the_summary_and_deleted_new_ones_stay(settings):
    settings.CONVERSATION_RETENTION_DAYS = 30
    session = UserSessionFactory(turns=[{"role": "user", "content": "боюсь высоты с детства"},
                                        {"role": "assistant", "content": "Что для тебя высота?"},
                                        {"role": "user", "content": "сегодня я поднялась на крышу с друзьями"}])
    now = timezone.now()
    old = ConversationTurn.objects.filter(session=session, position__in=[0, 1])
    old.update(created_at=now - timedelta(days=31))

    assert conversations_apply_retention(now=now) == {"sessions": 1, "turns_removed": 2}
    session.refresh_from_db()
    assert [t["content"] for t in session_history(session)] == ["сегодня я поднялась на крышу с друзьями"]
    assert "боюсь высоты с детства" in session.summary and "Что для тебя высота?" not in session.summary
    assert conversations_apply_retention(now=now) == {"sessions": 0, "turns_removed": 0}  # idempotent


def test_the_daily_task_runs_the_same_service(settings):
    settings.CONVERSATION_RETENTION_DAYS = 1
    session = UserSessionFactory(turns=[{"role": "user", "content": "старое"}])
    ConversationTurn.objects.filter(session=session).update(created_at=timezone.now() - timedelta(days=2))
    assert apply_conversation_retention.delay().get() == {"sessions": 1, "turns_removed": 1}
    assert not ConversationTurn.objects.filter(session=session).exists()
