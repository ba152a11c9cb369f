"""UI Manager: Telegram HTML, message splitting, keyboards and progress indicators.

Everything a member or the LLM wrote is escaped here before it reaches Telegram; templates
written by staff are trusted HTML with escaped ``{placeholders}``. Telegram's limits are
product rules: 4096 visible characters a message, 64 bytes of callback data.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

MAX_MESSAGE_CHARS = 4096
MAX_CALLBACK_BYTES = 64
MAX_QUICK_REPLIES = 3
QUICK_REPLY_MAX_CHARS = 40
STAGE_TOTAL = 12

MENU_SESSION = "📊 Моя сессия"
MENU_PROFILE = "🌌 Мой профиль"
MENU_STREAMS = "🔥 Потоки"
MENU_PAUSE = "⏸ Пауза"
MENU_RESUME = "▶️ Продолжить"


def escape(text: str) -> str:
    """Escape member- or LLM-provided text for Telegram HTML."""
    return html.escape(text or "", quote=False)


def render(template: str, *, trusted: dict[str, str] | None = None, **values) -> str:
    """Fill a staff-written HTML template; unknown keys stay as they are.

    Every value is escaped, except those in ``trusted``: HTML that staff wrote themselves
    (e.g. the crisis contacts), never member or LLM text.
    """
    safe = {k: escape(str(v)) for k, v in values.items()} | dict(trusted or {})
    return re.sub(r"\{(\w+)\}", lambda m: safe.get(m.group(1), m.group(0)), template)


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


# --- splitting ---------------------------------------------------------------------------

_TOKEN = re.compile(r"(<[^>]+>)")
_TAG = re.compile(r"<\s*(/)?\s*([a-zA-Z0-9-]+)")
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def visible_length(markup: str) -> int:
    """Characters Telegram counts (tags removed, each entity one character, UTF-16 units)."""
    text = html.unescape(_TOKEN.sub("", markup))
    return len(text.encode("utf-16-le")) // 2


def _pieces(markup: str, limit: int) -> list[str]:
    """Cut markup into pieces no longer than ``limit`` at the best boundary available."""
    if visible_length(markup) <= limit:
        return [markup]
    for splitter in (re.compile(r"\n{2,}"), re.compile(r"\n"), _SENTENCE_END, re.compile(r"\s+")):
        parts = [p for p in splitter.split(markup) if p]
        if len(parts) > 1:
            out: list[str] = []
            for part in parts:
                out.extend(_pieces(part, limit))
            return out
    # One unbroken run longer than the limit: cut by characters, never inside a tag or entity.
    out, current, count = [], "", 0
    for token in _TOKEN.split(markup):
        if token.startswith("<"):
            current += token
            continue
        for unit in re.findall(r"&[#\w]+;|.", token, flags=re.DOTALL):
            if count >= limit:
                out.append(current)
                current, count = "", 0
            current += unit
            count += 1
    out.append(current)
    return out


def _open_tags_after(markup: str) -> list[str]:
    """The opening tags still unclosed at the end of ``markup``, outermost first."""
    stack: list[tuple[str, str]] = []
    for token in _TOKEN.findall(markup):
        m = _TAG.match(token)
        if not m:
            continue
        closing, name = m.group(1), m.group(2).lower()
        if not closing:
            stack.append((name, token))
            continue
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] == name:
                del stack[i]
                break
    return [token for _, token in stack]


def split_message(markup: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Split HTML into messages of at most ``limit`` visible characters.

    Prefers paragraph, then line, then sentence, then word boundaries; tags open at a cut are
    closed at the end of one message and reopened at the start of the next.
    """
    markup = markup.strip()
    if visible_length(markup) <= limit:
        return [markup] if markup else []
    budget = limit - 16  # room for a separator or re-opened tags
    chunks: list[str] = []
    current, current_len = "", 0
    for piece in _pieces(markup, budget):
        piece_len = visible_length(piece)
        sep = "\n\n" if current else ""
        if current and current_len + piece_len + len(sep) > budget:
            chunks.append(current)
            current, current_len, sep = "", 0, ""
        current += sep + piece
        current_len += piece_len + len(sep)
    if current:
        chunks.append(current)
    # Balance tags across the cuts.
    balanced, carried = [], []
    for chunk in chunks:
        text = "".join(carried) + chunk
        still_open = _open_tags_after(text)
        closing = "".join(f"</{_TAG.match(t).group(2)}>" for t in reversed(still_open))
        balanced.append((text + closing).strip())
        carried = still_open
    return [c for c in balanced if visible_length(c) > 0]


class _Validator(HTMLParser):
    ALLOWED = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
               "blockquote", "tg-spoiler", "span", "tg-emoji"}

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.ALLOWED:
            self.errors.append(f"тег <{tag}> не поддерживается Telegram")
        if tag == "a" and not dict(attrs).get("href"):
            self.errors.append("у ссылки <a> нет href")
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"лишний или несогласованный </{tag}>")
        else:
            self.stack.pop()


def validate_telegram_html(markup: str, *, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Problems that would make Telegram reject this HTML (empty list when it is fine)."""
    parser = _Validator()
    parser.feed(markup)
    parser.close()
    errors = parser.errors + [f"не закрыт <{t}>" for t in parser.stack]
    if re.search(r"&(?!(#\d+|#x[0-9a-fA-F]+|amp|lt|gt|quot);)", markup):
        errors.append("символ & нужно писать как &amp;")
    if not markup.strip():
        errors.append("пустой текст")
    if visible_length(markup) > limit:
        errors.append(f"длиннее {limit} символов")
    return errors


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
