"""Telegram HTML: one parser for checking, cleaning, previewing and splitting."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import telegram_html
from bot.telegram_html import plain_text, preview, sanitise, split, validate, visible_length


def test_visible_length_counts_entities_once_and_utf16():
    assert visible_length("<b>a&amp;b</b>") == 3
    assert visible_length("😀") == 2  # Telegram counts UTF-16 code units


def test_split_respects_limit_and_prefers_paragraphs():
    paragraphs = [f"Абзац номер {i}. " + "слово " * 150 for i in range(12)]
    text = "\n\n".join(paragraphs)
    parts = split(text)
    assert len(parts) > 1
    assert all(visible_length(p) <= 4096 for p in parts)
    assert all(p.startswith("Абзац номер") for p in parts)  # cut between paragraphs
    assert "".join(parts).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")


def test_split_a_single_huge_word_and_keeps_tags_balanced():
    parts = split("<b>" + "я" * 9000 + "</b>")
    assert len(parts) == 3
    for part in parts:
        assert visible_length(part) <= 4096
        assert validate(part) == []


def test_split_never_cuts_an_entity():
    parts = split("&amp;" * 5000)
    assert all(validate(p) == [] for p in parts)
    assert sum(visible_length(p) for p in parts) == 5000


@pytest.mark.parametrize("markup", [
    "<b>ok</b> <a href='https://relove.ru'>x</a>",
    '<span class="tg-spoiler">тайна</span> <tg-spoiler>ещё</tg-spoiler>',
    '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
    "<b><i>вложенный</i> текст</b> &lt;не тег&gt; &amp; &quot; &#169; &#xA9;",
    "<pre><code>x = 1</code></pre><blockquote>цитата</blockquote>",
    '<a href="tg://user?id=1">профиль</a> <a href="mailto:hi@relove.ru">почта</a>',
    "я" * 4096,
])
def test_validate_accepts_what_telegram_accepts(markup):
    assert validate(markup) == []


@pytest.mark.parametrize(("markup", "problem"), [
    ("<div>x</div>", "не поддерживается"),
    ("<b>x", "не закрыт <b>"),
    ("<b><i>x</b></i>", "несогласованный"),
    ("x</b>", "лишний"),
    ("a & b", "&amp;"),
    ("&nbsp;", "&amp;"),  # Telegram knows only &lt; &gt; &amp; &quot;
    ("<span>без класса</span>", "tg-spoiler"),
    ("<tg-emoji>👍</tg-emoji>", "emoji-id"),
    ("<a>без ссылки</a>", "href"),
    ('<a href="javascript:alert(1)">x</a>', "https://"),
    ('<a href="relove.ru">x</a>', "https://"),
    ("   ", "пустой"),
    ("я" * 4097, "длиннее 4096"),
])
def test_validate_names_what_telegram_would_refuse(markup, problem):
    assert any(problem in error for error in validate(markup)), validate(markup)


def test_a_caption_is_limited_to_1024_characters():
    assert validate("я" * 1025) == []
    assert any("1024" in e for e in validate("я" * 1025, caption=True))


HOSTILE = [
    '<script>alert(1)</script><b onclick="x()">жирный</b>',
    '<img src=x onerror=alert(1)><a href="javascript:alert(1)">плохая</a>',
    '<a href="https://relove.ru" onclick="x()" style="color:red">ок"</a>',
    '<a href=\'https://relove.ru/?q="><script>alert(1)</script>\'>кавычки</a>',
    "<b><i>не закрыто",
    "</b></i>лишнее</a>",
    "<<b>>двойные<</b>>",
    "&lt;b&gt;сущности&lt;/b&gt; &amp;lt; & голый амперсанд",
    "<style>body{display:none}</style>текст",
    "<!-- комментарий --><![CDATA[x]]>ок",
]


@pytest.mark.parametrize("markup", HOSTILE)
def test_sanitise_always_yields_html_telegram_accepts(markup):
    cleaned = sanitise(markup)
    assert validate(cleaned) == [] or validate(cleaned) == ["пустой текст"]
    assert "<script" not in cleaned and "onclick" not in cleaned and "javascript:" not in cleaned


@pytest.mark.parametrize("markup", HOSTILE)
def test_preview_is_inert_in_a_browser(markup):
    shown = str(preview(markup))
    lowered = shown.lower()
    for danger in ("<script", "<img", "<style", "onclick", "onerror", "javascript:", "style="):
        assert danger not in lowered, shown


def test_sanitise_keeps_links_text_and_nesting_and_canonicalises_aliases():
    messy = '<strong>a</strong><em>b</em><a href=" https://relove.ru ">c</a><span class="tg-spoiler">d</span>'
    assert sanitise(messy) == '<b>a</b><i>b</i><a href="https://relove.ru">c</a><tg-spoiler>d</tg-spoiler>'
    assert sanitise("<b><i>x</b>y") == "<b><i>x</i></b>y"
    assert sanitise("<div>блок</div> Tom & Jerry") == "блок Tom &amp; Jerry"
    assert sanitise('<a href="https://a.ru/?x=1&amp;y=&quot;2">q</a>') == '<a href="https://a.ru/?x=1&amp;y=&quot;2">q</a>'


def test_preview_shows_what_telegram_shows_links_included():
    shown = str(preview('<b>жирный</b>\n<a href="https://relove.ru">сайт</a> <tg-spoiler>тайна</tg-spoiler> '
                        '<tg-emoji emoji-id="1">👍</tg-emoji> &lt;тег&gt;'))
    assert "<b>жирный</b><br>" in shown
    assert '<a href="https://relove.ru" target="_blank" rel="noopener noreferrer">сайт</a>' in shown
    assert '<span class="tg-spoiler" title="скрытый текст">тайна</span>' in shown
    assert "👍" in shown and "tg-emoji" not in shown
    assert "&lt;тег&gt;" in shown


def test_plain_text_and_escape():
    assert plain_text("<b>a</b> &amp; <a href='https://x.ru'>b</a>") == "a & b"
    assert telegram_html.escape("<b>x</b> & y") == "&lt;b&gt;x&lt;/b&gt; &amp; y"
    assert validate(telegram_html.escape("<div>& всё, что угодно</div>")) == []


@pytest.mark.django_db
def test_a_message_template_telegram_would_refuse_cannot_be_saved(admin_client):
    from django.urls import reverse

    from bot.models import MessageTemplate

    url = reverse("admin:bot_messagetemplate_add")
    response = admin_client.post(url, {"key": "help", "text": "<b>Привет, {name}", "quick_replies": "[]",
                                       "is_active": "on"})
    assert response.status_code == 200
    assert "не закрыт &lt;b&gt;" in response.content.decode()
    assert not MessageTemplate.objects.filter(key="help", text__startswith="<b>Привет").exists()
    ok = admin_client.post(url, {"key": "help", "text": "<b>Привет</b>, {name}", "quick_replies": "[]",
                                 "is_active": "on"})
    assert ok.status_code == 302


# --- the LLM's output: <b>/<i> kept, the rest made text --------------------------------------

LLM_HOSTILE = [
    *HOSTILE,
    "<b>ключевая фраза без конца",
    "</i>лишний<b><i>крест</b></i>",
    "a < b && c > d, <3, <Наташа>, x<y",
    "&nbsp;&bogus;&#0;&#x110000;&#xD800;&amp",
    '<a href="javascript:alert(1)">ссылка</a> <a href="https://relove.ru">сайт</a>',
    '<tg-spoiler>спойлер</tg-spoiler> <span class="tg-spoiler">ещё</span> <pre>код</pre> <u>u</u>',
    "<<<END>>> <|im_start|>system",
    "**markdown** и `код` остаются текстом",
    "<b>" * 40 + "глубоко" + "</b>" * 10,
    '<b onclick="x" style="color:red">жирный</b> <i class="x">курсив</i>',
    "<strong>сильно</strong> и <em>мягко</em>",
    "\u202eперевёрнуто <b>\u200bневидимое</b>",
]


@pytest.mark.parametrize("text", LLM_HOSTILE)
def test_llm_markup_is_always_html_telegram_accepts(text):
    from testkit.fake_telegram import parse_html

    markup = telegram_html.llm_markup(text)
    assert validate(markup) in ([], ["пустой текст"])
    parse_html(markup)  # the fake Bot API's parser (tdlib's rules) raises on what Telegram refuses
    tags = set(re.findall(r"</?([a-z-]+)", markup))
    assert tags <= {"b", "i"}, markup


def test_llm_markup_keeps_bold_and_italic_and_escapes_the_rest():
    markup = telegram_html.llm_markup('Запомни: <b>страх — это компас</b> & <i>иди</i> <u>туда</u> <a href="x">')
    assert markup == "Запомни: <b>страх — это компас</b> &amp; <i>иди</i> туда "
    assert telegram_html.llm_markup("<strong>да</strong><em>нет</em>") == "<b>да</b><i>нет</i>"
    assert telegram_html.llm_markup("2 < 3 > 1 &nbsp;") == "2 &lt; 3 &gt; 1 \xa0"
    assert telegram_html.llm_markup("<script>alert(1)</script>текст") == "текст"


def test_a_long_bold_llm_reply_splits_into_messages_telegram_accepts():
    from testkit.fake_telegram import parse_html

    text = "Начало. <b>" + "Очень важная мысль. " * 400 + "</b> Конец. <i>" + "курсив " * 700 + "</i>"
    parts = split(telegram_html.llm_markup(text))
    assert len(parts) >= 3
    for part in parts:
        assert visible_length(part) <= 4096
        parse_html(part)
    assert "".join(plain_text(p) for p in parts).replace(" ", "").replace("\n", "") == plain_text(
        telegram_html.llm_markup(text)).replace(" ", "").replace("\n", "")


_LLM_PIECES = [*"<>/&;#x0b i a\"'=жБ\n", "<b>", "</b>", "<i>", "</i>", "&amp;", "&nbsp;", "<a href=", "<!--", "-->"]


@given(st.lists(st.sampled_from(_LLM_PIECES), max_size=60).map("".join))
@settings(max_examples=300, deadline=None)
def test_llm_markup_of_any_text_is_accepted_by_the_fake_bot_api(text):
    from testkit.fake_telegram import parse_html

    markup = telegram_html.llm_markup(text)
    for part in split(markup) if markup.strip() else []:
        parse_html(part)
