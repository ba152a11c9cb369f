"""UI Manager: Telegram HTML, message splitting, keyboards and progress indicators.

Everything a member or the LLM wrote is escaped (``telegram_html.escape``) before it reaches
Telegram; templates written by staff are trusted HTML with escaped ``{placeholders}``.
Telegram's limits are product rules: 4096 visible characters a message, 64 bytes of
callback data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Telegram HTML itself (escaping, splitting, validation) lives in ``telegram_html``; the
# names the bot's services use are re-exported here.
from .telegram_html import escape as escape
from .telegram_html import sanitise, split

split_message = split

MAX_CALLBACK_BYTES = 64
MAX_QUICK_REPLIES = 3
QUICK_REPLY_MAX_CHARS = 40
STAGE_TOTAL = 12

MENU_SESSION = "📊 Моя сессия"
MENU_PROFILE = "🌌 Мой профиль"
MENU_STREAMS = "🔥 Потоки"
MENU_PAUSE = "⏸ Пауза"
MENU_RESUME = "▶️ Продолжить"


def render(template: str, *, trusted: dict[str, str] | None = None, **values) -> str:
    """Fill a staff-written HTML template; unknown keys stay as they are.

    Every value is escaped, except those in ``trusted``: HTML that staff wrote themselves
    (e.g. the crisis contacts), never member or LLM text. The template itself is sanitised
    first: templates are checked when saved, but one saved before that check must not make
    Telegram refuse a message a member is waiting for.
    """
    safe = {k: escape(str(v)) for k, v in values.items()} | dict(trusted or {})
    return re.sub(r"\{(\w+)\}", lambda m: safe.get(m.group(1), m.group(0)), sanitise(template))


def callback(*parts: object) -> str:
    """Build callback data from short ids; raises if it would exceed Telegram's 64 bytes."""
    data = ":".join(str(p) for p in parts)
    if len(data.encode("utf-8")) > MAX_CALLBACK_BYTES:
        raise ValueError("callback data over 64 bytes")
    return data


@dataclass(frozen=True)
class Button:
    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass
class OutgoingMessage:
    """One message as the bot will send it: HTML text plus optional keyboards or a file."""

    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    reply_keyboard: list[list[str]] | None = None
    document: tuple[str, bytes] | None = None  # (filename, content)


# --- indicators and keyboards --------------------------------------------------------------

def progress_bar(stage: int | None, total: int = STAGE_TOTAL) -> str:
    """✅ passed stages, 🔥 the current one, ⚪️ ahead, then ``N/12``."""
    current = stage or 1
    cells = ["✅" if i < current else "🔥" if i == current else "⚪️" for i in range(1, total + 1)]
    return f"{''.join(cells)} {current}/{total}"


def light_shadow_scale(balance: int) -> str:
    """A 0–10 balance as ☀️ light against 🌑 shadow."""
    balance = max(0, min(10, balance))
    return f"🌑 {'▰' * balance}{'▱' * (10 - balance)} ☀️ {balance}/10"


def menu_keyboard(*, paused: bool = False) -> list[list[str]]:
    return [[MENU_SESSION, MENU_PROFILE], [MENU_STREAMS, MENU_RESUME if paused else MENU_PAUSE]]


def clean_quick_replies(replies, *, limit: int = MAX_QUICK_REPLIES) -> list[str]:
    """At most ``limit`` short, distinct, non-empty strings."""
    out: list[str] = []
    for reply in replies or []:
        if not isinstance(reply, str):
            continue
        text = " ".join(reply.split())[:QUICK_REPLY_MAX_CHARS]
        if text and text not in out:
            out.append(text)
        if len(out) == limit:
            break
    return out
