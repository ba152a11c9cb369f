"""docker-compose.yml: every process of the app sees the same uploaded media and archives."""

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
APP_SERVICES = ("migrate", "web", "bot", "worker", "beat")


def test_web_worker_beat_and_bot_share_media_and_archives_on_named_volumes():
    compose = yaml.safe_load(COMPOSE.read_text())
    mounts = {name: set(compose["services"][name].get("volumes", [])) for name in APP_SERVICES}
    shared = {"media:/app/var/media", "archive:/app/var/archive"}
    assert all(shared <= volumes for volumes in mounts.values()), mounts
    assert {"media", "archive"} <= set(compose["volumes"])
    # Static files come from the image: a volume over them would serve stale files after a rebuild.
    assert not any(m.split(":")[1] in ("/app/var", "/app/var/static") for v in mounts.values() for m in v)
