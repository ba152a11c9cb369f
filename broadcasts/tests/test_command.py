"""``manage.py send_broadcast``: in-process, and as real processes killed with SIGKILL."""

import os
import signal
import subprocess
import sys
from collections import Counter
from io import StringIO
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection

from broadcasts.models import Broadcast, BroadcastDelivery
from broadcasts.services import broadcast_create
from testkit.factories import TelegramUserFactory
from testkit.fake_telegram import FakeTelegram

D = BroadcastDelivery.Status


@pytest.mark.django_db
def test_the_command_starts_a_draft_sends_it_and_a_rerun_sends_nothing_new(fake_telegram):
    members = TelegramUserFactory.create_batch(5)
    broadcast = broadcast_create(title="Поток", text="Привет")
    out = StringIO()
    call_command("send_broadcast", str(broadcast.pk), "--no-progress", stdout=out)
    assert "sent 5" in out.getvalue()
    assert Counter(m["chat_id"] for m in fake_telegram.sent_messages()) == {m.telegram_id: 1 for m in members}

    out = StringIO()
    call_command("send_broadcast", str(broadcast.pk), "--no-progress", stdout=out)
    assert "this run sent 0" in out.getvalue()
    assert len(fake_telegram.sent_messages()) == 5
    with pytest.raises(CommandError):
        call_command("send_broadcast", "999999", "--no-progress")


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _worker(broadcast_id: int, fake: FakeTelegram, *extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "relove.settings",
        "DATABASE_URL": _database_url(),  # the test database, committed data (transactional test)
        "REDIS_URL": django_settings.REDIS_URL,
        "SECRET_KEY": "test-only",
        "FIELD_ENCRYPTION_KEY": ",".join(django_settings.FIELD_ENCRYPTION_KEYS),
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_GLOBAL_RATE": "25",
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "manage.py", "send_broadcast", str(broadcast_id), "--no-progress", *extra]
    return subprocess.Popen(command, cwd=django_settings.BASE_DIR, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_broadcast_loses_nothing_and_sends_nobody_anything_twice():
    members = TelegramUserFactory.create_batch(60)
    broadcast = broadcast_create(title="Поток", text="<b>Старт</b> в понедельник")
    with FakeTelegram() as fake:
        first = _worker(broadcast.pk, fake)
        try:
            fake.wait_for_messages(15, timeout=30)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        killed_after = len(fake.sent_messages())
        assert killed_after < 60
        assert BroadcastDelivery.objects.filter(broadcast=broadcast, status=D.SENDING).exists()  # claimed, fate unknown

        # The restart recovers the dead worker's claimed rows as "unknown" and sends the rest.
        second = _worker(broadcast.pk, fake, "--recover-stuck-after", "0")
        output, _ = second.communicate(timeout=60)
        assert second.returncode == 0, output

        per_chat = Counter(m["chat_id"] for m in fake.sent_messages())
        assert max(per_chat.values()) == 1
        rows = {r.user.telegram_id: r.status for r in BroadcastDelivery.objects.filter(broadcast=broadcast)
                .select_related("user")}
        assert set(rows.values()) <= {D.SENT, D.UNKNOWN}
        assert {chat for chat, status in rows.items() if status == D.SENT} <= set(per_chat)
        assert set(per_chat) <= set(rows)
        unknown = [chat for chat, status in rows.items() if status == D.UNKNOWN]
        assert 0 < len(unknown) <= 16 + 8  # at most one claimed batch plus the requests in flight
        assert len(per_chat) >= 60 - len(unknown)
        assert Broadcast.objects.get(pk=broadcast.pk).status == Broadcast.Status.DONE
        assert {m.telegram_id for m in members} == set(rows)
