"""Test sends go only to a Telegram id the staff member proved with a code sent from the bot."""

import re

import pytest
from django.urls import reverse

from bot.services.members import TelegramIdentity
from bot.services.orchestrator import Incoming, Kind, handle
from broadcasts.models import StaffTelegramAccount
from broadcasts.services.compose import BroadcastError, broadcast_create, broadcast_test_send
from testkit.factories import StaffFactory, StaffTelegramAccountFactory

pytestmark = pytest.mark.django_db


def send_to_bot(telegram_id, text):
    return handle(Incoming(TelegramIdentity(telegram_id=telegram_id), Kind.COMMAND, text=text,
                           command=text[1:].split()[0]))


def test_staff_link_their_telegram_with_a_code_from_the_admin(client):
    staff = StaffFactory(roles=["Рассылки"])
    client.force_login(staff)
    page = client.get(reverse("admin:broadcasts_staff_link")).content.decode()
    code = re.search(r"/staff ([A-Z0-9]{8})", page).group(1)

    assert "не подошёл" in send_to_bot(5555, "/staff WRONGCODE")[0].text
    assert "Готово" in send_to_bot(7777, f"/staff {code}")[0].text
    account = StaffTelegramAccount.objects.get(user=staff)
    assert account.telegram_id == 7777 and account.verified_at is not None
    assert "не подошёл" in send_to_bot(8888, f"/staff {code}")[0].text  # single use
    assert StaffTelegramAccount.objects.get(user=staff).telegram_id == 7777


def test_test_send_refuses_an_unverified_id(fake_telegram):
    staff = StaffFactory()
    StaffTelegramAccountFactory(user=staff, telegram_id=4321, verified_at=None)  # typed, never proven
    broadcast = broadcast_create(title="Тест", text="Привет")
    with pytest.raises(BroadcastError):
        broadcast_test_send(broadcast=broadcast, staff_user=staff)
    assert fake_telegram.sent_messages(4321) == []
