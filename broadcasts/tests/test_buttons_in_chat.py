"""A quick reply under a broadcast is handled by the bot exactly like typed text."""

import pytest

from bot.models import UserSession
from bot.services.members import TelegramIdentity
from bot.services.orchestrator import Incoming, Kind, handle
from bot.services.sessions import session_history
from broadcasts.rendering import button_callback
from profiles.models import UserInteraction
from testkit.factories import BroadcastFactory

pytestmark = pytest.mark.django_db


def test_pressing_a_broadcast_quick_reply_continues_the_conversation():
    identity = TelegramIdentity(telegram_id=808)
    handle(Incoming(identity, Kind.COMMAND, command="start"))
    handle(Incoming(identity, Kind.CALLBACK, callback_data="c:y"))
    broadcast = BroadcastFactory(buttons=[{"text": "Хочу в поток", "reply": "Расскажи про новый поток"},
                                          {"text": "Сайт", "url": "https://relove.ru"}])

    out = handle(Incoming(identity, Kind.CALLBACK, callback_data=button_callback(broadcast.pk, 0)))

    assert out and out[0].text
    session = UserSession.objects.get(user__telegram_id=808, status="active")
    assert [t["content"] for t in session_history(session) if t["role"] == "user"][-1] == \
        "Расскажи про новый поток"
    assert UserInteraction.objects.filter(kind="broadcast_clicked", metadata__broadcast_id=broadcast.pk).exists()
    # A URL button or a stale index is not a quick reply.
    assert "не работает" in handle(Incoming(identity, Kind.CALLBACK,
                                            callback_data=button_callback(broadcast.pk, 1)))[0].text
