"""A fake Telegram Bot API: a real HTTP server on loopback for tests and benchmarks.

The real python-telegram-bot client talks to it unchanged::

    with FakeTelegram() as fake:
        bot = telegram.Bot(fake.token, base_url=fake.base_url)
        fake.push_update(fake.message_update(42, "/start"))
        ...
        assert fake.sent_messages(42)[0]["text"] == "Привет"

It validates requests the way Telegram does (HTML parse mode, text and caption limits,
inline keyboards, rate limits, blocked chats), so a product bug shows up as the same
``BadRequest`` / ``Forbidden`` / ``RetryAfter`` the bot would get in production, and it
records every call (rejected ones too) so tests can assert what was and was not sent.

How python-telegram-bot 22 sends requests (see ``telegram/request/``): always ``POST
<base_url><token>/<method>``; parameters are a form (``application/x-www-form-urlencoded``,
or ``multipart/form-data`` when a file is uploaded) whose values are strings: plain strings
as they are, everything else JSON-encoded (ints ``"42"``, bools ``"true"``, ``reply_markup``
and ``entities`` as JSON text, timedeltas as seconds). This server decodes all of that back,
and accepts ``application/json`` bodies and query strings as other clients send them.

Run it on its own for benchmarks with several processes::

    python -m testkit.fake_telegram --port 8081 --global-rate 30 --per-chat-rate 1

and read what it recorded from ``GET /_fake/stats``, ``/_fake/sent``, ``/_fake/calls``.
"""

from __future__ import annotations

import argparse
import copy
import html
import itertools
import json
import math
import re
import socket
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["Call", "FakeTelegram", "parse_html", "utf16_len"]

SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument"})
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
    504: "Gateway Timeout",
}
_CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
        "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
    }
)  # fmt: skip
_BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text", "callback_game", "pay",
)  # fmt: skip
_JSON_FIELDS = frozenset(
    {
        "reply_markup", "entities", "caption_entities", "link_preview_options", "reply_parameters",
        "commands", "scope", "allowed_updates", "media", "results", "menu_button",
    }
)  # fmt: skip
_NUMBER_FIELDS = frozenset(
    {
        "chat_id", "from_chat_id", "message_id", "offset", "limit", "timeout", "reply_to_message_id",
        "message_thread_id", "max_connections", "cache_time", "duration", "width", "height", "user_id",
    }
)  # fmt: skip
_BOOL_FIELDS = frozenset(
    {
        "disable_notification", "protect_content", "drop_pending_updates", "show_alert",
        "disable_web_page_preview", "allow_sending_without_reply", "has_spoiler",
        "disable_content_type_detection", "is_personal", "show_caption_above_media", "allow_paid_broadcast",
    }
)  # fmt: skip
_STRING_FIELDS = frozenset({"text", "caption", "description", "data", "callback_data", "url", "secret_token"})
_JSON_ERRORS = {
    "reply_markup": "Bad Request: can't parse reply keyboard markup JSON object",
    "entities": "Bad Request: can't parse entities JSON object",
    "caption_entities": "Bad Request: can't parse entities JSON object",
}
_FILE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{20,}$")
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_LEADING_COMMAND_RE = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])")
_WEBHOOK_PORTS = (None, 80, 88, 443, 8443)


# --------------------------------------------------------------------------------------------
# Telegram HTML: the same rules as Telegram's parser (tdlib ``parse_html``), a bit stricter on '&'
# --------------------------------------------------------------------------------------------


class HtmlParseError(ValueError):
    """The text is not valid Telegram HTML; str(err) is what follows "can't parse entities: "."""


_HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "span": "spoiler",
    "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}  # fmt: skip
_NAMED_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"'}
_TEXT_RUN_RE = re.compile(r"[^<&]+")
_NAME_RE = re.compile(r"[A-Za-z0-9-]*")
_ATTR_NAME_RE = re.compile(r"[A-Za-z0-9_-]*")
_UNQUOTED_VALUE_RE = re.compile(r"[^\s>]*")
_ENTITY_RE = re.compile(r"&(?:#[xX]([0-9A-Fa-f]{1,6})|#([0-9]{1,7})|([A-Za-z]{2,6}));")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts as 2)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _decode_entity(text: str, index: int) -> tuple[str, int] | None:
    match = _ENTITY_RE.match(text, index)
    if not match:
        return None
    hex_code, dec_code, name = match.groups()
    if name is not None:
        char = _NAMED_ENTITIES.get(name)
        return (char, match.end()) if char else None
    code = int(hex_code, 16) if hex_code is not None else int(dec_code)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), match.end()


def _skip_spaces(text: str, index: int) -> int:
    while index < len(text) and text[index].isspace():
        index += 1
    return index


def _parse_attributes(text: str, index: int, tag: str, begin: int) -> tuple[dict[str, str], int]:
    attrs: dict[str, str] = {}
    while True:
        index = _skip_spaces(text, index)
        if index >= len(text):
            raise HtmlParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        if text[index] == ">":
            return attrs, index + 1
        name = _ATTR_NAME_RE.match(text, index).group().lower()
        if not name:
            raise HtmlParseError(f'Empty attribute name in the tag "{tag}" at byte offset {_byte_offset(text, begin)}')
        index = _skip_spaces(text, index + len(name))
        if index >= len(text) or text[index] != "=":
            attrs[name] = ""  # a valueless attribute, as in <blockquote expandable>
            continue
        index = _skip_spaces(text, index + 1)
        if index >= len(text):
            raise HtmlParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        if text[index] in "\"'":
            end = text.find(text[index], index + 1)
            if end < 0:
                raise HtmlParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
            raw, index = text[index + 1 : end], end + 1
        else:
            raw = _UNQUOTED_VALUE_RE.match(text, index).group()
            index += len(raw)
        attrs[name] = html.unescape(raw)


