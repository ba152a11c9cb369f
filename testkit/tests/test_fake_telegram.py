"""The fake Telegram Bot API answers the real python-telegram-bot client the way Telegram does."""

import asyncio
import contextlib
import datetime as dtm
import io
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.ext import Application, MessageHandler, filters

from testkit.fake_telegram import FakeTelegram, parse_html, utf16_len

# RetryAfter.retry_after warns about becoming a timedelta; `seconds()` below copes with both.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


class BotRunner:
    """A real telegram.Bot on a background event loop, reused across calls (a new Bot costs ~0.1 s)."""

    def __init__(self, fake):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.bot = telegram.Bot(fake.token, base_url=fake.base_url)
        self(lambda bot: bot.initialize())

    def __call__(self, action):
        """Run `action(bot)` (a coroutine function) and return its result or raise its error."""
        return asyncio.run_coroutine_threadsafe(action(self.bot), self.loop).result(timeout=30)

    def close(self):
        self(lambda bot: bot.shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


@pytest.fixture(scope="module")
def server():
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture(scope="module")
def module_bot(server):
    runner = BotRunner(server)
    yield runner
    runner.close()


@pytest.fixture
def fake(server):
    server.reset()
    return server


@pytest.fixture
def run_bot(module_bot):
    return module_bot


@contextlib.contextmanager
def own_fake(**options):
    """A separately configured fake (rate limits) with its own bot."""
    with FakeTelegram(**options) as fake:
        runner = BotRunner(fake)
        try:
            yield fake, runner
        finally:
            runner.close()


def send(run_bot, chat_id, text, **kwargs):
    return run_bot(lambda bot: bot.send_message(chat_id, text, **kwargs))


def raw_post(fake, method, data, *, as_json=True, token=None):
    """POST without python-telegram-bot; returns (status, body)."""
    if as_json:
        body, content_type = json.dumps(data).encode(), "application/json"
    else:
        body, content_type = urllib.parse.urlencode(data).encode(), "application/x-www-form-urlencoded"
    url = f"{fake.base_url}{token or fake.token}/{method}"
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def seconds(retry_after):
    return retry_after.total_seconds() if isinstance(retry_after, dtm.timedelta) else retry_after


def test_send_message_with_html_and_keyboard_is_recorded(fake, run_bot):
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Да", callback_data="consent:yes")]])

    message = send(run_bot, 42, "<b>Привет</b>, &lt;друг&gt; 😀 <i>!</i>", parse_mode="HTML", reply_markup=keyboard)

    assert message.text == "Привет, <друг> 😀 !"
    assert message.chat.id == 42
    assert message.chat.type == "private"
    assert message.from_user.is_bot
    assert [(e.type, e.offset, e.length) for e in message.entities] == [("bold", 0, 6), ("italic", 18, 1)]
    assert message.reply_markup == keyboard
    [params] = fake.sent_messages(42)
    assert params["chat_id"] == 42
    assert params["parse_mode"] == "HTML"
    assert params["reply_markup"] == {"inline_keyboard": [[{"text": "Да", "callback_data": "consent:yes"}]]}
    assert send(run_bot, 42, "ещё").message_id == message.message_id + 1


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<p>абзац</p>", 'unsupported start tag "p" at byte offset 0'),
        ("<b>жирный", 'find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'expected "</i>", found "</b>"'),
        ("Tom & Jerry", "byte offset 4"),
        ("&nbsp;", "byte offset 0"),
        ("2 < 3", 'unsupported start tag "" at byte offset 2'),
        ('<span class="x">s</span>', "tg-spoiler"),
        ("<a>link</a>", "href"),
    ],
)
def test_invalid_html_is_a_bad_request_and_recorded(fake, run_bot, text, error):
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)parse entities") as exc_info:
        send(run_bot, 42, text, parse_mode="HTML")

    assert error in str(exc_info.value).lower()
    assert fake.sent_messages() == []
    [call] = fake.calls
    assert (call.method, call.status, call.params["text"]) == ("sendMessage", 400, text)
    assert call.description.startswith("Bad Request: can't parse entities: ")


def test_all_telegram_tags_are_accepted(run_bot):
    text = (
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s><strike>k</strike><del>d</del>"
        '<span class="tg-spoiler">p</span><tg-spoiler>t</tg-spoiler><a href="https://relove.ru/?a=1&amp;b=2">a</a>'
        '<code>c</code><pre><code class="language-python">x = 1</code></pre><blockquote expandable>q</blockquote>'
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>&#128512;&#x1F600;&quot;'
    )

    message = send(run_bot, 1, text, parse_mode="HTML")

    types = [entity.type for entity in message.entities]
    assert "expandable_blockquote" in types
    assert "custom_emoji" in types
    pre = next(entity for entity in message.entities if entity.type == "pre")
    assert pre.language == "python"
    assert message.entities[types.index("text_link")].url == "https://relove.ru/?a=1&b=2"
    assert message.text.endswith('😀😀"')


