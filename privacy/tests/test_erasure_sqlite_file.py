"""Erasure on the embedded SQLite file: the member's bytes are gone from the file and its WAL.

Runs a real product process on a fresh SQLite file (migrate, then a script), because the
test database is PostgreSQL in CI. SQLite keeps deleted rows in free pages unless
``secure_delete`` is on; the product turns it on and checkpoints the WAL after an erasure.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import django, json, sys
django.setup()
from django.db import connection
from bot.models import CrisisAlert
from privacy.erasure import member_erase
from profiles.models import TelegramUser, UserActivityLog

member = TelegramUser.objects.create(telegram_id=987654321, username="sqlite_secret_user",
                                     first_name="Секретина", last_summary="тайное резюме")
other = TelegramUser.objects.create(telegram_id=111, username="someone_else")
for i in range(200):
    UserActivityLog.objects.create(user=member, kind="message_in", content=f"мой секрет {i}")
CrisisAlert.objects.create(user=member, excerpt="кризисный текст")
with connection.cursor() as cursor:
    cursor.execute("SELECT content FROM profiles_useractivitylog LIMIT 1")
    ciphertext = cursor.fetchone()[0]
    cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(json.dumps({"ciphertext": ciphertext}))
sys.stdout.flush()
if sys.argv[1] == "erase-insecure":  # control: what erasure would leave without secure_delete
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA secure_delete=OFF")
if sys.argv[1].startswith("erase"):
    member_erase(user=member)
"""


def _run(tmp_path, mode):
    db = tmp_path / mode / "db.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update({"DATABASE_URL": f"sqlite:///{db}", "DJANGO_SETTINGS_MODULE": "relove.settings",
                "SECRET_KEY": "ci-only-Kq8vZ2pLx7Rt4Wn9Yb3Jd6Hf1Ms5Gc0Ua2Ee8Oi4Ty7Rw",
                "FIELD_ENCRYPTION_KEY": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
                "ARCHIVE_DIR": str(tmp_path / mode / "archive")})
    for args in (["manage.py", "migrate", "--noinput", "-v0"], ["-c", SCRIPT, mode]):
        out = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                             check=False)
        assert out.returncode == 0, out.stderr
    import json

    ciphertext = json.loads(out.stdout.strip().splitlines()[-1])["ciphertext"]
    data = b"".join(p.read_bytes() for p in db.parent.glob("db.sqlite3*"))
    return data, ciphertext.encode()


def test_erased_member_leaves_no_bytes_in_the_sqlite_file(tmp_path):
    kept, kept_cipher = _run(tmp_path, "keep")  # control: without erasure the bytes are there
    assert b"sqlite_secret_user" in kept and kept_cipher in kept
    # Control: deleting without secure_delete leaves the rows in free pages (this test can fail).
    insecure, insecure_cipher = _run(tmp_path, "erase-insecure")
    assert b"sqlite_secret_user" in insecure or insecure_cipher in insecure
    erased, cipher = _run(tmp_path, "erase")
    for needle in (b"sqlite_secret_user", "Секретина".encode(), cipher):
        assert needle not in erased
    assert b"someone_else" in erased
