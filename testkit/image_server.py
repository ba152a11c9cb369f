"""Run the production image's own command (the Dockerfile ``CMD``) on loopback, for tests.

The command is read from the Dockerfile, not copied, so a change there that breaks startup
breaks the test. Only the listen address changes (127.0.0.1 and a free port); the process
gets the environment production would (``relove.settings``, DATABASE_URL, keys) pointing at
the test database and the loopback fakes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def image_command() -> list[str]:
    """The exec-form CMD of the Dockerfile."""
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^CMD\s+(\[.*\])\s*$", text, re.MULTILINE)
    if not match:
        raise AssertionError("the Dockerfile has no exec-form CMD")
    return json.loads(match.group(1))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _on_loopback(command: list[str], port: int) -> list[str]:
    out, args = [], iter(command)
    for arg in args:
        if arg == "--host":
            out += [arg, "127.0.0.1"]
            next(args)
        elif arg == "--port":
            out += [arg, str(port)]
            next(args)
        else:
            out.append(arg)
    # The image has uvicorn on PATH; here it is the virtualenv's.
    executable = Path(sys.executable).parent / out[0]
    if executable.exists():
        out[0] = str(executable)
    return out


def database_url(settings_dict: dict) -> str:
    if "postgresql" in settings_dict["ENGINE"]:
        host = settings_dict["HOST"] or "127.0.0.1"
        return f"postgres://{settings_dict['USER']}@{host}:{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
    return f"sqlite:///{settings_dict['NAME']}"


class ImageServer:
    """``with ImageServer(env) as server: server.get("/healthz")``."""

    def __init__(self, env: dict[str, str], *, command: list[str] | None = None):
        self.port = _free_port()
        self.command = _on_loopback(command or image_command(), self.port)
        # Production settings, talked to directly: no TLS proxy in front here, so no https redirect.
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "relove.settings", "LOG_LEVEL": "WARNING",
                    "SECURE_SSL_REDIRECT": "false", **env}
        self.process: subprocess.Popen | None = None
        self._lines: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def wait_for_output(self, text: str, timeout: float = 40) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return True
            time.sleep(0.2)
        return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, path: str, *, data: bytes | None = None, headers: dict | None = None,
                timeout: float = 30) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path, data=data, headers=headers or {},
                                         method="POST" if data is not None else "GET")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_healthy(self, timeout: float = 40) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the image command exited:\n{self.stop()}")
            try:
                if self.request("/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"/healthz never answered 200:\n{self.stop()}")

    def start(self) -> ImageServer:
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        # Read continuously: a full pipe would block the server, and tests look at the log.
        self._reader = threading.Thread(target=lambda: self._lines.extend(self.process.stdout), daemon=True)
        self._reader.start()
        return self

    def stop(self) -> str:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._reader:
            self._reader.join(10)
        return self.output

    def __enter__(self) -> ImageServer:
        self.start()
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