def test_length_is_counted_after_entities_in_utf16(run_bot):
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)message is too long"):
        send(run_bot, 1, "я" * 4097)
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)message is too long"):
        send(run_bot, 1, "😀" * 2049, parse_mode="HTML")  # 4098 UTF-16 code units

    assert send(run_bot, 1, "&amp;" * 4096, parse_mode="HTML").text == "&" * 4096
    assert send(run_bot, 1, "<b>" + "😀" * 2048 + "</b>", parse_mode="HTML")
    assert send(run_bot, 1, "я" * 4096)
    assert utf16_len("😀я") == 3


def test_empty_text_and_missing_chat_id(fake, run_bot):
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)text is empty"):
        send(run_bot, 1, "<b> </b>", parse_mode="HTML")
    assert raw_post(fake, "sendMessage", {"chat_id": 1, "text": ""})[1]["description"] == (
        "Bad Request: message text is empty"
    )
    assert raw_post(fake, "sendMessage", {"text": "hi"}) == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: chat_id is empty"},
    )


def test_caption_limit(fake, run_bot):
    async def send_photo(bot, caption):
        return await bot.send_photo(1, photo=b"\xff\xd8jpeg", caption=caption, parse_mode="HTML")

    with pytest.raises(telegram.error.BadRequest, match=r"(?i)caption is too long"):
        run_bot(lambda bot: send_photo(bot, "я" * 1025))

    message = run_bot(lambda bot: send_photo(bot, "<i>" + "я" * 1024 + "</i>"))
    assert message.photo[-1].file_id
    assert message.caption == "я" * 1024
    assert fake.sent_messages(1)[0]["photo"]["size"] == 6


def test_callback_data_is_limited_to_64_bytes(fake, run_bot):
    def keyboard(data):
        return InlineKeyboardMarkup([[InlineKeyboardButton("Кнопка", callback_data=data)]])

    assert send(run_bot, 1, "ok", reply_markup=keyboard("я" * 32))  # 64 bytes
    # python-telegram-bot does not check this itself: the request reaches the server.
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        send(run_bot, 1, "too long", reply_markup=keyboard("я" * 32 + "x"))  # 65 bytes, 33 characters

    assert [call.status for call in fake.calls] == [200, 400]
    assert [params["text"] for params in fake.sent_messages()] == ["ok"]


def test_inline_buttons_need_text_and_exactly_one_action(fake):
    def send_markup(markup):
        return raw_post(fake, "sendMessage", {"chat_id": 1, "text": "x", "reply_markup": markup})

    status, body = send_markup({"inline_keyboard": [[{"text": "без действия"}]]})
    assert status == 400
    assert "Text buttons are unallowed" in body["description"]
    assert send_markup({"inline_keyboard": [[{"callback_data": "x"}]]})[0] == 400
    assert send_markup({"inline_keyboard": [[{"text": "a", "callback_data": "x", "url": "https://a.b"}]]})[0] == 400
    assert send_markup({"inline_keyboard": [{"text": "not a row"}]})[0] == 400
    assert send_markup({"inline_keyboard": [[{"text": "a", "url": "relove.ru"}]]})[0] == 400
    assert send_markup({"keyboard": [[{"request_contact": True}]]})[0] == 400
    assert send_markup({"keyboard": [["да", {"text": "нет"}]], "resize_keyboard": True})[0] == 200
    assert send_markup("{not json")[1]["description"] == "Bad Request: can't parse reply keyboard markup JSON object"


