import pytest

from bot.ui import (
    callback,
    clean_quick_replies,
    escape,
    progress_bar,
    render,
    split_message,
    validate_telegram_html,
    visible_length,
)


def test_escape_and_render_escape_member_text():
    assert escape("<b>жирный</b> & co") == "&lt;b&gt;жирный&lt;/b&gt; &amp; co"
    assert render("<b>{name}</b>", name="<i>x</i>&") == "<b>&lt;i&gt;x&lt;/i&gt;&amp;</b>"
    assert render("{unknown} stays", other=1) == "{unknown} stays"


def test_visible_length_counts_entities_once_and_utf16():
    assert visible_length("<b>a&amp;b</b>") == 3
    assert visible_length("😀") == 2  # Telegram counts UTF-16 code units


def test_split_respects_limit_and_prefers_paragraphs():
    paragraphs = [f"Абзац номер {i}. " + "слово " * 150 for i in range(12)]
    text = "\n\n".join(paragraphs)
    parts = split_message(text)
    assert len(parts) > 1
    assert all(visible_length(p) <= 4096 for p in parts)
    assert all(p.startswith("Абзац номер") for p in parts)  # cut between paragraphs
    assert "".join(parts).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")


def test_split_a_single_huge_word_and_keeps_tags_balanced():
    text = "<b>" + "я" * 9000 + "</b>"
    parts = split_message(text)
    assert len(parts) == 3
    for part in parts:
        assert visible_length(part) <= 4096
        assert validate_telegram_html(part) == []


def test_split_never_cuts_an_entity():
    parts = split_message("&amp;" * 5000)
    assert all(validate_telegram_html(p) == [] for p in parts)
    assert sum(visible_length(p) for p in parts) == 5000


def test_validate_telegram_html():
    assert validate_telegram_html("<b>ok</b> <a href='https://relove.ru'>x</a>") == []
    assert validate_telegram_html("<div>x</div>")
    assert validate_telegram_html("<b>x")
    assert validate_telegram_html("a & b")
    assert validate_telegram_html("x" * 4097)


def test_callback_data_limit():
    assert callback("q", 12, 2) == "q:12:2"
    with pytest.raises(ValueError):
        callback("x" * 65)
    with pytest.raises(ValueError):
        callback("я" * 33)  # 66 bytes


def test_progress_bar():
    assert progress_bar(3) == "✅✅🔥⚪️⚪️⚪️⚪️⚪️⚪️⚪️⚪️⚪️ 3/12"
    assert progress_bar(None).endswith("1/12")
    assert progress_bar(12).startswith("✅" * 11 + "🔥")


def test_quick_replies_are_short_distinct_and_at_most_three():
    assert clean_quick_replies(["a", "a", " b ", "", 5, "c", "d"]) == ["a", "b", "c"]
    assert len(clean_quick_replies(["я" * 100])[0]) == 40
