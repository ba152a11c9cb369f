"""`manage.py runbot` tells the operator why Telegram refused, in Russian, never quoting the token."""

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_a_rejected_token_is_named_without_quoting_it(settings, fake_telegram):
    settings.TELEGRAM_BOT_TOKEN = "987654321:AAHrejectedTokenThatTelegramDoesNotKnow1"  # the fake answers 401
    settings.TELEGRAM_WEBHOOK_URL = "https://bot.example/telegram/webhook/"
    settings.TELEGRAM_WEBHOOK_SECRET = "s3cret-token"
    with pytest.raises(CommandError) as caught:
        call_command("runbot", "--webhook")
    assert str(caught.value) == "Telegram не принял TELEGRAM_BOT_TOKEN — токен неверный или отозван в @BotFather"