def test_form_encoded_parameters_are_decoded(fake):
    markup = json.dumps({"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]})
    data = {"chat_id": "5", "text": "123", "reply_markup": markup, "disable_notification": "true"}

    status, body = raw_post(fake, "sendMessage", data, as_json=False)

    assert status == 200
    assert body["result"]["text"] == "123"
    assert fake.sent_messages(5) == [
        {
            "chat_id": 5,
            "text": "123",
            "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]},
            "disable_notification": True,
        }
    ]


def test_blocked_chat_is_forbidden(fake, run_bot):
    fake.block(13)

    with pytest.raises(telegram.error.Forbidden, match=r"(?i)bot was blocked by the user"):
        send(run_bot, 13, "привет")

    assert send(run_bot, 14, "привет")
    [rejected, accepted] = fake.calls
    assert (rejected.chat_id, rejected.status, rejected.description) == (
        13,
        403,
        "Forbidden: bot was blocked by the user",
    )
    assert accepted.ok
    assert fake.sent_messages(13) == []


def test_injected_errors(fake, run_bot):
    fake.fail_next("sendMessage", status=429, retry_after=7)
    fake.fail_next("sendMessage", status=400)
    fake.fail_next("sendMessage", status=502, count=2)

    with pytest.raises(telegram.error.RetryAfter) as exc_info:
        send(run_bot, 1, "a")
    assert seconds(exc_info.value.retry_after) == 7
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)chat not found"):
        send(run_bot, 1, "b")
    for _ in range(2):
        with pytest.raises(telegram.error.NetworkError):
            send(run_bot, 1, "c")
    assert send(run_bot, 1, "d").text == "d"

    assert fake.count_429 == 1
    assert [call.status for call in fake.calls] == [429, 400, 502, 502, 200]
    assert fake.calls[0].response["parameters"] == {"retry_after": 7}


def test_dropped_connection_and_delay(fake, run_bot):
    fake.fail_next("*", status=0)
    with pytest.raises(telegram.error.NetworkError):
        run_bot(lambda bot: bot.send_chat_action(1, "typing"))

    fake.set_delay(0.2)
    started = time.monotonic()
    assert raw_post(fake, "getMe", {})[0] == 200
    assert time.monotonic() - started >= 0.2


def test_global_rate_limit_answers_429_with_retry_after():
    with own_fake(global_rate=5) as (fake, run_bot):

        async def burst(bot):
            for chat_id in range(1, 6):
                await bot.send_message(chat_id, "рассылка")
            await bot.send_message(6, "рассылка")

        with pytest.raises(telegram.error.RetryAfter) as exc_info:
            run_bot(burst)

        assert seconds(exc_info.value.retry_after) >= 1
        assert len(fake.sent_messages()) == 5
        assert fake.count_429 == 1
        rejected = fake.calls[-1]
        assert rejected.status == 429
        assert rejected.response["parameters"]["retry_after"] >= 1
        assert rejected.description.startswith("Too Many Requests: retry after ")


def test_per_chat_rate_limit_with_short_window():
    with FakeTelegram(per_chat_rate=1, window=0.2) as fake:
        assert raw_post(fake, "sendMessage", {"chat_id": 1, "text": "a"})[0] == 200
        assert raw_post(fake, "sendMessage", {"chat_id": 1, "text": "b"})[0] == 429
        assert raw_post(fake, "sendMessage", {"chat_id": 2, "text": "c"})[0] == 200
        time.sleep(0.25)
        assert raw_post(fake, "sendMessage", {"chat_id": 1, "text": "d"})[0] == 200
        assert fake.count_429 == 1


def test_concurrent_sends_get_distinct_message_ids(fake):
    chat_id = 900_001
    first = raw_post(fake, "sendMessage", {"chat_id": chat_id, "text": "x"})[1]["result"]["message_id"]
    results = []

    def worker():
        for _ in range(10):
            body = raw_post(fake, "sendMessage", {"chat_id": chat_id, "text": "x"})[1]
            results.append(body["result"]["message_id"])

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == list(range(first + 1, first + 51))
    assert len(fake.wait_for_messages(51, chat_id=chat_id, timeout=1)) == 51


def test_wait_for_messages_times_out_with_assertion(run_bot, fake):
    send(run_bot, 1, "один")
    with pytest.raises(AssertionError, match="expected 2 sent messages to chat 1"):
        fake.wait_for_messages(2, chat_id=1, timeout=0.1)


def test_get_updates_long_polls_and_confirms_with_offset(fake, run_bot):
    update = fake.message_update(42, "/start ref", username="anya")
    threading.Timer(0.2, fake.push_update, args=[update]).start()

    started = time.monotonic()
    [received] = run_bot(lambda bot: bot.get_updates(timeout=3))
    assert time.monotonic() - started < 2
    assert received.update_id == update["update_id"]
    assert received.message.text == "/start ref"
    assert received.message.from_user.username == "anya"
    assert received.message.entities[0].type == "bot_command"
    assert received.message.entities[0].length == len("/start")

    assert run_bot(lambda bot: bot.get_updates(offset=received.update_id + 1, timeout=0)) == ()
    assert fake.pending_updates() == []


def test_update_builders_parse_in_python_telegram_bot(fake, run_bot):
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    sent = send(run_bot, 42, "Выбери", reply_markup=keyboard)
    builders = [
        fake.callback_update(42, "a"),
        fake.sticker_update(42),
        fake.photo_update(42, caption="фото"),
        fake.edited_message_update(42, "исправлено", message_id=1),
    ]
    for update in builders:
        fake.push_update(update)

    updates = run_bot(lambda bot: bot.get_updates(timeout=0))

    assert [u.update_id for u in updates] == [u["update_id"] for u in builders]
    callback = updates[0].callback_query
    assert callback.data == "a"
    assert callback.message.message_id == sent.message_id
    assert callback.message.reply_markup == keyboard
    assert updates[1].message.sticker.emoji
    assert updates[2].message.photo[-1].width == 800
    assert updates[3].edited_message.text == "исправлено"
    assert run_bot(lambda bot: bot.answer_callback_query(callback.id)) is True
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)query is too old"):
        run_bot(lambda bot: bot.answer_callback_query(callback.id))


