import pytest

from bot.ui import callback, clean_quick_replies, escape, progress_bar, render


def test_escape_and_render_escape_member_text():
    assert escape("<b>жирный</b> & co") == "&lt;b&gt;жирный&lt;/b&gt; &amp; co"
    assert render("<b>{name}</b>", name="<i>x</i>&") == "<b>&lt;i&gt;x&lt;/i&gt;&amp;</b>"
    assert render("{unknown} stays", other=1) == "{unknown} stays"


def test_render_repairs_a_template_telegram_would_refuse():
    from bot.telegram_html import validate

    rendered = render("<b>Привет, {name}<div>!", name="Аня")
    assert rendered == "<b>Привет, Аня!</b>" and validate(rendered) == []


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
