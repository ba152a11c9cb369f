"""Webhook input limits and the bot token kept out of logs."""

import json
import logging

import pytest

from relove.core.log_redaction import RedactingFormatter

# The bot application handles updates in worker threads with their own connections.
pytestmark = pytest.mark.django_db(transaction=True)
URL = "/telegram/webhook/"


@pytest.fixture
def secret(settings, fake_telegram):
    settings.TELEGRAM_WEBHOOK_SECRET = "s3cret-token"
    return {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": "s3cret-token"}


@pytest.mark.parametrize("update_id", [True, False, -1, 2**63, 10**20, 1.5, "7", None])
def test_update_id_must_be_a_non_negative_64_bit_int(client, secret, update_id):
    body = json.dumps({"update_id": update_id})
    assert client.post(URL, body, content_type="application/json", **secret).status_code == 400


def test_deeply_nested_json_is_refused(client, secret):
    for depth in (40, 100_000):  # under and over Python's recursion limit
        body = '{"update_id": 1, "x": ' + "[" * depth + "]" * depth + "}"
        assert client.post(URL, body, content_type="application/json", **secret).status_code == 400


def test_the_largest_update_id_is_accepted(client, secret, fake_telegram):
    update = fake_telegram.message_update(4242, "/start")
    update["update_id"] = 2**63 - 1
    response = client.post(URL, json.dumps(update), content_type="application/json", **secret)
    assert response.status_code == 200


def test_a_rejected_bot_token_is_never_logged(client, settings, fake_telegram, caplog):
    settings.TELEGRAM_WEBHOOK_SECRET = "s3cret-token"
    settings.TELEGRAM_BOT_TOKEN = "987654321:AAHrejectedTokenThatTelegramDoesNotKnow1"  # the fake answers 401
    update = fake_telegram.message_update(4243, "/start")
    with caplog.at_level(logging.INFO):
        response = client.post(URL, json.dumps(update), content_type="application/json",
                               HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="s3cret-token")
    assert response.status_code == 503
    assert "AAHrejected" not in caplog.text
    assert "rejected TELEGRAM_BOT_TOKEN" in caplog.text


def test_the_log_formatter_redacts_tokens_in_messages_and_tracebacks(settings):
    settings.TELEGRAM_BOT_TOKEN = "123456:ABCdefGhIJKlmnoPQRstuVWXyz0123456789"
    try:
        raise RuntimeError(f"The token `{settings.TELEGRAM_BOT_TOKEN}` was rejected by the server.")
    except RuntimeError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "url %s", ("https://x/bot" + "42424242:"
                                   + "Z" * 35 + "/getMe",), exc_info=True)
        import sys

        record.exc_info = sys.exc_info()
    text = RedactingFormatter().format(record)
    assert "ABCdef" not in text and "Z" * 35 not in text and text.count("[redacted]") == 2
