from django.http import QueryDict

from bot.outbound import OutgoingPhoto
from broadcasts.forms import ButtonListWidget, buttons_from_rows
from broadcasts.models import Broadcast
from broadcasts.rendering import (
    broadcast_message,
    button_callback,
    check_buttons,
    check_text,
    parse_button_callback,
    preview_html,
)


def test_valid_telegram_html_passes():
    assert check_text('<b>Новый поток</b> <a href="https://relove.ru">тут</a> <span class="tg-spoiler">!</span>') == []


def test_html_telegram_would_reject_is_reported():
    assert check_text("<b>не закрыт")
    assert check_text("<div>блок</div>")
    assert check_text("<span>без класса</span>")
    assert check_text('<a href="javascript:alert(1)">x</a>')
    assert check_text("Tom & Jerry")
    assert check_text("")
    assert check_text("я" * 4097)
    assert check_text("я" * 4096) == []


def test_a_photo_caption_is_limited_to_1024_characters():
    assert check_text("я" * 1025) == []
    assert any("1024" in e for e in check_text("я" * 1025, has_photo=True))


def test_buttons_are_links_or_quick_replies_within_telegram_limits():
    assert check_buttons([{"text": "Сайт", "url": "https://relove.ru"}, {"text": "Да", "reply": "Да, хочу"}]) == []
    assert check_buttons([{"text": "Сайт", "url": "ftp://relove.ru"}])
    assert check_buttons([{"text": "", "reply": "x"}])
    assert check_buttons([{"text": "x", "url": "https://a.ru", "reply": "y"}])
    assert check_buttons([{"text": "x", "reply": "я" * 201}])
    assert check_buttons([{"text": str(i)} for i in range(9)])
    assert check_buttons("не список")


def test_quick_reply_callback_fits_64_bytes_and_parses_back():
    data = button_callback(10**12, 7)
    assert len(data.encode()) <= 64
    assert parse_button_callback(data) == (10**12, 7)
    assert parse_button_callback("q:1:2") is None
    assert parse_button_callback("b:x:1") is None


def test_button_rows_become_links_and_quick_replies():
    buttons = buttons_from_rows([" Сайт ", "Да", "Не сейчас", ""], ["url", "reply", "reply", "reply"],
                                ["https://relove.ru", "", "Напомни позже", ""])
    assert buttons == [{"text": "Сайт", "url": "https://relove.ru"}, {"text": "Да", "reply": "Да"},
                       {"text": "Не сейчас", "reply": "Напомни позже"}]  # the empty row is dropped


def test_button_list_widget_renders_rows_and_reads_them_back():
    widget = ButtonListWidget()
    html = widget.render("buttons", [{"text": "Сайт", "url": "https://relove.ru"}, {"text": "Да", "reply": "Ок"}])
    assert html.count('class="bc-button-row"') == 3  # two rows and the template row for «Добавить»
    assert 'value="https://relove.ru"' in html and 'value="Ок"' in html and "{" not in html.replace("{%", "")
    data = QueryDict(mutable=True)
    data.setlist("buttons_text", ["Сайт", "Да"])
    data.setlist("buttons_kind", ["url", "reply"])
    data.setlist("buttons_target", ["https://relove.ru", "Ок"])
    assert widget.value_from_datadict(data, {}, "buttons") == [{"text": "Сайт", "url": "https://relove.ru"},
                                                               {"text": "Да", "reply": "Ок"}]
    assert widget.value_omitted_from_data(QueryDict(), {}, "buttons")


def test_message_has_buttons_one_per_row_and_photo_becomes_caption():
    broadcast = Broadcast(pk=5, text="<b>Привет</b>", buttons=[{"text": "Сайт", "url": "https://relove.ru"},
                                                              {"text": "Да", "reply": "Да"}])
    message = broadcast_message(broadcast)
    assert [[b.url or b.callback_data for b in row] for row in message.buttons] == [["https://relove.ru"], ["b:5:1"]]
    photo = broadcast_message(broadcast, photo="AgACAgIAAxkBAAIfileid")
    assert isinstance(photo, OutgoingPhoto) and photo.photo == "AgACAgIAAxkBAAIfileid"


def test_preview_escapes_everything_but_telegram_formatting():
    html = str(preview_html('<b onclick="x()">жирный</b> <a href="javascript:alert(1)">плохая</a> '
                            '<a href="https://relove.ru">хорошая</a> &lt;script&gt;\nстрока',
                            [{"text": "<i>Кнопка</i>", "url": "https://relove.ru"}]))
    assert "<b>жирный</b>" in html
    assert "onclick" not in html and "javascript:" not in html
    assert 'href="https://relove.ru"' in html
    assert "&lt;script&gt;" in html and "<script" not in html
    assert "<br>строка" in html
    assert "&lt;i&gt;Кнопка&lt;/i&gt;" in html
