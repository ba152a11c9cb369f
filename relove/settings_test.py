"""Test settings: the same settings module with test-only overrides.

Runs on PostgreSQL + Redis when DATABASE_URL / REDIS_URL are set (CI does), else on
SQLite + local memory. The LLM and Telegram are replaced by loopback fake servers that the
tests start themselves.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
# A fixed key so runs are reproducible; never used outside tests.
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=")
for _name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "LLM_PROVIDER",
              "LLM_STRUCTURED_OUTPUT", "LLM_MODEL", "LLM_ANALYSIS_MODEL", "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_URL",
              "TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_STAFF_CHAT_ID"):
    os.environ.pop(_name, None)

# Under ``pytest -n N`` each worker gets its own Redis database (tests clear the cache) and its
# own archive folder; pytest-django already gives each its own test database.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER.startswith("gw") and os.environ.get("REDIS_URL"):
    from urllib.parse import urlsplit, urlunsplit

    _url = urlsplit(os.environ["REDIS_URL"])
    _db = (int(_url.path.strip("/") or 0) - int(_WORKER[2:])) % 16
    os.environ["REDIS_URL"] = urlunsplit(_url._replace(path=f"/{_db}"))

from .settings import *  # noqa: F403
from .settings import BASE_DIR, DATABASES

DEBUG = False
# The test client speaks plain http: production's HTTPS-only switches stay off in tests.
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CELERY_TASK_ALWAYS_EAGER = True
# Heartbeats noted inside event loops (Bot API answers, async LLM calls) are written from a pool
# thread; in tests that thread would write outside the test's transaction and, on SQLite's shared
# in-memory database, lock tables under the test itself. Tests of those heartbeats turn it on.
HEARTBEATS_FROM_EVENT_LOOPS = False
ARCHIVE_DIR = str(BASE_DIR / "var" / f"test-archive{_WORKER}")
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