def test_application_polling_receives_update_and_replies(fake):
    async def echo(update, context):
        await update.message.reply_text(f"Ты написала: {update.message.text}")

    async def main():
        application = Application.builder().token(fake.token).base_url(fake.base_url).build()
        application.add_handler(MessageHandler(filters.TEXT, echo))
        await application.initialize()
        await application.start()
        await application.updater.start_polling(poll_interval=0, timeout=1)
        try:
            fake.push_update(fake.message_update(77, "привет"))
            await asyncio.to_thread(fake.wait_for_messages, 1, chat_id=77, timeout=5)
        finally:
            await application.updater.stop()
            await application.stop()
            await application.shutdown()

    asyncio.run(main())

    [reply] = fake.sent_messages(77)
    assert reply["text"] == "Ты написала: привет"
    assert fake.pending_updates() == []  # the updater confirmed the update when it stopped
    assert {"getMe", "deleteWebhook", "getUpdates", "sendMessage"} <= {call.method for call in fake.calls}


def test_send_document_is_multipart_with_filename(fake, run_bot):
    async def upload(bot):
        return await bot.send_document(5, document=io.BytesIO(b'{"ok": 1}'), filename="мои данные.json", caption="Вот")

    message = run_bot(upload)

    assert message.document.file_name == "мои данные.json"
    params = fake.sent_messages(5)[0]
    assert params["document"]["filename"] == "мои данные.json"
    assert params["document"]["content"] == b'{"ok": 1}'
    assert params["caption"] == "Вот"


def test_webhook_registration(fake, run_bot):
    url = "https://bot.relove.ru/telegram/webhook/"
    assert run_bot(lambda bot: bot.set_webhook(url, secret_token="s3cr3t_-X", max_connections=10))

    assert fake.webhook["url"] == url
    assert fake.webhook["secret_token"] == "s3cr3t_-X"
    assert fake.webhook_headers() == {"X-Telegram-Bot-Api-Secret-Token": "s3cr3t_-X"}
    with pytest.raises(telegram.error.Conflict, match=r"(?i)webhook is active"):
        run_bot(lambda bot: bot.get_updates(timeout=0))
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)HTTPS URL"):
        run_bot(lambda bot: bot.set_webhook("http://bot.relove.ru/telegram/webhook/"))
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)ports"):
        run_bot(lambda bot: bot.set_webhook("https://bot.relove.ru:8000/hook/"))

    assert run_bot(lambda bot: bot.delete_webhook())
    assert fake.webhook is None


def test_commands_unknown_method_and_wrong_token(fake, run_bot):
    assert run_bot(lambda bot: bot.set_my_commands([("start", "Начать"), ("help", "Помощь")]))
    assert [c["command"] for c in fake.commands] == ["start", "help"]
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        run_bot(lambda bot: bot.set_my_commands([("Start", "x")]))
    # Only the methods the product calls are served; others answer as unknown methods do.
    assert raw_post(fake, "getMyCommands", {})[1]["error_code"] == 404

    assert raw_post(fake, "sendSomething", {})[1] == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert raw_post(fake, "getMe", {}, token="999:WRONG")[1]["error_code"] == 401
    with pytest.raises(telegram.error.InvalidToken):
        asyncio.run(telegram.Bot("999:WRONG", base_url=fake.base_url).initialize())
    assert raw_post(fake, "GETME", {})[0] == 200  # method names are case-insensitive


def test_reset_and_stop():
    fake = FakeTelegram().start()
    raw_post(fake, "sendMessage", {"chat_id": 1, "text": "x"})
    fake.block(2)
    fake.fail_next("sendMessage")
    fake.reset()
    assert fake.calls == []
    assert raw_post(fake, "sendMessage", {"chat_id": 2, "text": "y"})[0] == 200

    url = f"{fake.base_url}{fake.token}/getMe"
    fake.stop()
    fake.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, data=b"", timeout=1)


def test_parse_html_offsets_are_utf16():
    text, entities = parse_html("😀 <b>жир</b> <a href='tg://user?id=1'>Аня</a>")

    assert text == "😀 жир Аня"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 3},
        {"type": "text_link", "offset": 7, "length": 3, "url": "tg://user?id=1"},
    ]
