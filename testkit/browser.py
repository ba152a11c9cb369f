"""Headless Chromium for admin tests: Debian's ``chromium`` package driven by Playwright.

Never a downloaded browser: Playwright is told where the system's chromium is. The flags keep
Chromium off the network (this machine has none) and out of the root sandbox it cannot use.
"""

from __future__ import annotations

import shutil

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def admin_login(page, base_url: str, username: str, password: str, *, next_path: str = "/admin/") -> None:
    page.goto(f"{base_url}/admin/login/?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_load_state("networkidle")
