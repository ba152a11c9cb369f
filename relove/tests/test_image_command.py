"""The production image's own command starts, serves /healthz and handles webhook updates."""

import json

import pytest
from django.conf import settings
from django.db import connection

from testkit.image_server import ImageServer, image_command

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "image-secret"


def image_env(fake_telegram, fake_llm) -> dict[str, str]:
    from testkit.image_server import database_url

    env = {
        "DATABASE_URL": database_url(connection.settings_dict),
        "SECRET_KEY": "image-test-secret-key-" + "x" * 40,
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "TELEGRAM_BOT_TOKEN": fake_telegram.token,
        "TELEGRAM_API_BASE_URL": fake_telegram.base_url,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": fake_llm.base_url,
        "JOURNEY_ANALYSIS_ENABLED": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    if settings.CACHES["default"]["BACKEND"].startswith("django_redis"):
        env["REDIS_URL"] = settings.CACHES["default"]["LOCATION"]
    return env


def post_update(server: ImageServer, update: dict) -> int:
    return server.request("/telegram/webhook/", data=json.dumps(update).encode(),
                          headers={"Content-Type": "application/json",
                                   "X-Telegram-Bot-Api-Secret-Token": SECRET})[0]


def test_the_dockerfile_command_is_uvicorn_with_several_workers():
    command = image_command()
    assert command[:2] == ["uvicorn", "relove.asgi:application"]
    assert int(command[command.index("--workers") + 1]) >= 2


def test_the_image_command_starts_and_handles_a_webhook_update(fake_telegram, fake_llm):
    with ImageServer(image_env(fake_telegram, fake_llm)) as server:
        status, body = server.request("/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert post_update(server, fake_telegram.message_update(5151, "/start")) == 200
        greeting = fake_telegram.wait_for_messages(1, chat_id=5151, timeout=20)
    assert greeting[0]["text"].startswith("Привет")


def test_the_image_command_refuses_to_start_with_a_wrong_key(fake_telegram, fake_llm):
    from cryptography.fernet import Fernet

    env = image_env(fake_telegram, fake_llm)
    env["FIELD_ENCRYPTION_KEY"] = Fernet.generate_key().decode()  # cannot read the canary
    server = ImageServer(env).start()
    try:
        # Each worker dies at import (uvicorn's supervisor may start it again): nothing serves.
        assert server.wait_for_output("FIELD_ENCRYPTION_KEY cannot decrypt"), server.output
        try:
            status = server.request("/healthz", timeout=3)[0]
        except OSError:
            status = None
        assert status != 200
    finally:
        server.stop()
