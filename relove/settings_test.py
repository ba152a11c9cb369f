"""Test settings: the same settings module with test-only overrides.

Runs on PostgreSQL + Redis when DATABASE_URL / REDIS_URL are set (CI does), else on
SQLite + local memory. The LLM and Telegram are replaced by loopback fake servers that the
tests start themselves.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
# A fixed key so runs are reproducible; never used outside tests.
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=")
for _name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_URL",
              "TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_STAFF_CHAT_ID"):
    os.environ.pop(_name, None)

from .settings import *  # noqa: F403
from .settings import BASE_DIR, DATABASES

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CELERY_TASK_ALWAYS_EAGER = True
ARCHIVE_DIR = str(BASE_DIR / "var" / "test-archive")
LLM_TOTAL_BUDGET = 3.0
PROFILE_ROTATION_PAUSE_SECONDS = 0
LLM_TIMEOUT = 2.0
# Tests roll back rows without signals; the shared version (cleared per test) is checked on every read.
PROCESS_CACHE_CHECK_SECONDS = 0
# TEST_DB_SUFFIX lets several test runs share one server (one developer per suffix).
_suffix = os.environ.get("TEST_DB_SUFFIX", "")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test{_suffix}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_relove{_suffix}"}