def _check_tag_attributes(text: str, tag: str, attrs: dict[str, str], begin: int) -> None:
    where = f"at byte offset {_byte_offset(text, begin)}"
    if tag == "a" and not attrs.get("href", "").strip():
        raise HtmlParseError(f'Tag "a" must have attribute "href" {where}')
    if tag == "span" and attrs.get("class") != "tg-spoiler":
        raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" {where}')
    if tag == "tg-emoji" and not attrs.get("emoji-id"):
        raise HtmlParseError(f'Tag "tg-emoji" must have attribute "emoji-id" {where}')


def _entity_for(tag: str, attrs: dict[str, str], offset: int, length: int) -> dict[str, Any]:
    entity: dict[str, Any] = {"type": _HTML_TAGS[tag], "offset": offset, "length": length}
    if tag == "a":
        entity["url"] = attrs["href"].strip()
    elif tag == "tg-emoji":
        entity["custom_emoji_id"] = attrs["emoji-id"]
    elif tag == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif tag == "pre" and attrs.get("language"):
        entity["language"] = attrs["language"]
    return entity


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into (visible text, entities with UTF-16 offsets).

    Raises HtmlParseError for what Telegram rejects: unsupported tags, unclosed or mismatched
    tags, a bare '<', and (stricter than Telegram, which shows it literally) a '&' that does not
    start one of the supported entities (&amp; &lt; &gt; &quot; and numeric ones).
    """
    pieces: list[str] = []
    position = 0  # in UTF-16 units
    stack: list[tuple[str, dict[str, str], int]] = []  # (tag, attributes, start position)
    entities: list[dict[str, Any]] = []
    index = 0
    while index < len(text):
        run = _TEXT_RUN_RE.match(text, index)
        if run:
            pieces.append(run.group())
            position += utf16_len(run.group())
            index = run.end()
            continue
        begin = index
        if text[index] == "&":
            decoded = _decode_entity(text, index)
            if decoded is None:
                raise HtmlParseError(
                    f'Unsupported HTML entity or unescaped "&" at byte offset {_byte_offset(text, begin)}; '
                    "escape it as &amp;"
                )
            pieces.append(decoded[0])
            position += utf16_len(decoded[0])
            index = decoded[1]
            continue
        if text.startswith("</", index):
            name = _NAME_RE.match(text, index + 2).group().lower()
            index = _skip_spaces(text, index + 2 + len(name))
            if index >= len(text) or text[index] != ">":
                raise HtmlParseError(f"Unclosed end tag at byte offset {_byte_offset(text, begin)}")
            index += 1
            if not stack:
                raise HtmlParseError(f"Unexpected end tag at byte offset {_byte_offset(text, begin)}")
            tag, attrs, start = stack.pop()
            if name != tag:
                where = f"at byte offset {_byte_offset(text, begin)}"
                raise HtmlParseError(f'Unmatched end tag {where}, expected "</{tag}>", found "</{name}>"')
            language = attrs.get("class", "")
            if tag == "code" and stack and stack[-1][0] == "pre" and language.startswith("language-"):
                stack[-1][1]["language"] = language.removeprefix("language-")
            elif position > start:
                entities.append(_entity_for(tag, attrs, start, position - start))
            continue
        name = _NAME_RE.match(text, index + 1).group().lower()
        if name not in _HTML_TAGS:
            raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, begin)}')
        attrs, index = _parse_attributes(text, index + 1 + len(name), name, begin)
        _check_tag_attributes(text, name, attrs, begin)
        stack.append((name, attrs, position))
    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
    return "".join(pieces), entities


# --------------------------------------------------------------------------------------------
# Records and errors
# --------------------------------------------------------------------------------------------


@dataclass
class Call:
    """One request the fake answered (accepted or rejected)."""

    method: str
    params: dict[str, Any]
    chat_id: int | str | None
    time: float  # time.time() when the request arrived
    status: int = 0  # HTTP status answered; 0 = connection dropped on purpose
    response: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def description(self) -> str | None:
        return (self.response or {}).get("description")

    @property
    def result(self) -> Any:
        return (self.response or {}).get("result")


class ApiError(Exception):
    """An error answer: HTTP status plus Telegram's error body."""

    def __init__(self, status: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


class _DropConnection(Exception):
    """Injected failure: close the socket without answering (the client sees a network error)."""


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def _too_many(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


@dataclass
class _Failure:
    status: int
    description: str | None
    retry_after: int | None
    remaining: int

    def error(self) -> ApiError:
        if self.status == 0:
            raise _DropConnection
        retry_after = self.retry_after
        if self.status == 429 and retry_after is None:
            retry_after = 1
        description = self.description
        if description is None:
            if self.status == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = _DEFAULT_DESCRIPTIONS.get(self.status) or _status_phrase(self.status)
        return ApiError(self.status, description, retry_after=retry_after)


def _status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


@dataclass
class _StoredMessage:
    message: dict[str, Any]
    from_bot: bool


# --------------------------------------------------------------------------------------------
# Request decoding
# --------------------------------------------------------------------------------------------


def _coerce(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if key in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(400, _JSON_ERRORS.get(key, f"Bad Request: can't parse {key} JSON object"))
    if key in _NUMBER_FIELDS:
        text = value.strip()
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        if re.fullmatch(r"-?\d+\.\d*", text):
            return float(text)
        return value
    if key in _BOOL_FIELDS:
        return value.strip().lower() in ("true", "1")
    if key not in _STRING_FIELDS and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _unescape_form_param(value: str) -> str:
    # httpx escapes '"' as %22, '\' as '\\' and control characters as %XX (HTML5 form encoding).
    value = re.sub(r"%(22|[01][0-9A-Fa-f])", lambda m: chr(int(m.group(1), 16)), value)
    return value.replace("\\\\", "\\")


def _disposition_params(header: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for match in re.finditer(r';\s*([\w*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', header):
        name, raw = match.group(1).lower(), match.group(2).strip()
        if raw.startswith('"'):
            raw = _unescape_form_param(raw[1:-1])
        if name.endswith("*"):  # RFC 5987: filename*=UTF-8''%D0%BE...
            charset, _, encoded = raw.partition("''")
            name, raw = name[:-1], unquote(encoded, encoding=charset or "utf-8")
        params[name] = raw
    return params


def parse_multipart(body: bytes, boundary: bytes) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Split a multipart/form-data body into (text fields, uploaded files).

    A small boundary parser rather than ``email.parser``: httpx (used by python-telegram-bot)
    writes non-ASCII file names as raw UTF-8 in the header, which the email parser mangles.
    """
    fields: dict[str, str] = {}
    files: dict[str, dict[str, Any]] = {}
    for chunk in (b"\r\n" + body).split(b"\r\n--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk.partition(b"\r\n\r\n")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        disposition = _disposition_params(headers.get("content-disposition", ""))
        name = disposition.get("name")
        if name is None:
            continue
        content_type = headers.get("content-type", "")
        if "filename" in disposition or (content_type and not content_type.startswith("text/plain")):
            files[name] = {
                "filename": disposition.get("filename"),
                "content_type": content_type or None,
                "size": len(content),
                "content": content,
            }
        else:
            charset = re.search(r"charset=([\w-]+)", content_type)
            fields[name] = content.decode(charset.group(1) if charset else "utf-8", "replace")
    return fields, files


def _decode_body(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    mime = content_type.split(";")[0].strip().lower()
    if not body:
        return {}, {}
    if mime == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            raise _bad("can't parse JSON object")
        if not isinstance(data, dict):
            raise _bad("can't parse JSON object")
        return data, {}
    if mime == "multipart/form-data":
        boundary = re.search(r'boundary="?([^";]+)"?', content_type)
        if not boundary:
            raise _bad("can't parse multipart body: no boundary")
        return parse_multipart(body, boundary.group(1).encode("latin-1"))
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)), {}


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"bytes": len(value)}
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items() if key != "content"}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def _norm_chat_id(chat_id: Any) -> Any:
    if isinstance(chat_id, str) and re.fullmatch(r"-?\d+", chat_id.strip()):
        return int(chat_id)
    return chat_id


def _update_kind(update: dict[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], fake: FakeTelegram):
        self.fake = fake
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client closing a kept-alive connection
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: python-telegram-bot reuses connections
    server_version = "FakeTelegram/1.0"
    timeout = 120  # close idle keep-alive connections eventually
    disable_nagle_algorithm = True  # headers and body go out as two writes: avoid the 40 ms delayed-ACK stall
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track_connection(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track_connection(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self._dispatch()

    do_GET = do_POST

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        fake = self.server.fake
        started = time.time()
        body = self._read_body()
        url = urlsplit(self.path)
        try:
            if url.path.startswith("/_fake/"):
                status, payload = fake._control(url.path.removeprefix("/_fake/"), url.query, body)
            else:
                match = re.fullmatch(r"/bot([^/]*)/([^/]*)", url.path)
                if not match:
                    status, payload = 404, ApiError(404, "Not Found").payload()
                else:
                    token, method = unquote(match.group(1)), match.group(2)
                    content_type = self.headers.get("Content-Type", "")
                    status, payload = fake._handle_api(token, method, content_type, body, url.query, started)
        except _DropConnection:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._send_json(status, payload)

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client went away (e.g. a cancelled long poll)
            self.close_connection = True

class FakeTelegram:
    """A loopback HTTP server imitating the Telegram Bot API; thread-safe; see the module docstring.

    global_rate / per_chat_rate: how many sendMessage/sendPhoto/sendDocument calls are accepted
    in any sliding `window` seconds (across all chats / per chat); beyond that the answer is 429
    with parameters.retry_after >= 1. None means unlimited. port=0 picks a free port.
    Identifiers (update_id, message_id per chat, file ids) only grow, also across reset().
    """

    def __init__(
        self,
        *,
        token: str = "123456:TEST-TOKEN",
        global_rate: int | None = None,
        per_chat_rate: int | None = None,
        window: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_first_name: str = "Natasha",
        bot_username: str = "relove_test_bot",
    ):
        if not re.fullmatch(r"\d+:[\w-]+", token):
            raise ValueError(f"not a Telegram bot token: {token!r}")
        self.token = token
        self.global_rate = global_rate
        self.per_chat_rate = per_chat_rate
        self.window = window
        self.host = host
        self.port = port
        self.bot_user = {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self._lock = threading.RLock()
        self._updates_cond = threading.Condition(self._lock)
        self._calls_cond = threading.Condition(self._lock)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._stopping = False
        # Identifiers only grow, across reset(), as on Telegram.
        self._update_ids = itertools.count(1)
        self._last_update_id = 0
        self._message_ids: dict[Any, int] = {}
        self._file_seq = itertools.count(1)
        self._query_seq = itertools.count(1)
        self._poll_generation = 0
        self.reset()

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        with self._lock:
            if self._server is not None:
                return self
            self._stopping = False
            self._server = _Server((self.host, self.port), self)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-telegram", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            self._stopping = True
            self._updates_cond.notify_all()  # release long polls
            connections = list(self._connections)
        if server is None:
            return
        server.shutdown()
        for connection in connections:  # keep-alive connections would otherwise stay served
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/bot``: pass as ``base_url``; the client appends ``<token>/<method>``."""
        return f"{self._root_url()}/bot"

    def _root_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeTelegram is not started; call start() or use it as a context manager")
        return f"http://{self.host}:{self.port}"

    def _track_connection(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    # ---- state and controls -----------------------------------------------------------------

    def reset(self) -> None:
        """Forget calls, updates, webhook, commands, blocks, injected failures, delay and rate windows."""
        with self._lock:
            self.calls: list[Call] = []
            self._sent: list[dict[str, Any]] = []
            self._sent_by_chat: dict[Any, list[dict[str, Any]]] = {}
            self._updates: list[dict[str, Any]] = []
            self._webhook: dict[str, Any] | None = None
            self._blocked: set[Any] = set()
            self._failures: dict[str, deque[_Failure]] = {}
            self._delay = 0.0
            self._global_sends: deque[float] = deque()
            self._chat_sends: dict[Any, deque[float]] = {}
            self._count_429 = 0
            self._messages: dict[tuple[Any, int], _StoredMessage] = {}
            self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
            self._files: dict[str, dict[str, Any]] = {}
            self._chats: dict[Any, dict[str, Any]] = {}
            self._answered_queries: set[str] = set()
            self._updates_cond.notify_all()

    @property
    def webhook(self) -> dict[str, Any] | None:
        """What setWebhook last registered (url, secret_token, ...); None after deleteWebhook."""
        with self._lock:
            return dict(self._webhook) if self._webhook else None

    @property
    def commands(self) -> list[dict[str, Any]]:
        """What setMyCommands last registered for the default scope and language."""
        with self._lock:
            return copy.deepcopy(self._commands.get(_commands_key({}), []))

    @property
    def count_429(self) -> int:
        with self._lock:
            return self._count_429

    def block(self, chat_id: int | str) -> None:
        """Every request to that chat answers 403 "Forbidden: bot was blocked by the user"."""
        with self._lock:
            self._blocked.add(_norm_chat_id(chat_id))

    def unblock(self, chat_id: int | str) -> None:
        with self._lock:
            self._blocked.discard(_norm_chat_id(chat_id))

    def fail_next(
        self,
        method: str,
        *,
        status: int = 500,
        description: str | None = None,
        retry_after: int | None = None,
        count: int = 1,
    ) -> None:
        """Make the next `count` calls of `method` ("*" = any method) fail.

        description defaults to Telegram's wording for the status (400 "Bad Request: chat not
        found", 403 blocked, 429 "Too Many Requests: retry after N", 500, 502 ...). A 429 always
        carries parameters.retry_after (default 1). status=0 drops the connection unanswered.
        """
        key = method if method == "*" else _canonical_method(method) or method
        with self._lock:
            self._failures.setdefault(key, deque()).append(_Failure(status, description, retry_after, count))

    def set_delay(self, seconds: float) -> None:
        """Answer every request `seconds` late (long polls wait this on top of their timeout)."""
        with self._lock:
            self._delay = max(0.0, float(seconds))

    # ---- updates ----------------------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates; assigns an increasing update_id if missing."""
        with self._lock:
            if update.get("update_id") is None:
                update["update_id"] = self._next_update_id()
            self._last_update_id = max(self._last_update_id, update["update_id"])
            stored = copy.deepcopy(update)
            position = len(self._updates)
            while position and self._updates[position - 1]["update_id"] > stored["update_id"]:
                position -= 1
            self._updates.insert(position, stored)
            self._updates_cond.notify_all()
        return update

    def pending_updates(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._updates)

    def webhook_headers(self) -> dict[str, str]:
        """Headers Telegram sends with a webhook delivery (the registered secret token, if any)."""
        secret = (self.webhook or {}).get("secret_token")
        return {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}

    def _next_update_id(self) -> int:
        with self._lock:
            update_id = next(self._update_ids)
            while update_id <= self._last_update_id:
                update_id = next(self._update_ids)
            self._last_update_id = update_id
            return update_id

    def _next_message_id(self, chat_id: Any, explicit: int | None = None) -> int:
        """Message ids grow per chat, shared by the member's and the bot's messages, as on Telegram."""
        with self._lock:
            current = self._message_ids.get(chat_id, 0)
            message_id = current + 1 if explicit is None else explicit
            self._message_ids[chat_id] = max(current, message_id)
            return message_id

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        if isinstance(chat_id, int) and chat_id < 0:
            kind = "supergroup" if chat_id <= -1_000_000_000_000 else "group"
            return {"id": chat_id, "type": kind, "title": "Group"}
        chat = {"id": chat_id, "type": "private"}
        chat.update(self._chats.get(chat_id, {}))
        return chat

    def _user(self, chat_id, user_id, first_name, username, language_code) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id if user_id is not None else chat_id, "is_bot": False}
        user["first_name"] = first_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        return user

    def _incoming_message(
        self, chat_id, *, user_id, first_name, username, language_code, fields: dict[str, Any]
    ) -> dict[str, Any]:
        chat_id = _norm_chat_id(chat_id)
        with self._lock:
            if isinstance(chat_id, int) and chat_id > 0:
                info = {"first_name": first_name, **({"username": username} if username else {})}
                self._chats[chat_id] = info
            message_id = self._next_message_id(chat_id, fields.pop("message_id", None))
            message = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": self._chat(chat_id),
                "from": self._user(chat_id, user_id, first_name, username, language_code),
                **fields,
            }
            self._messages[(chat_id, message_id)] = _StoredMessage(copy.deepcopy(message), from_bot=False)
        return message

    def _wrap(self, kind: str, payload: dict[str, Any], update_id: int | None) -> dict[str, Any]:
        return {"update_id": update_id if update_id is not None else self._next_update_id(), kind: payload}

    def message_update(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        first_name: str = "Аня",
        username: str | None = None,
        language_code: str | None = "ru",
        update_id: int | None = None,
        **extra_message_fields: Any,
    ) -> dict[str, Any]:
        """Build (not push) a text message update from a member, with a bot_command entity for a leading /command."""
        fields: dict[str, Any] = {"text": text}
        command = _LEADING_COMMAND_RE.match(text)
        if command:
            fields["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command.group())}]
        fields.update(extra_message_fields)
        message = self._incoming_message(
            chat_id, user_id=user_id, first_name=first_name, username=username, language_code=language_code,
            fields=fields,
        )  # fmt: skip
        return self._wrap("message", message, update_id)

    def edited_message_update(
        self,
        chat_id: int,
        text: str,
        *,
        message_id: int | None = None,
        user_id: int | None = None,
        first_name: str = "Аня",
        username: str | None = None,
        language_code: str | None = "ru",
        update_id: int | None = None,
        **extra_message_fields: Any,
    ) -> dict[str, Any]:
        """Build an edited_message update (the member edited an earlier message)."""
        now = int(time.time())
        fields: dict[str, Any] = {"text": text, "edit_date": now, **extra_message_fields}
        if message_id is not None:
            fields["message_id"] = message_id
        message = self._incoming_message(
            chat_id, user_id=user_id, first_name=first_name, username=username, language_code=language_code,
            fields=fields,
        )  # fmt: skip
        message["date"] = now - 60
        return self._wrap("edited_message", message, update_id)

    def callback_update(
        self,
        chat_id: int,
        data: str,
        *,
        message_id: int | None = None,
        user_id: int | None = None,
        first_name: str = "Аня",
        username: str | None = None,
        language_code: str | None = "ru",
        update_id: int | None = None,
        message_text: str = "…",
        callback_query_id: str | None = None,
    ) -> dict[str, Any]:
        """Build a callback_query update: the member pressed an inline button with `data`.

        The message is the one the bot sent as `message_id` (default: the bot's latest message
        in that chat); if there is none, a bot message with `message_text` is registered, so the
        bot can edit it afterwards.
        """
        chat_id = _norm_chat_id(chat_id)
        with self._lock:
            if message_id is None:
                message_id = max(
                    (mid for (cid, mid), stored in self._messages.items() if cid == chat_id and stored.from_bot),
                    default=None,
                )
            stored = self._messages.get((chat_id, message_id)) if message_id is not None else None
            if stored is None:
                message = self._bot_message(chat_id, {"text": message_text}, message_id=message_id)
            else:
                message = copy.deepcopy(stored.message)
            query_id = callback_query_id or str(4_000_000_000_000_000_000 + next(self._query_seq))
        query = {
            "id": query_id,
            "from": self._user(chat_id, user_id, first_name, username, language_code),
            "chat_instance": str(abs(hash(str(chat_id))) % 10**18),
            "message": message,
            "data": data,
        }
        return self._wrap("callback_query", query, update_id)

    def _media_update(self, chat_id, media_fields: dict[str, Any], user: dict[str, Any], update_id, extra):
        message = self._incoming_message(chat_id, fields={**media_fields, **extra}, **user)
        return self._wrap("message", message, update_id)

    def sticker_update(
        self,
        chat_id: int,
        *,
        emoji: str = "😀",
        user_id: int | None = None,
        first_name: str = "Аня",
        username: str | None = None,
        language_code: str | None = "ru",
        update_id: int | None = None,
        **extra_message_fields: Any,
    ) -> dict[str, Any]:
        file = self._register_file(b"RIFF-fake-sticker", "stickers", ".webp", prefix="CAACAgIAAxkBAAI")
        sticker = {
            **file, "type": "regular", "width": 512, "height": 512, "is_animated": False, "is_video": False,
            "emoji": emoji,
        }  # fmt: skip
        user = {"user_id": user_id, "first_name": first_name, "username": username, "language_code": language_code}
        return self._media_update(chat_id, {"sticker": sticker}, user, update_id, extra_message_fields)

    def photo_update(
        self,
        chat_id: int,
        *,
        caption: str | None = None,
        content: bytes = b"\xff\xd8\xff\xe0fake-jpeg",
        user_id: int | None = None,
        first_name: str = "Аня",
        username: str | None = None,
        language_code: str | None = "ru",
        update_id: int | None = None,
        **extra_message_fields: Any,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"photo": self._photo_sizes(content)}
        if caption is not None:
            fields["caption"] = caption
        user = {"user_id": user_id, "first_name": first_name, "username": username, "language_code": language_code}
        return self._media_update(chat_id, fields, user, update_id, extra_message_fields)

    # ---- files --------------------------------------------------------------------------

    def _register_file(
        self, content: bytes, folder: str, suffix: str, *, prefix: str, file_name: str | None = None
    ) -> dict[str, Any]:
        with self._lock:
            seq = next(self._file_seq)
            file_id = f"{prefix}{seq:012d}"
            unique_id = f"AgAD{seq:08d}"
            name = file_name or f"file_{seq}{suffix}"
            self._files[file_id] = {"content": content, "file_path": f"{folder}/{seq}_{name}", "unique": unique_id}
        return {"file_id": file_id, "file_unique_id": unique_id, "file_size": len(content)}

    def _photo_sizes(self, content: bytes) -> list[dict[str, Any]]:
        small = self._register_file(content, "photos", ".jpg", prefix="AgACAgIAAxkBAAI")
        large = self._register_file(content, "photos", ".jpg", prefix="AgACAgIAAxkBAAI")
        return [{**small, "width": 90, "height": 90}, {**large, "width": 800, "height": 800}]

    # ---- recorded calls ---------------------------------------------------------------------

    def sent_messages(self, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        """Params of successful sendMessage/sendPhoto/sendDocument calls, in order."""
        with self._lock:
            return list(self._sent_list(chat_id))

    def wait_for_messages(
        self, count: int, *, chat_id: int | str | None = None, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Block until at least `count` messages were sent (to `chat_id`); AssertionError on timeout."""
        with self._calls_cond:
            done = self._calls_cond.wait_for(lambda: len(self._sent_list(chat_id)) >= count, timeout)
            sent = list(self._sent_list(chat_id))
        if not done:
            texts = [params.get("text", params.get("caption")) for params in sent]
            where = f" to chat {chat_id}" if chat_id is not None else ""
            raise AssertionError(f"expected {count} sent messages{where} within {timeout}s, got {len(sent)}: {texts}")
        return sent

    def calls_to(self, method: str) -> list[Call]:
        canonical = _canonical_method(method) or method
        with self._lock:
            return [call for call in self.calls if call.method == canonical]

    def _sent_list(self, chat_id: Any) -> list[dict[str, Any]]:
        if chat_id is None:
            return self._sent
        return self._sent_by_chat.get(_norm_chat_id(chat_id), [])

    def _record(self, call: Call) -> None:
        with self._calls_cond:
            self.calls.append(call)
            if call.status == 429:
                self._count_429 += 1
            if call.ok and call.method in SEND_METHODS:
                self._sent.append(call.params)
                self._sent_by_chat.setdefault(call.chat_id, []).append(call.params)
            self._calls_cond.notify_all()

    # ---- dispatch -----------------------------------------------------------------------------

    def _handle_api(
        self, token: str, method: str, content_type: str, body: bytes, query: str, started: float
    ) -> tuple[int, dict[str, Any]]:
        canonical = _canonical_method(method)
        call = Call(method=canonical or method, params={}, chat_id=None, time=started)
        try:
            raw, files = _decode_body(content_type, body)
            raw = {**dict(parse_qsl(query, keep_blank_values=True)), **raw}
            call.params = {key: _coerce(key, value) for key, value in raw.items()}
            for key, value in list(call.params.items()):  # attach://name points at an uploaded part
                if isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
                    call.params[key] = files.pop(value[9:])
            call.params.update(files)
            call.chat_id = _norm_chat_id(call.params.get("chat_id"))
            with self._lock:
                delay = self._delay
            if delay:
                time.sleep(delay)
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            if canonical is None:
                raise ApiError(404, "Not Found")
            self._raise_injected(canonical)
            result = getattr(self, f"_api_{canonical}")(call.params)
            call.status, call.response = 200, {"ok": True, "result": result}
        except ApiError as err:
            call.status, call.response = err.status, err.payload()
        except _DropConnection:
            self._record(call)
            raise
        except Exception as exc:  # noqa: BLE001 - a bug in the fake must surface, not hang the client
            traceback.print_exc(file=sys.stderr)
            call.status = 500
            call.response = {"ok": False, "error_code": 500, "description": f"Internal Server Error: fake bug: {exc!r}"}
        self._record(call)
        return call.status, call.response

    def _raise_injected(self, method: str) -> None:
        with self._lock:
            for key in (method, "*"):
                queue = self._failures.get(key)
                if queue:
                    failure = queue[0]
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        queue.popleft()
                    raise failure.error()

    def _control(self, action: str, query: str, body: bytes) -> tuple[int, Any]:
        """Tiny inspection API for a fake running in another process (benchmarks)."""
        args = dict(parse_qsl(query))
        data = json.loads(body) if body else {}
        if action == "stats":
            with self._lock:
                return 200, {
                    "calls": len(self.calls),
                    "sent": len(self._sent),
                    "count_429": self._count_429,
                    "pending_updates": len(self._updates),
                }
        if action == "sent":
            return 200, _jsonable(self.sent_messages(args.get("chat_id")))
        if action == "calls":
            with self._lock:
                calls = list(self.calls)
            keys = ("method", "params", "chat_id", "time", "status")
            return 200, [{key: _jsonable(getattr(call, key)) for key in keys} for call in calls]
        if action == "updates":
            return 200, self.push_update(data)
        if action == "block":
            self.block(data["chat_id"])
            return 200, True
        if action == "fail_next":
            self.fail_next(data.pop("method"), **data)
            return 200, True
        if action == "reset":
            self.reset()
            return 200, True
        return 404, ApiError(404, "Not Found").payload()

    # ---- validation helpers -----------------------------------------------------------------

    def _target_chat(self, params: dict[str, Any]) -> Any:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad("chat_id is empty")
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            raise _bad("chat not found")
        with self._lock:
            if chat_id in self._blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _check_rate(self, chat_id: Any) -> None:
        now = time.monotonic()
        horizon = now - self.window
        with self._lock:
            checks = []
            if self.global_rate is not None:
                checks.append((self._global_sends, self.global_rate))
            if self.per_chat_rate is not None:
                checks.append((self._chat_sends.setdefault(chat_id, deque()), self.per_chat_rate))
            for sends, limit in checks:
                while sends and sends[0] <= horizon:
                    sends.popleft()
                if len(sends) >= limit:
                    raise _too_many(max(1, math.ceil(sends[0] + self.window - now)))
            for sends, _ in checks:
                sends.append(now)

    def _bot_message(self, chat_id: Any, content: dict[str, Any], *, message_id: int | None = None) -> dict[str, Any]:
        with self._lock:
            message_id = self._next_message_id(chat_id, message_id)
            message = {
                "message_id": message_id,
                "from": {key: self.bot_user[key] for key in ("id", "is_bot", "first_name", "username")},
                "chat": self._chat(chat_id),
                "date": int(time.time()),
                **{key: value for key, value in content.items() if value not in (None, [], "")},
            }
            stored = _StoredMessage(message, from_bot=True)
            self._messages[(chat_id, message_id)] = stored
            return copy.deepcopy(message)

    # ---- API methods ----------------------------------------------------------------------------

    def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return dict(self.bot_user)

    def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = _int_param(params, "offset", 0)
        limit = min(max(_int_param(params, "limit", 100), 1), 100)
        timeout = min(max(_float_param(params, "timeout", 0.0), 0.0), 60.0)
        allowed = params.get("allowed_updates") or None
        deadline = time.monotonic() + timeout
        with self._updates_cond:
            if self._webhook:
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
                    "the webhook first",
                )
            self._poll_generation += 1
            generation = self._poll_generation
            self._updates_cond.notify_all()  # an older long poll is terminated, as on Telegram
            if offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset < 0:
                self._updates = self._updates[offset:]
            while True:
                if generation != self._poll_generation:
                    raise ApiError(409, _DEFAULT_DESCRIPTIONS[409])
                ready = [u for u in self._updates if not allowed or _update_kind(u) in allowed][:limit]
                remaining = deadline - time.monotonic()
                if ready or remaining <= 0 or self._stopping:
                    return copy.deepcopy(ready)
                self._updates_cond.wait(remaining)

    def _api_setWebhook(self, params: dict[str, Any]) -> bool:
        url = str(params.get("url") or "")
        with self._lock:
            if params.get("drop_pending_updates"):
                self._updates = []
            if not url:
                self._webhook = None
                return True
        parts = urlsplit(url)
        if parts.scheme != "https":
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        if not parts.hostname:
            raise _bad("bad webhook: Failed to resolve host: Name or service not known")
        try:
            port = parts.port
        except ValueError:
            port = -1
        if port not in _WEBHOOK_PORTS:
            raise _bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.fullmatch(str(secret)):
            raise _bad("secret token contains unallowed characters")
        max_connections = params.get("max_connections")
        if max_connections is not None and not (isinstance(max_connections, int) and 1 <= max_connections <= 100):
            raise _bad("bad webhook: max_connections must be between 1 and 100")
        webhook = {key: value for key, value in params.items() if key != "certificate"}
        webhook["has_custom_certificate"] = "certificate" in params
        with self._lock:
            self._webhook = webhook
            self._poll_generation += 1  # a waiting getUpdates gets 409, as on Telegram
            self._updates_cond.notify_all()
        return True

    def _api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        with self._lock:
            self._webhook = None
            if params.get("drop_pending_updates"):
                self._updates = []
        return True

    def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._target_chat(params)
        text, entities = _check_text(params, "text", "entities", MESSAGE_LIMIT)
        markup = _check_reply_markup(params.get("reply_markup"))
        self._check_rate(chat_id)
        return self._bot_message(chat_id, {"text": text, "entities": entities, "reply_markup": _inline_only(markup)})

    def _api_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._target_chat(params)
        content = self._input_file(params, "photo", "there is no photo in the request")
        caption, entities = _check_text(params, "caption", "caption_entities", CAPTION_LIMIT, required=False)
        markup = _check_reply_markup(params.get("reply_markup"))
        self._check_rate(chat_id)
        photo = self._photo_sizes(content)
        return self._bot_message(
            chat_id,
            {"photo": photo, "caption": caption, "caption_entities": entities, "reply_markup": _inline_only(markup)},
        )

    def _api_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._target_chat(params)
        content = self._input_file(params, "document", "there is no document in the request")
        caption, entities = _check_text(params, "caption", "caption_entities", CAPTION_LIMIT, required=False)
        markup = _check_reply_markup(params.get("reply_markup"))
        self._check_rate(chat_id)
        upload = params["document"] if isinstance(params["document"], dict) else {}
        file_name = upload.get("filename") or "document"
        file = self._register_file(content, "documents", "", prefix="BQACAgIAAxkBAAI", file_name=file_name)
        mime_type = upload.get("content_type") or "application/octet-stream"
        document = {**file, "file_name": file_name, "mime_type": mime_type}
        content_fields = {"document": document, "caption": caption, "caption_entities": entities}
        return self._bot_message(chat_id, {**content_fields, "reply_markup": _inline_only(markup)})

    def _input_file(self, params: dict[str, Any], key: str, missing: str) -> bytes:
        value = params.get(key)
        if isinstance(value, dict) and "content" in value:
            if not value["content"]:
                raise _bad("file must be non-empty")
            return value["content"]
        if not isinstance(value, str) or not value:
            raise _bad(missing)
        if value.startswith(("http://", "https://")):
            return b"downloaded:" + value.encode()
        with self._lock:
            known = self._files.get(value)
        if known is not None:
            return known["content"]
        if _FILE_ID_RE.fullmatch(value):
            return b"file_id:" + value.encode()
        raise _bad("wrong file identifier/HTTP URL specified")

    def _api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if not query_id:
            raise _bad("QUERY_ID_INVALID")
        text = params.get("text")
        if text is not None and utf16_len(str(text)) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        with self._lock:
            if query_id in self._answered_queries:
                raise _bad("query is too old and response timeout expired or query ID is invalid")
            self._answered_queries.add(query_id)
        return True

    def _api_sendChatAction(self, params: dict[str, Any]) -> bool:
        self._target_chat(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    def _api_setMyCommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_RE.fullmatch(str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            description = str(command.get("description") or "").strip()
            if not description:
                raise _bad("command description is empty")
            if len(description) > 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        with self._lock:
            self._commands[_commands_key(params)] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        return True

_METHODS = {name.removeprefix("_api_"): name for name in dir(FakeTelegram) if name.startswith("_api_")}
_METHODS_LOWER = {name.lower(): name for name in _METHODS}


def _canonical_method(method: str) -> str | None:
    """Telegram method names are case-insensitive."""
    return _METHODS_LOWER.get(method.lower())


def _int_param(params: dict[str, Any], key: str, default: int) -> int:
    value = params.get(key)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad(f"invalid {key} specified")


def _float_param(params: dict[str, Any], key: str, default: float) -> float:
    value = params.get(key)
    if value in (None, ""):
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _bad(f"invalid {key} specified")


def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
    scope = params.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")


def _check_text(
    params: dict[str, Any], key: str, entities_key: str, limit: int, *, required: bool = True
) -> tuple[str, list[dict[str, Any]]]:
    """Parse and validate message text or a caption; returns (visible text, entities)."""
    raw = params.get(key)
    if raw is None or raw == "":
        if required:
            raise _bad("message text is empty")
        return "", []
    raw = str(raw)
    parse_mode = str(params.get("parse_mode") or "").lower()
    entities = params.get(entities_key)
    if entities:
        if not isinstance(entities, list) or not all(isinstance(e, dict) and "type" in e for e in entities):
            raise _bad("can't parse entities JSON object")
        text = raw
    elif parse_mode == "html":
        try:
            text, entities = parse_html(raw)
        except HtmlParseError as err:
            raise _bad(f"can't parse entities: {err}")
    elif parse_mode in ("", "markdown", "markdownv2"):
        text, entities = raw, []  # Markdown is not parsed: its length is counted with the markup
    else:
        raise _bad("unsupported parse_mode")
    if required and not text.strip():
        raise _bad("message text is empty")
    if utf16_len(text) > limit:
        raise _bad("message is too long" if key == "text" else "message caption is too long")
    return text, entities


def _check_reply_markup(markup: Any) -> dict[str, Any] | None:
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        return _check_inline_markup(markup)
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad('field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays')
        for button in itertools.chain.from_iterable(rows):
            text = button if isinstance(button, str) else button.get("text") if isinstance(button, dict) else None
            if not isinstance(text, str) or not text:
                raise _bad('can\'t parse keyboard button: Field "text" must be of type String')
        return markup
    if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
        return markup
    raise _bad("can't parse reply keyboard markup JSON object")


def _check_inline_markup(markup: Any) -> dict[str, Any] | None:
    if markup is None or markup == "" or markup == {}:
        return None
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        raise _bad("inline keyboard expected")
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays')
    buttons = list(itertools.chain.from_iterable(rows))
    if len(buttons) > 100:
        raise _bad("reply markup is too long")
    for button in buttons:
        _check_inline_button(button)
    return markup


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str) or not button["text"]:
        raise _bad('can\'t parse inline keyboard button: Field "text" must be of type String')
    actions = [key for key in _BUTTON_ACTIONS if button.get(key) is not None]
    if not actions:
        raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
    if len(actions) > 1:
        raise _bad(f"can't parse inline keyboard button: only one of {', '.join(actions)} may be specified")
    if "callback_data" in actions:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= CALLBACK_DATA_LIMIT:
            raise _bad("BUTTON_DATA_INVALID")
    if "url" in actions:
        url = str(button["url"])
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "tg") or (parts.scheme != "tg" and not parts.netloc):
            raise _bad(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def _inline_only(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """Telegram echoes reply_markup in the sent message only for inline keyboards."""
    return markup if markup and "inline_keyboard" in markup else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake Telegram Bot API on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123456:TEST-TOKEN")
    parser.add_argument("--global-rate", type=int, default=None)
    parser.add_argument("--per-chat-rate", type=int, default=None)
    parser.add_argument("--window", type=float, default=1.0)
    args = parser.parse_args(argv)
    fake = FakeTelegram(
        token=args.token, global_rate=args.global_rate, per_chat_rate=args.per_chat_rate, window=args.window,
        host=args.host, port=args.port,
    ).start()  # fmt: skip
    print(f"fake Telegram Bot API at {fake.base_url} (token {fake.token})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
