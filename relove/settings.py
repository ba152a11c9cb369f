"""Settings for the reLove Communication Bot.

Everything comes from the environment (django-environ, optional ``.env`` in the project
root). With nothing set the product runs on an *embedded default*: a SQLite file, the
local-memory cache, a filesystem Celery broker (no server) and templates instead of the
LLM. Production differs only by its environment.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from relove.core.private_files import private_dir, private_file, write_private

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Embedded mode: no DATABASE_URL, so this is one machine running on a SQLite file.
EMBEDDED = not env("DATABASE_URL", default="")
if EMBEDDED or VAR_DIR.exists():
    private_dir(VAR_DIR)  # secrets, the SQLite file, archives, the broker's queue: owner only


def _local_secret(name: str, make) -> str:
    """Embedded mode only: a secret generated once and kept in var/ (mode 0600).

    Production (DATABASE_URL set) never gets here: a missing secret there is an error.
    """
    path = VAR_DIR / name
    if not path.exists():
        write_private(path, make())
    return path.read_text().strip()


def _required(name: str, make) -> str:
    value = env(name, default="")
    if value:
        return value
    if EMBEDDED:
        return _local_secret(name.lower(), make)
    raise ImproperlyConfigured(f"{name} must be set when DATABASE_URL is set (see .env.example).")


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = _required("SECRET_KEY", lambda: secrets.token_urlsafe(50))
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # django-unfold restyles the admin and replaces admin.site; it must come before contrib.admin.
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.simple_history",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "simple_history",
    "relove.core",
    "profiles",
    "journeys",
    "bot",
    "triggers",
    "broadcasts",
    "analytics",
    "privacy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "privacy.middleware.AbsoluteSessionLifetimeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "relove.core.admin_time.AdminTimeZoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # A failing admin POST says why in Russian on the page staff came from (relove.core.staff_errors).
    "relove.core.middleware.StaffErrorMiddleware",
    # Last, as django-axes requires: turns a locked-out login into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "relove.urls"
WSGI_APPLICATION = "relove.wsgi.application"
ASGI_APPLICATION = "relove.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
# SQLite runs in WAL mode with a busy timeout and IMMEDIATE transactions so that the web,
# bot and worker processes can share one file without "database is locked".
SQLITE_PATH = VAR_DIR / "relove.sqlite3"
# An empty DATABASE_URL (e.g. copied blank from .env.example) means "not set".
DATABASES = {"default": environ.Env.db_url_config(env("DATABASE_URL", default="") or f"sqlite:///{SQLITE_PATH}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Session keys, refresh tokens and member rows: the file (and its WAL/SHM) is 0600.
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        private_file(Path(DATABASES["default"]["NAME"]))
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            # secure_delete: erased rows are overwritten in the file, not left in free pages.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON;",
        }
    )
    # Persistent per thread: opening the file and running the PRAGMAs again for every database
    # part of every turn cost the bot more than the turn's own queries.
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASE_POOL_MAX_SIZE = 0
elif env.bool("DATABASE_POOL", default=True):
    # Django's psycopg pool: a connection is borrowed per unit of work and given back, so the
    # bot's database threads (BOT_DB_THREADS) share at most DATABASE_POOL_MAX_SIZE connections
    # per process. Pooling replaces persistent connections (CONN_MAX_AGE must be 0).
    DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=16)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A connection is checked before it is lent (after a database restart or a network blip the
    # pooled connections are dead, and a turn must not fail on the first query), unless it was
    # given back less than DATABASE_POOL_CHECK_IDLE_SECONDS ago: relove/db/postgresql/base.py
    # runs that check instead of Django's, which costs a round trip on every loan.
    DATABASES["default"]["ENGINE"] = "relove.db.postgresql"
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2), "max_size": DATABASE_POOL_MAX_SIZE,
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=30.0)}
else:
    DATABASE_POOL_MAX_SIZE = 0
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DATABASE_POOL_CHECK_IDLE_SECONDS = env.float("DATABASE_POOL_CHECK_IDLE_SECONDS", default=1.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery -------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="relove"),
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        }
    }
    CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # No broker server: kombu's filesystem transport lets a local worker and beat share
    # a queue through files under var/celery.
    CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
    _queue_dir = VAR_DIR / "celery" / "queue"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The database scheduler, noting each tick as beat's heartbeat (relove.core.liveness).
CELERY_BEAT_SCHEDULER = "relove.core.beat:HeartbeatScheduler"
# Worker, beat and bot write a heartbeat this often; the worker or beat silent for longer than
# WORKER_SILENT_AFTER_SECONDS counts as down (dashboard in red, /healthz 503).
HEARTBEAT_SECONDS = env.int("HEARTBEAT_SECONDS", default=30)
WORKER_SILENT_AFTER_SECONDS = env.int("WORKER_SILENT_AFTER_SECONDS", default=180)
# Event-loop code (the bot, async LLM calls) writes its heartbeats from a pool thread (off in tests).
HEARTBEATS_FROM_EVENT_LOOPS = True
# The admin index (operations dashboard) re-reads its numbers this often; 0 turns it off.
DASHBOARD_REFRESH_SECONDS = env.int("DASHBOARD_REFRESH_SECONDS", default=20)
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Auth, i18n --------------------------------------------------------------------------
# django-axes first: failed logins on the admin and the token endpoint are counted and a
# username+address pair is locked out after AXES_FAILURE_LIMIT failures (staff unlock it in
# admin → «Axes» → «Попытки доступа», or it expires after AXES_COOLOFF_MINUTES).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "privacy.auth.lockout_response"
# Behind the TLS proxy the client address is the last X-Forwarded-For hop it added.
AXES_IPWARE_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else [
    "REMOTE_ADDR"]
# Staff holding a personal-data permission must pass TOTP (django-otp) for it to count.
STAFF_2FA_REQUIRED = env.bool("STAFF_2FA_REQUIRED", default=False)
OTP_TOTP_ISSUER = "reLove"
ADMIN_SESSION_MAX_HOURS = env.float("ADMIN_SESSION_MAX_HOURS", default=12)
SESSION_COOKIE_AGE = int(ADMIN_SESSION_MAX_HOURS * 3600)
JWT_SESSION_MAX_SECONDS = env.int("JWT_SESSION_MAX_DAYS", default=7) * 86400
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", "Русский"), ("en", "English")]
TIME_ZONE = "Europe/Moscow"
USE_I18N = True
USE_TZ = True
TIME_ZONE_DEFAULT = env("TIME_ZONE_DEFAULT", default="Europe/Moscow")
# The one zone every time in the admin is shown and entered in, labelled («МСК» for Moscow).
ADMIN_TIME_ZONE = env("ADMIN_TIME_ZONE", default="Europe/Moscow")

STATIC_URL = "static/"
# relove/ is the project package, not an app: its static files (admin.css, vendored Chart.js) are listed here.
STATIC_ROOT = env("STATIC_ROOT", default=str(VAR_DIR / "static"))
MEDIA_URL = "media/"
MEDIA_ROOT = env("MEDIA_ROOT", default=str(VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security (production behind the TLS proxy of docker-compose.yml) ----------------------
# Production (DATABASE_URL set) is HTTPS-only by default; the embedded default serves plain
# http on localhost. Each switch can be set explicitly.
_HTTPS = not EMBEDDED and not DEBUG
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=_HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the container's own health probe speaks plain http
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Preloading is the domain owner's near-irreversible decision (browser lists), not a default:
# the deploy check's reminder about it is silenced unless SECURE_HSTS_PRELOAD is chosen.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
X_FRAME_OPTIONS = "DENY"

# --- Encryption at rest ------------------------------------------------------------------
# One or more Fernet keys, comma-separated, newest first. The newest encrypts; all decrypt.
FIELD_ENCRYPTION_KEYS = [
    k.strip()
    for k in _required("FIELD_ENCRYPTION_KEY", lambda: Fernet.generate_key().decode()).split(",")
    if k.strip()
]

# --- Telegram ----------------------------------------------------------------------------
# Opt into python-telegram-bot's coming behaviour: durations (RetryAfter.retry_after) are
# timedeltas. bot/outbound.py reads either form.
os.environ.setdefault("PTB_TIMEDELTA", "true")
TELEGRAM_BOT_TOKEN = env("TELEGRAM_BOT_TOKEN", default="")
TELEGRAM_API_BASE_URL = env("TELEGRAM_API_BASE_URL", default="https://api.telegram.org/bot")
TELEGRAM_WEBHOOK_URL = env("TELEGRAM_WEBHOOK_URL", default="")
TELEGRAM_WEBHOOK_SECRET = env("TELEGRAM_WEBHOOK_SECRET", default="")
TELEGRAM_STAFF_CHAT_ID = env.int("TELEGRAM_STAFF_CHAT_ID", default=None)
# Failures of background work alert the staff chat once per kind and hour, at most this many an hour.
FAILURE_ALERTS_PER_HOUR = env.int("FAILURE_ALERTS_PER_HOUR", default=10)
# Crisis workflow: an unresolved alert pages the staff chat again after this long (and again
# every such period); a member with risk gets the helplines again at most this often unless acute.
CRISIS_REALERT_AFTER_MINUTES = env.int("CRISIS_REALERT_AFTER_MINUTES", default=120)
CRISIS_HELPLINES_EVERY_MINUTES = env.int("CRISIS_HELPLINES_EVERY_MINUTES", default=10)
# 29.4/s: 30 sends span 1.02 s, the slack a strict sliding 30/s window needs (docs/benchmarks.md).
TELEGRAM_GLOBAL_RATE = env.float("TELEGRAM_GLOBAL_RATE", default=29.4)
TELEGRAM_PER_CHAT_INTERVAL = env.float("TELEGRAM_PER_CHAT_INTERVAL", default=1.0)
# Turns in flight per bot process (webhook: per uvicorn worker). Waiting for the LLM costs a
# coroutine, not a thread or a connection, so this is bounded by memory and the LLM, not CPUs.
BOT_MAX_CONCURRENT_TURNS = env.int("BOT_MAX_CONCURRENT_TURNS", default=200)
# Threads running the database parts of turns (never more than the pool's connections). They
# share one GIL with the event loop that sends the replies: beyond a few, extra threads mostly
# queue for it and make sends late (a burst of 60 members: 1.12× the ideal with 4, 1.3–1.5× and a
# 429 with 16; docs/benchmarks.md). Raise it for a database far away (long round trips).
BOT_DB_THREADS = env.int("BOT_DB_THREADS", default=min(4, DATABASE_POOL_MAX_SIZE or 4))
# Webhook with several workers/hosts: one chat's updates in update_id order (bot/telegram/ordering.py).
TELEGRAM_CHAT_LOCK_SECONDS = env.float("TELEGRAM_CHAT_LOCK_SECONDS", default=90.0)
TELEGRAM_ORDER_GRACE_SECONDS = env.float("TELEGRAM_ORDER_GRACE_SECONDS", default=0.2)
# A database that cannot be reached while an update is handled is waited for this long (backoff);
# then the update is given back (webhook: 503, Telegram redelivers; polling: queued again) and
# handled when the database is back. A claim left "in progress" by a dead process is taken over
# after UPDATE_CLAIM_LEASE_SECONDS.
BOT_DB_RETRY_SECONDS = env.float("BOT_DB_RETRY_SECONDS", default=20.0)
UPDATE_CLAIM_LEASE_SECONDS = env.float("UPDATE_CLAIM_LEASE_SECONDS", default=300.0)

# --- Broadcasts ----------------------------------------------------------------------------
# Read at call time (``settings.BROADCAST_*``), so tests and operators can override them.
# Requests in flight per worker: enough to keep the shared limiter's schedule full even when
# one request takes several times the 1/30 s slot.
BROADCAST_CONCURRENCY = env.int("BROADCAST_CONCURRENCY", default=8)
# Rows claimed per query. Small on purpose: if a worker dies, at most about one batch plus
# the requests in flight end as "unknown".
BROADCAST_BATCH_SIZE = env.int("BROADCAST_BATCH_SIZE", default=16)
BROADCAST_MAX_ATTEMPTS = env.int("BROADCAST_MAX_ATTEMPTS", default=5)
BROADCAST_RETRY_BASE_SECONDS = 2.0
BROADCAST_RETRY_MAX_SECONDS = 60.0
# A row still "sending" this long after its claim belongs to a dead worker.
BROADCAST_STUCK_AFTER_SECONDS = env.int("BROADCAST_STUCK_AFTER_SECONDS", default=300)
# How often a worker re-reads the broadcast's status (cancel reaction time).
BROADCAST_STATUS_POLL_SECONDS = 0.25

# --- LLM ---------------------------------------------------------------------------------
# One provider at a time: "openai" (the official client; any OpenAI-compatible server) or
# "anthropic" (the official client; the Messages API).
LLM_PROVIDER = env("LLM_PROVIDER", default="").strip().lower() or "openai"
if LLM_PROVIDER not in ("openai", "anthropic"):
    raise ImproperlyConfigured(f"LLM_PROVIDER must be openai or anthropic, not {LLM_PROVIDER!r}")
OPENAI_API_KEY = env("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env("OPENAI_BASE_URL", default="") or None
ANTHROPIC_API_KEY = env("ANTHROPIC_API_KEY", default="")
ANTHROPIC_BASE_URL = env("ANTHROPIC_BASE_URL", default="") or None
_llm_key, _llm_url, _LLM_KEY_NAME, _LLM_URL_NAME, _LLM_HOST = {
    "openai": (OPENAI_API_KEY, OPENAI_BASE_URL, "OPENAI_API_KEY", "OPENAI_BASE_URL", "OpenAI"),
    "anthropic": (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "Anthropic"),
}[LLM_PROVIDER]
# Conversations are special-category personal data (health, beliefs); 152-FZ restricts sending
# them abroad. Without a base URL either client talks to its vendor in the US, so that must
# be chosen explicitly, never fallen into.
LLM_ALLOW_FOREIGN_ENDPOINT = env.bool("LLM_ALLOW_FOREIGN_ENDPOINT", default=False)
if _llm_key and not _llm_url and not LLM_ALLOW_FOREIGN_ENDPOINT:
    raise ImproperlyConfigured(
        f"{_LLM_KEY_NAME} is set but {_LLM_URL_NAME} is not: members' conversations would go to {_LLM_HOST} "
        f"abroad (a cross-border transfer under 152-FZ). Set {_LLM_URL_NAME} to your endpoint, or set "
        "LLM_ALLOW_FOREIGN_ENDPOINT=true if that transfer is lawful for you (see README).")
# How the reply's JSON is asked for: "json_schema" (the provider enforces the schema),
# "json_object" (OpenAI's JSON mode) or "prompt" (asked for in words, parsed from the text).
# A server that refuses the chosen mode with a 400 is asked the next weaker way (see relove/llm.py).
LLM_STRUCTURED_OUTPUT = env("LLM_STRUCTURED_OUTPUT", default="").strip().lower() or {
    "openai": "json_object", "anthropic": "json_schema"}[LLM_PROVIDER]
if LLM_STRUCTURED_OUTPUT not in ("json_schema", "json_object", "prompt"):
    raise ImproperlyConfigured("LLM_STRUCTURED_OUTPUT must be json_schema, json_object or prompt")
if LLM_PROVIDER == "anthropic" and LLM_STRUCTURED_OUTPUT == "json_object":
    raise ImproperlyConfigured("json_object is OpenAI's JSON mode; with anthropic use json_schema or prompt")
LLM_MODEL = env("LLM_MODEL", default="gpt-4o-mini" if LLM_PROVIDER == "openai" else "claude-haiku-4-5")
# Stage analysis and profile rotation: background work that may use a stronger (slower) model.
LLM_ANALYSIS_MODEL = env("LLM_ANALYSIS_MODEL", default="") or LLM_MODEL
LLM_TIMEOUT = env.float("LLM_TIMEOUT", default=15.0)
LLM_TOTAL_BUDGET = env.float("LLM_TOTAL_BUDGET", default=20.0)
LLM_MAX_ATTEMPTS = env.int("LLM_MAX_ATTEMPTS", default=4)
# LLM requests at once per process for work no member is waiting on: proactive messages
# (trigger delivery threads) and profile rotation (which runs this many members at once).
LLM_BACKGROUND_CONCURRENCY = env.int("LLM_BACKGROUND_CONCURRENCY", default=4)

# --- Conversation ------------------------------------------------------------------------
SESSION_IDLE_MINUTES = env.int("SESSION_IDLE_MINUTES", default=30)
CONTEXT_TOKEN_BUDGET = env.int("CONTEXT_TOKEN_BUDGET", default=3000)
FLOOD_MAX_PER_MINUTE = env.int("FLOOD_MAX_PER_MINUTE", default=20)
# Stages, prompts and templates are kept per process (relove/core/process_cache.py): another
# process's edit is seen within PROCESS_CACHE_CHECK_SECONDS, anything else within MAX_AGE.
PROCESS_CACHE_CHECK_SECONDS = env.float("PROCESS_CACHE_CHECK_SECONDS", default=1.0)
PROCESS_CACHE_MAX_AGE = env.float("PROCESS_CACHE_MAX_AGE", default=300.0)
ACTIVITY_LOG_RETENTION_DAYS = env.int("ACTIVITY_LOG_RETENTION_DAYS", default=90)
ARCHIVE_DIR = env("ARCHIVE_DIR", default=str(VAR_DIR / "archive"))
ARCHIVE_RETENTION_DAYS = env.int("ARCHIVE_RETENTION_DAYS", default=365)
# Conversation text older than this is folded into its session's summary and deleted (daily).
CONVERSATION_RETENTION_DAYS = env.int("CONVERSATION_RETENTION_DAYS", default=365)
# Finished background actions of staff (previews, sandbox runs, test sends) are deleted after this.
STAFF_TASK_RETENTION_DAYS = env.int("STAFF_TASK_RETENTION_DAYS", default=30)

# --- Journeys and profiles ---------------------------------------------------------------
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="")  # enables click-tracked stream links (/r/s/<ref>/)
JOURNEY_ANALYSIS_ENABLED = env.bool("JOURNEY_ANALYSIS_ENABLED", default=True)
JOURNEY_STAGE_AGREEING_ANALYSES = env.int("JOURNEY_STAGE_AGREEING_ANALYSES", default=2)
# Natasha invites a member to one stream inside the conversation at most once in this many days.
STREAM_OFFER_EVERY_DAYS = env.int("STREAM_OFFER_EVERY_DAYS", default=7)
PROFILE_ROTATION_BATCH_SIZE = env.int("PROFILE_ROTATION_BATCH_SIZE", default=10)
PROFILE_ROTATION_PAUSE_SECONDS = env.float("PROFILE_ROTATION_PAUSE_SECONDS", default=5.0)
PROFILE_ROTATION_CLAIM_TTL = env.int("PROFILE_ROTATION_CLAIM_TTL", default=600)

# --- API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "privacy.authentication.StaffJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Django model permissions on every view, reads included; personal fields filtered per
    # permission (relove/core/access.py, the same rules as the admin).
    "DEFAULT_PERMISSION_CLASSES": ["relove.core.access.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "relove.core.pagination.CappedLimitOffsetPagination",
    "DEFAULT_THROTTLE_RATES": {"auth": env("AUTH_THROTTLE_RATE", default="10/min")},
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    # Access tokens carry a hash of the password: a password change kills them at once
    # (refresh tokens are blacklisted then too, privacy/signals.py).
    "CHECK_REVOKE_TOKEN": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "reLove Communication Bot API",
    "DESCRIPTION": "Staff API over members, journeys, profiles, triggers, broadcasts and analytics.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    # Swagger UI and Redoc are served from this site (drf-spectacular-sidecar), never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"GenderEnum": "profiles.models.TelegramUser.Gender"},
}

# --- Admin (django-unfold) -----------------------------------------------------------------
# The back office is organised by job, not by Django app: relove/core/admin_nav.py builds the
# sidebar for each staff member from the models their permissions let them see.
UNFOLD = {
    "SITE_TITLE": "reLove",
    "SITE_HEADER": "reLove · Наташа",
    "SITE_SUBHEADER": "Управление ботом",
    "SITE_SYMBOL": "favorite",
    "SHOW_VIEW_ON_SITE": False,
    "STYLES": ["relove.core.admin_nav.stylesheet"],
    "DASHBOARD_CALLBACK": "relove.core.admin_dashboard.dashboard_callback",
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": False,
        "navigation": "relove.core.admin_nav.sidebar",
    },
    "COLORS": {
        "primary": {
            "50": "oklch(97.1% .013 17.38)", "100": "oklch(93.6% .032 17.717)",
            "200": "oklch(88.5% .062 18.334)", "300": "oklch(80.8% .114 19.571)",
            "400": "oklch(70.4% .191 22.216)", "500": "oklch(63.7% .237 25.331)",
            "600": "oklch(57.7% .245 27.325)", "700": "oklch(50.5% .213 27.518)",
            "800": "oklch(44.4% .177 26.899)", "900": "oklch(39.6% .141 25.723)",
            "950": "oklch(25.8% .092 26.042)",
        },
    },
}

# --- Logging -----------------------------------------------------------------------------
# Personal data is never logged: services log ids and kinds, never message text or names.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # The redacting formatter removes the bot token (and other secrets) from every line,
    # tracebacks included: Telegram client errors quote the token.
    "formatters": {"plain": {"()": "relove.core.log_redaction.RedactingFormatter",
                             "format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Request URLs carry the bot token: HTTP client request logs stay off.
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "httpcore2": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
        "telegram": {"level": "WARNING"},
    },
}

# --- Error reporting ---------------------------------------------------------------------------
SENTRY_DSN = env("SENTRY_DSN", default="")
if SENTRY_DSN:
    from relove.core.sentry import init as _sentry_init

    _sentry_init(SENTRY_DSN, environment=env("SENTRY_ENVIRONMENT", default="production"))
