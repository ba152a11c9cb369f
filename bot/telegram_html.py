"""Telegram's HTML in one place: what it accepts, escaping, checking, cleaning, previewing, splitting.

Every other module asks this one: the UI Manager (escape, split), broadcasts and message
templates (validate), the admin previews (preview), Natasha's LLM replies (llm_markup) and
the terminal chat (plain text). One parser (the stdlib ``html.parser``) and one tag table, so
the admin preview shows what Telegram will show and the validator refuses what Telegram would
refuse. (``nh3`` cleans HTML for browsers but cannot report Telegram's rules — unbalanced tags,
bare ``&``, required attributes, length — which is what staff need to see; it does clean the
LLM's output, where nobody is there to read a report.)
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

import nh3
from django.utils.safestring import SafeString, mark_safe

MAX_MESSAGE_CHARS = 4096
CAPTION_LIMIT = 1024

# Telegram tag → the canonical Telegram tag it means (aliases collapse).
TAGS = {
    "b": "b", "strong": "b", "i": "i", "em": "i", "u": "u", "ins": "u", "s": "s", "strike": "s", "del": "s",
    "code": "code", "pre": "pre", "blockquote": "blockquote", "a": "a",
    "tg-spoiler": "tg-spoiler", "span": "tg-spoiler", "tg-emoji": "tg-emoji",
}
LINK_SCHEMES = ("http", "https", "tg", "mailto")
# The only named entities Telegram decodes; numeric ones are always fine.
_BARE_AMPERSAND = re.compile(r"&(?!(#\d+|#x[0-9a-fA-F]+|amp|lt|gt|quot);)")


def escape(text: str) -> str:
    """Member- or LLM-provided text made inert for Telegram HTML."""
    return html.escape(text or "", quote=False)


def url_ok(url: str, *, schemes: tuple[str, ...] = LINK_SCHEMES) -> bool:
    """A link Telegram accepts and a browser may open: a known scheme and, for the web, a host."""
    parts = urlsplit((url or "").strip())
    return parts.scheme in schemes and (parts.scheme in ("tg", "mailto") or bool(parts.netloc))


# --- parsing ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Event:
    kind: str  # "start", "end" or "text"
    tag: str = ""
    attrs: tuple[tuple[str, str | None], ...] = ()
    text: str = ""  # decoded text


class _Events(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.events: list[_Event] = []

    def handle_starttag(self, tag, attrs):
        self.events.append(_Event("start", tag, tuple(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self.events.append(_Event("end", tag))

    def handle_endtag(self, tag):
        self.events.append(_Event("end", tag))

    def handle_data(self, data):
        self.events.append(_Event("text", text=data))


def _events(markup: str) -> list[_Event]:
    parser = _Events()
    parser.feed(markup or "")
    parser.close()
    return parser.events


_TOKEN = re.compile(r"(<[^>]+>)")


def visible_length(markup: str) -> int:
    """Characters Telegram counts: tags removed, entities decoded, in UTF-16 code units.

    A regular expression, not the parser: splitting measures every candidate piece, and in
    Telegram HTML (text escaped) every ``<`` opens a tag, so both read it the same way.
    """
    text = html.unescape(_TOKEN.sub("", markup or ""))
    return len(text.encode("utf-16-le")) // 2


def plain_text(markup: str) -> str:
    """The text a reader sees, without any markup (for the terminal chat and logs)."""
    return "".join(e.text for e in _events(markup) if e.kind == "text")


# --- validation ---------------------------------------------------------------------------------

def _attribute_errors(tag: str, attrs: dict) -> list[str]:
    if tag == "a":
        href = (attrs.get("href") or "").strip()
        if not href:
            return ["у ссылки <a> нет href"]
        if not url_ok(href):
            return [f"ссылка «{href[:60]}» должна начинаться с https:// или tg://"]
    if tag == "span" and attrs.get("class") != "tg-spoiler":
        return ['у <span> должен быть class="tg-spoiler"']
    if tag == "tg-emoji" and not attrs.get("emoji-id"):
        return ["у <tg-emoji> должен быть emoji-id"]
    return []


def validate(markup: str, *, caption: bool = False) -> list[str]:
    """What would make Telegram refuse this HTML, in Russian for staff (empty list when fine).

    Checks the tag set, the attributes Telegram requires, nesting and balance, bare ``&``,
    emptiness and the length limit (1024 for a photo caption, else 4096).
    """
    markup = markup or ""
    errors: list[str] = []
    stack: list[str] = []
    for event in _events(markup):
        if event.kind == "start":
            if event.tag not in TAGS:
                errors.append(f"тег <{event.tag}> не поддерживается Telegram")
            errors.extend(_attribute_errors(event.tag, dict(event.attrs)))
            stack.append(event.tag)
        elif event.kind == "end":
            if stack and stack[-1] == event.tag:
                stack.pop()
            else:
                errors.append(f"лишний или несогласованный </{event.tag}>")
    errors.extend(f"не закрыт <{tag}>" for tag in stack)
    if _BARE_AMPERSAND.search(markup):
        errors.append("символ & нужно писать как &amp;")
    if not markup.strip():
        errors.append("пустой текст")
    limit = CAPTION_LIMIT if caption else MAX_MESSAGE_CHARS
    if visible_length(markup) > limit:
        errors.append(f"с фото текст становится подписью: не длиннее {CAPTION_LIMIT} символов" if caption
                      else f"длиннее {limit} символов")
    return errors


# --- rewriting: sanitise for Telegram, preview for the browser ---------------------------------

def _rewrite(markup: str, opener) -> str:
    """Re-emit ``markup`` with every text escaped and each tag replaced by ``opener(tag, attrs)``.

    ``opener`` returns ``(opening, closing)`` strings, or ``("", "")`` to drop the markup and
    keep the text. Stray closing tags are dropped, unclosed ones closed at the end, so the
    result is always balanced whatever the input.
    """
    out: list[str] = []
    closers: list[tuple[str, str]] = []
    for event in _events(markup):
        if event.kind == "text":
            out.append(escape(event.text))
        elif event.kind == "start":
            opening, closing = opener(event.tag, dict(event.attrs))
            out.append(opening)
            closers.append((event.tag, closing))
        elif any(tag == event.tag for tag, _ in closers):
            while closers:
                tag, closing = closers.pop()
                out.append(closing)
                if tag == event.tag:
                    break
    out.extend(closing for _, closing in reversed(closers))
    return "".join(out)


def _telegram_tag(tag: str, attrs: dict) -> tuple[str, str]:
    canonical = TAGS.get(tag)
    if canonical is None or _attribute_errors(tag, attrs):
        return "", ""
    if canonical == "a":
        return f'<a href="{html.escape(attrs["href"].strip(), quote=True)}">', "</a>"
    if canonical == "tg-emoji":
        return f'<tg-emoji emoji-id="{html.escape(attrs["emoji-id"], quote=True)}">', "</tg-emoji>"
    return f"<{canonical}>", f"</{canonical}>"


def sanitise(markup: str) -> str:
    """Any HTML made into Telegram HTML that ``validate`` accepts (apart from emptiness and length).

    Text is kept and escaped; unknown tags, event attributes and unsafe links are dropped;
    aliases become canonical tags; nesting is repaired.
    """
    return _rewrite(markup, _telegram_tag)


# What the LLM may use: bold and italic for a key phrase (aliases collapse), nothing else.
LLM_TAGS = {"b": "b", "strong": "b", "i": "i", "em": "i"}


def _llm_tag(tag: str, attrs: dict) -> tuple[str, str]:
    canonical = LLM_TAGS.get(tag)
    return (f"<{canonical}>", f"</{canonical}>") if canonical else ("", "")


def llm_markup(text: str) -> str:
    """The LLM's words as Telegram HTML with ``<b>``/``<i>`` kept and everything else made text.

    Two passes: ``nh3`` (the Ammonia sanitiser, an HTML5 parser) drops every other tag, attribute
    and comment, and the contents of ``script``/``style``, and balances what is left; then the
    result is re-emitted with only ``&amp; &lt; &gt;`` as entities, because ``nh3`` writes HTML
    entities (``&nbsp;``) that Telegram refuses. The output always passes ``validate`` apart
    from emptiness and length (``split`` takes care of length).
    """
    cleaned = nh3.clean(text or "", tags=set(LLM_TAGS), attributes={}, strip_comments=True, link_rel=None)
    return _rewrite(cleaned, _llm_tag)


def _browser_tag(tag: str, attrs: dict) -> tuple[str, str]:
    opening, closing = _telegram_tag(tag, attrs)
    if opening.startswith("<a "):
        return opening[:-1] + ' target="_blank" rel="noopener noreferrer">', closing
    if opening == "<tg-spoiler>":
        return '<span class="tg-spoiler" title="скрытый текст">', "</span>"
    if opening.startswith("<tg-emoji"):
        return "", ""  # the browser shows the fallback emoji inside
    return opening, closing


def preview(markup: str) -> SafeString:
    """The message as Telegram shows it, as HTML safe to put into an admin page.

    Built from the same tag table as ``sanitise``: links stay links (opening in a new tab),
    spoilers are marked, line breaks become ``<br>``; nothing else survives.
    """
    body = _rewrite(markup, _browser_tag).replace("\n", "<br>")
    return mark_safe(body)  # noqa: S308 — escaped text and whitelisted tags only


# --- splitting -----------------------------------------------------------------------------------

_TAG_NAME = re.compile(r"<\s*(/)?\s*([a-zA-Z0-9-]+)")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_UNIT = re.compile(r"&[#\w]+;|.", flags=re.DOTALL)


def _pieces(markup: str, limit: int) -> list[str]:
    """Cut markup into pieces no longer than ``limit`` at the best boundary available."""
    if visible_length(markup) <= limit:
        return [markup]
    for splitter in (re.compile(r"\n{2,}"), re.compile(r"\n"), _SENTENCE_END, re.compile(r"\s+")):
        parts = [p for p in splitter.split(markup) if p]
        if len(parts) > 1:
            return [piece for part in parts for piece in _pieces(part, limit)]
    # One unbroken run longer than the limit: cut by characters, never inside a tag or entity.
    out, current, count = [], "", 0
    for token in _TOKEN.split(markup):
        if token.startswith("<"):
            current += token
            continue
        for unit in _UNIT.findall(token):
            if count >= limit:
                out.append(current)
                current, count = "", 0
            current += unit
            count += 1
    out.append(current)
    return out


def _open_tags_after(markup: str) -> list[str]:
    """The opening tags (as written) still unclosed at the end of ``markup``, outermost first."""
    stack: list[tuple[str, str]] = []
    for token in _TOKEN.findall(markup):
        match = _TAG_NAME.match(token)
        if not match:
            continue
        closing, name = match.group(1), match.group(2).lower()
        if not closing:
            stack.append((name, token))
            continue
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] == name:
                del stack[i]
                break
    return [token for _, token in stack]


def split(markup: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
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
    balanced, carried = [], []
    for chunk in chunks:
        text = "".join(carried) + chunk
        still_open = _open_tags_after(text)
        closing = "".join(f"</{_TAG_NAME.match(t).group(2)}>" for t in reversed(still_open))
        balanced.append((text + closing).strip())
        carried = still_open
    return [c for c in balanced if visible_length(c) > 0]
