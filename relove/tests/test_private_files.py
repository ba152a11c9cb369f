"""At rest: var/ is 0700, the SQLite file and its WAL/SHM 0600, the admin password file 0600
from creation and gone after the first login."""

import io
import stat

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from relove.core.private_files import private_dir, private_file


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_var_is_private_after_startup():
    assert mode(django_settings.VAR_DIR) == 0o700


def test_sqlite_file_and_companions_are_private(tmp_path):
    import sqlite3

    folder = private_dir(tmp_path / "var")
    db = private_file(folder / "relove.sqlite3")
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE t (x)")
    connection.execute("INSERT INTO t VALUES ('секрет')")
    connection.commit()
    for suffix in ("", "-wal", "-shm"):
        assert mode(db.with_name(db.name + suffix)) == 0o600, suffix
    connection.close()
    db.chmod(0o644)
    private_file(db)  # an existing world-readable file is tightened at startup
    assert mode(db) == 0o600 and mode(folder) == 0o700


@pytest.mark.django_db
def test_admin_password_file_is_private_and_removed_after_first_login(settings, tmp_path, client):
    settings.VAR_DIR = tmp_path
    call_command("ensure_admin", username="boss", stdout=io.StringIO())
    path = tmp_path / "admin-password.txt"
    assert mode(path) == 0o600
    username, password = path.read_text().split()
    assert client.post("/admin/login/", {"username": username, "password": password}).status_code == 302
    assert not path.exists()
