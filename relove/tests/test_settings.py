import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

PROBE = (
    "import django, json; from django.conf import settings; django.setup(); "
    "print(json.dumps({'db': settings.DATABASES['default']['ENGINE'], "
    "'cache': settings.CACHES['default']['BACKEND'], 'broker': settings.CELERY_BROKER_URL, "
    "'llm': bool(settings.OPENAI_API_KEY), 'lang': settings.LANGUAGE_CODE, 'tz': settings.TIME_ZONE, "
    "'keys': len(settings.FIELD_ENCRYPTION_KEYS)}))"
)


def run_settings(env: dict, tmp_path) -> dict:

    clean = {k: v for k, v in os.environ.items()
             if k not in {"DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY", "SECRET_KEY", "FIELD_ENCRYPTION_KEY",
                          "DJANGO_SETTINGS_MODULE", "CELERY_BROKER_URL"}}
    clean.update({"DJANGO_SETTINGS_MODULE": "relove.settings", **env})
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True,
                         text=True, check=False)
    return out


def test_nothing_set_falls_back_to_the_embedded_default(tmp_path):
    out = run_settings({}, tmp_path)
    assert out.returncode == 0, out.stderr
    import json

    data = json.loads(out.stdout)
    assert data["db"] == "django.db.backends.sqlite3"
    assert data["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert data["broker"] == "filesystem://"
    assert data["llm"] is False
    assert (data["lang"], data["tz"], data["keys"]) == ("ru", "Europe/Moscow", 1)


def test_blank_variables_count_as_unset(tmp_path):
    import json

    out = run_settings({"DATABASE_URL": "", "REDIS_URL": "", "OPENAI_API_KEY": ""}, tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["db"], data["broker"], data["llm"]) == ("django.db.backends.sqlite3", "filesystem://", False)


def test_services_are_used_when_configured(tmp_path):
    import json

    out = run_settings({"DATABASE_URL": "postgres://u@127.0.0.1:5432/x", "REDIS_URL": "redis://127.0.0.1:6379/3",
                        "SECRET_KEY": "x" * 50, "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEYS[0]},
                       tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["db"] == "relove.db.postgresql"  # Django's, with its pool (relove/db/postgresql)
    assert data["cache"] == "django_redis.cache.RedisCache"
    assert data["broker"] == "redis://127.0.0.1:6379/3"


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEY"])
def test_production_without_a_secret_refuses_to_start(tmp_path, missing):
    env = {"DATABASE_URL": "postgres://u@127.0.0.1:5432/x", "SECRET_KEY": "x" * 50,
           "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEYS[0]}
    env.pop(missing)
    out = run_settings(env, tmp_path)
    assert out.returncode != 0
    assert f"{missing} must be set" in out.stderr


def test_llm_key_without_endpoint_refuses_to_start_unless_foreign_is_allowed(tmp_path):
    refused = run_settings({"OPENAI_API_KEY": "sk-test"}, tmp_path)
    assert refused.returncode != 0 and "152-FZ" in refused.stderr

    allowed = run_settings({"OPENAI_API_KEY": "sk-test", "LLM_ALLOW_FOREIGN_ENDPOINT": "true"}, tmp_path)
    assert allowed.returncode == 0, allowed.stderr
    assert "LLM endpoint host: api.openai.com (foreign endpoint allowed" in allowed.stderr

    local = run_settings({"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "https://llm.relove.ru/v1"}, tmp_path)
    assert local.returncode == 0, local.stderr
    assert "LLM endpoint host: llm.relove.ru" in local.stderr and "sk-test" not in local.stderr


def test_deploy_check_is_clean_with_production_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DEBUG", "OPENAI_API_KEY"}}
    env.update({"DJANGO_SETTINGS_MODULE": "relove.settings", "DATABASE_URL": "postgres://u@127.0.0.1:1/x",
                "SECRET_KEY": "ci-only-Kq8vZ2pLx7Rt4Wn9Yb3Jd6Hf1Ms5Gc0Ua2Ee8Oi4Ty7Rw",
                "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEYS[0],
                "REDIS_URL": "redis://127.0.0.1:6379/3"})
    out = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "System check identified no issues" in out.stdout + out.stderr, out.stdout + out.stderr
    assert "WARNINGS" not in out.stdout + out.stderr


def test_compose_terminates_tls_and_keeps_the_cache_off_disk():
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "ports" not in services["web"] and services["proxy"]["ports"] == ["80:80", "443:443"]
    cache_cmd = services["cache"]["command"]
    assert cache_cmd[cache_cmd.index("--appendonly") + 1] == "no" and cache_cmd[cache_cmd.index("--save") + 1] == ""
    assert compose["x-app"]["environment"]["REDIS_URL"].startswith("redis://cache:")
    caddy = (ROOT / "deploy" / "Caddyfile").read_text()
    assert "max_size" in caddy and "Strict-Transport-Security" in caddy and "reverse_proxy web:8000" in caddy
