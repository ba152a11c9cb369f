"""A broadcast as Telegram receives it and as staff see it in the preview.

``check_*`` validate staff input (Russian messages for the admin and the API);
``broadcast_message`` builds the one ``OutgoingMessage`` every recipient gets;
``preview_html`` renders the same text and buttons as safe HTML for the admin page. The
Telegram HTML itself is checked and previewed by ``bot.telegram_html``.
"""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from bot import telegram_html
from bot.outbound import OutgoingPhoto
from bot.ui import Button, OutgoingMessage, callback

MAX_BUTTONS = 8
BUTTON_TEXT_MAX = 64
REPLY_TEXT_MAX = 200
CALLBACK_PREFIX = "b"
URL_SCHEMES = ("http", "https", "tg")  # for link buttons; links in the text may also be mailto:
PHOTO_MAX_BYTES = 10 * 1024 * 1024  # Telegram's limit for photos


def check_text(text: str, *, has_photo: bool = False) -> list[str]:
    """Problems Telegram would reject the text for; a photo caption is limited to 1024 characters."""
    return telegram_html.validate(text, caption=has_photo)


def check_buttons(buttons) -> list[str]:
    """Buttons are ``[{"text": …, "url": …} | {"text": …, "reply": …}]``: a link or a quick reply."""
    if buttons in (None, ""):
        return []
    if not isinstance(buttons, list):
        return ["кнопки — это список"]
    errors = []
    if len(buttons) > MAX_BUTTONS:
        errors.append(f"не больше {MAX_BUTTONS} кнопок")
    for number, button in enumerate(buttons, start=1):
        where = f"кнопка {number}"
        if not isinstance(button, dict) or set(button) - {"text", "url", "reply"}:
            errors.append(f"{where}: нужны поля text и url или reply")
            continue
        text, url, reply = button.get("text"), button.get("url"), button.get("reply")
        if not isinstance(text, str) or not text.strip() or len(text) > BUTTON_TEXT_MAX:
            errors.append(f"{where}: текст от 1 до {BUTTON_TEXT_MAX} символов")
        if url is not None and reply is not None:
            errors.append(f"{where}: либо ссылка, либо быстрый ответ")
        elif url is not None and not (isinstance(url, str) and telegram_html.url_ok(url, schemes=URL_SCHEMES)):
            errors.append(f"{where}: ссылка должна начинаться с https:// (или tg://)")
        elif reply is not None and not (isinstance(reply, str) and reply.strip() and len(reply) <= REPLY_TEXT_MAX):
            errors.append(f"{where}: быстрый ответ от 1 до {REPLY_TEXT_MAX} символов")
        try:
            button_callback(10**12, number - 1)  # the longest id we will ever have must still fit
        except ValueError:
            errors.append(f"{where}: данные кнопки длиннее 64 байт")
    return errors


def button_callback(broadcast_id: int, index: int) -> str:
    """Callback data of a quick-reply button: ``b:<broadcast id>:<index>`` (≤ 64 bytes)."""
    return callback(CALLBACK_PREFIX, broadcast_id, index)


def parse_button_callback(data: str) -> tuple[int, int] | None:
    """``(broadcast_id, index)`` from callback data made by ``button_callback``, else None."""
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[0] != CALLBACK_PREFIX or not (parts[1].isdigit() and parts[2].isdigit()):
        return None
    return int(parts[1]), int(parts[2])


def reply_text(button: dict) -> str:
    """What a pressed quick reply means: its ``reply``, or its label."""
    return (button.get("reply") or button.get("text") or "").strip()


def keyboard(broadcast_id: int, buttons: list[dict]) -> list[list[Button]]:
    """One button per row, in the order staff wrote them."""
    rows = []
    for index, button in enumerate(buttons or []):
        if button.get("url"):
            rows.append([Button(button["text"], url=button["url"].strip())])
        else:
            rows.append([Button(button["text"], callback_data=button_callback(broadcast_id, index))])
    return rows


def broadcast_message(broadcast, *, photo: tuple[str, bytes] | str | None = None) -> OutgoingMessage:
    """The message every recipient of ``broadcast`` gets (a captioned photo when it has one)."""
    buttons = keyboard(broadcast.pk, broadcast.buttons)
    if photo:
        return OutgoingPhoto(text=broadcast.text, buttons=buttons, photo=photo)
    return OutgoingMessage(text=broadcast.text, buttons=buttons)


def broadcast_photo(broadcast) -> tuple[str, bytes] | str | None:
    """The photo to send: Telegram's file_id once known, else the uploaded file's bytes."""
    if not broadcast.photo:
        return None
    if broadcast.photo_file_id:
        return broadcast.photo_file_id
    with broadcast.photo.open("rb") as fh:
        return (broadcast.photo.name.rsplit("/", 1)[-1], fh.read())


# --- preview -----------------------------------------------------------------------------

def preview_html(text: str, buttons=None, *, photo: bool = False) -> SafeString:
    """The message as a Telegram chat bubble: safe to put into the admin page as it is."""
    body = telegram_html.preview(text)
    photo = mark_safe('<div class="tg-photo">📷</div>') if photo else ""
    rows = format_html_join(
        "", '<div class="tg-button">{}{}</div>',
        ((b.get("text", ""), " ↗" if b.get("url") else "") for b in (buttons or []) if isinstance(b, dict)),
    )
    return format_html('<div class="tg-preview"><div class="tg-bubble">{}<div class="tg-text">{}</div></div>'
                       '<div class="tg-buttons">{}</div></div>', photo, body, rows)
