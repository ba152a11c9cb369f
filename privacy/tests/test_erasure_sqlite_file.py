"""Erasure on the embedded SQLite file: nothing of the member in the file or its WAL.

Runs a real product process on a fresh SQLite file (migrate, then a script), because the
test database is PostgreSQL in CI. Identity and text are encrypted before they reach the file
(so the Telegram id, names and words are never there in clear), and SQLite keeps deleted rows
in free pages unless ``secure_delete`` is on: the product turns it on and checkpoints the WAL
after an erasure, so even the member's ciphertext is gone.
"""

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TELEGRAM_ID = 7_512_345_678
USERNAME, FIRST, LAST = "sqlite_secret_user", "Секретина", "Тайнова"
MARKER = "ПРИЗНАНИЕ-sqlite-7f3a"
CONTROL = "контроль-открытого-текста"

SCRIPT = r"""
import django, json, sys, tempfile
from pathlib import Path
django.setup()
from django.conf import settings
from django.db import connection
from privacy.erasure import member_erase
from privacy.tests.test_erasure import _fill_every_store
from profiles.models import MemberTag
from testkit import factories as f

tid, username, first, last, marker, control = sys.argv[2:8]
member = f.TelegramUserFactory(telegram_id=int(tid), username=username, first_name=first, last_name=last)
_fill_every_store(member, settings, Path(tempfile.mkdtemp()), secret=marker)
MemberTag.objects.create(name=control)  # control: a clear value is found in the file
with connection.cursor() as cursor:
    cursor.execute("SELECT telegram_id FROM profiles_telegramuser WHERE id = %s", [member.pk])
    ciphertext = cursor.fetchone()[0]
    cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
db = Path(settings.DATABASES["default"]["NAME"])
snapshot = b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))
(db.parent / "before-erasure.bin").write_bytes(snapshot)
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
    args = [str(TELEGRAM_ID), USERNAME, FIRST, LAST, MARKER, CONTROL]
    for cmd in (["manage.py", "migrate", "--noinput", "-v0"], ["-c", SCRIPT, mode, *args]):
        out = subprocess.run([sys.executable, *cmd], cwd=ROOT, env=env, capture_output=True, text=True,
                             check=False)
        assert out.returncode == 0, out.stderr
    ciphertext = json.loads(out.stdout.strip().splitlines()[-1])["ciphertext"]
    data = b"".join(p.read_bytes() for p in db.parent.glob("db.sqlite3*"))  # the file, its WAL and SHM
    return (db.parent / "before-erasure.bin").read_bytes(), data, ciphertext.encode()


NEEDLES = {
    "telegram id (decimal)": str(TELEGRAM_ID).encode(),
    "telegram id (SQLite 6-byte integer)": struct.pack(">q", TELEGRAM_ID)[2:],
    "telegram id (int8 little-endian)": struct.pack("<q", TELEGRAM_ID),
    "username": USERNAME.encode(), "first name": FIRST.encode(), "last name": LAST.encode(),
    "text marker": MARKER.encode(),
}


def _found(data: bytes) -> list[str]:
    return [label for label, needle in NEEDLES.items() if needle in data]


def test_erased_member_leaves_no_bytes_in_the_sqlite_file(tmp_path):
    before, erased, cipher = _run(tmp_path, "erase")
    # Controls (this test can fail): before the erasure the row's bytes and a clear value are there.
    assert cipher in before and CONTROL.encode() in before
    assert _found(before) == []  # encrypted at rest: never in clear, even while the member lives
    # Control: deleting without secure_delete leaves the rows in free pages.
    _, insecure, insecure_cipher = _run(tmp_path, "erase-insecure")
    assert insecure_cipher in insecure
    assert _found(erased) == []
    assert cipher not in erased  # secure_delete: not even the ciphertext survives
    assert CONTROL.encode() in erased  # other data stays
