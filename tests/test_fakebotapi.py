"""The fake Bot API server works with the real python-telegram-bot Application."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, EndPointNotFound, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakebotapi import MAX_TEXT_LENGTH, FakeBotApi, UploadedFile, telegram_html_text

TOKEN = "123456789:TEST-token"
USER = 4242
App = Application[Any, Any, Any, Any, Any, Any]


@dataclass
class Harness:
    """A running Application polling a fake Bot API, plus the errors its handlers raised."""

    api: FakeBotApi
    app: App
    errors: list[BaseException] = field(default_factory=list)
    error_seen: asyncio.Event = field(default_factory=asyncio.Event)


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="yes")]])
    assert update.effective_message is not None
    await update.effective_message.reply_text("Choose", reply_markup=keyboard)


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None and update.effective_message.text
    await update.effective_message.reply_text(update.effective_message.text)


async def _button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer(f"got {query.data}")
    await query.edit_message_text(f"pressed {query.data}")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(token=TOKEN) as fake:
        yield fake


@pytest.fixture
async def harness(api: FakeBotApi) -> AsyncIterator[Harness]:
    app: App = (
        ApplicationBuilder().token(TOKEN).base_url(api.base_url).base_file_url(api.base_file_url).build()
    )
    h = Harness(api, app)

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.error is not None
        h.errors.append(context.error)
        h.error_seen.set()

    app.add_handler(CommandHandler("start", _start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, _echo))
    app.add_handler(CallbackQueryHandler(_button))
    app.add_error_handler(on_error)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield h
        finally:
            await app.updater.stop()
            await app.stop()


async def _raw(api: FakeBotApi, method: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(f"{api.base_url}{TOKEN}/{method}", **kwargs)


async def test_fakebotapi_echoes_text_through_application(harness: Harness) -> None:
    update = harness.api.send_text(USER, "hello there")
    [reply] = await harness.api.wait_for_messages(USER, 1, timeout=5)
    assert reply.method == "sendMessage"
    assert reply.text == "hello there"
    assert reply.chat_id == USER
    assert reply.message_id == update["message"]["message_id"] + 1
    assert [m.text for m in harness.api.messages_to(USER)] == ["hello there"]
    assert {"getMe", "deleteWebhook", "getUpdates"} <= {c.method for c in harness.api.calls}


async def test_fakebotapi_answers_button_press(harness: Harness) -> None:
    api = harness.api
    api.send_command(USER, "/start")
    [menu] = await api.wait_for_messages(USER, 1, timeout=5)
    assert menu.reply_markup == {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]}
    update = api.press_button(USER, "yes", menu.message_id)
    assert update["callback_query"]["message"]["reply_markup"] == menu.reply_markup
    [edit] = await api.wait_for_messages(USER, 1, timeout=5)
    assert (edit.method, edit.message_id, edit.text) == (
        "editMessageText",
        menu.message_id,
        "pressed yes",
    )
    [answer] = api.calls_to("answerCallbackQuery")
    assert answer["callback_query_id"] == update["callback_query"]["id"]
    assert answer["text"] == "got yes"
    assert not harness.errors


@pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")
async def test_fakebotapi_retry_after_raises_retry_after(harness: Harness) -> None:
    api = harness.api
    api.fail_next("sendMessage", 1, "retry_after")
    api.send_text(USER, "first")
    await asyncio.wait_for(harness.error_seen.wait(), 5)
    [error] = harness.errors
    assert isinstance(error, RetryAfter)
    assert "Retry in 1" in str(error)
    assert [c.failure for c in api.calls if c.method == "sendMessage"] == ["retry_after"]
    # Only one call failed: the next echo goes through.
    api.send_text(USER, "second")
    [reply] = await api.wait_for_messages(USER, 1, timeout=5)
    assert reply.text == "second"
    # A direct call sees the same exception.
    api.fail_next("sendMessage", 1, "retry_after")
    with pytest.raises(RetryAfter):
        await harness.app.bot.send_message(USER, "manual")


async def test_fakebotapi_blocked_raises_forbidden(harness: Harness) -> None:
    harness.api.fail_next("sendMessage", 1, "blocked")
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await harness.app.bot.send_message(USER, "hi")
    assert harness.api.sent == []


async def test_fakebotapi_server_error_raises_network_error(harness: Harness) -> None:
    harness.api.fail_next("sendMessage", 1, "server_error")
    with pytest.raises(NetworkError):
        await harness.app.bot.send_message(USER, "hi")
    await harness.app.bot.send_message(USER, "again")
    assert [m.text for m in harness.api.sent] == ["again"]


async def test_fakebotapi_timeout_failure_raises_timed_out(harness: Harness) -> None:
    harness.api.fail_next("sendMessage", 1, "timeout")
    started = time.monotonic()
    with pytest.raises(TimedOut):
        await harness.app.bot.send_message(USER, "hi", read_timeout=0.3)
    assert time.monotonic() - started < 3


async def test_fakebotapi_set_my_commands_recorded_by_language(harness: Harness) -> None:
    bot = harness.app.bot
    await bot.set_my_commands([BotCommand("start", "Start")])
    await bot.set_my_commands([BotCommand("start", "شروع"), BotCommand("help", "کمک")], language_code="fa")
    assert harness.api.commands == {
        "": [{"command": "start", "description": "Start"}],
        "fa": [
            {"command": "start", "description": "شروع"},
            {"command": "help", "description": "کمک"},
        ],
    }
    fetched = await bot.get_my_commands(language_code="fa")
    assert [c.command for c in fetched] == ["start", "help"]
    await bot.delete_my_commands(language_code="fa")
    assert list(harness.api.commands) == [""]


async def test_fakebotapi_unknown_method_returns_404(harness: Harness) -> None:
    response = await _raw(harness.api, "sendDice", data={"chat_id": USER})
    assert response.status_code == 404
    assert response.json() == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found: method not found",
    }
    with pytest.raises(EndPointNotFound):
        await harness.app.bot.do_api_request("send_unicorn")


async def test_fakebotapi_decodes_form_json_and_multipart_params(api: FakeBotApi) -> None:
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    form = {"chat_id": "7", "text": "123", "reply_markup": json.dumps(markup)}
    assert (await _raw(api, "sendMessage", data=form)).json()["result"]["reply_markup"] == markup
    await _raw(api, "sendMessage", json={"chat_id": 7, "text": "json", "parse_mode": "HTML"})
    files = {"document": ("a.txt", b"\x00\xffdata", "text/plain")}
    multipart = {"chat_id": "7", "text": "true", "reply_markup": json.dumps(markup)}
    assert (await _raw(api, "sendMessage", data=multipart, files=files)).status_code == 200
    assert [(m.chat_id, m.text, m.parse_mode, m.reply_markup) for m in api.sent] == [
        (7, "123", None, markup),
        (7, "json", "HTML", None),
        (7, "true", None, markup),
    ]
    uploaded = api.calls[-1].params["document"]
    assert uploaded == UploadedFile("a.txt", "text/plain", b"\x00\xffdata")
    assert [m.message_id for m in api.sent] == [1, 2, 3]


async def test_fakebotapi_long_poll_honours_offset_and_timeout(api: FakeBotApi) -> None:
    started = time.monotonic()
    empty = await _raw(api, "getUpdates", data={"timeout": "0.3"})
    assert empty.json() == {"ok": True, "result": []}
    assert time.monotonic() - started >= 0.25

    async def queue_later() -> dict[str, Any]:
        await asyncio.sleep(0.1)
        return api.send_text(USER, "wake up")

    started = time.monotonic()
    response, update = await asyncio.gather(_raw(api, "getUpdates", data={"timeout": "5"}), queue_later())
    assert time.monotonic() - started < 2
    assert response.json()["result"] == [update]
    again = await _raw(api, "getUpdates", data={"offset": str(update["update_id"])})
    assert again.json()["result"] == [update]
    confirmed = await _raw(api, "getUpdates", data={"offset": str(update["update_id"] + 1)})
    assert confirmed.json()["result"] == []
    assert api.pending_update_count == 0


async def test_fakebotapi_close_does_not_hang_with_open_long_poll() -> None:
    api = FakeBotApi(token=TOKEN)
    await api.start()
    poll = asyncio.create_task(_raw(api, "getUpdates", data={"timeout": "30"}))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await asyncio.wait_for(api.close(), 2)
    assert time.monotonic() - started < 1
    with contextlib.suppress(httpx.HTTPError):
        await asyncio.wait_for(poll, 2)


async def test_fakebotapi_update_factories_parse_as_ptb_updates(api: FakeBotApi) -> None:
    command = Update.de_json(api.send_command(USER, "start", payload="ref-1"), None)
    assert command.message is not None and command.message.text == "/start ref-1"
    assert command.message.entities[0].type == "bot_command"
    assert command.message.entities[0].length == len("/start")
    text = Update.de_json(api.send_text(USER, "salam", language_code="fa"), None)
    assert text.effective_user is not None and text.effective_user.language_code == "fa"
    message_fields = {
        "voice": api.send_voice(USER),
        "photo": api.send_photo(USER),
        "sticker": api.send_sticker(USER),
        "location": api.send_location(USER),
        "contact": api.send_contact(USER),
        "document": api.send_document(USER),
    }
    for name, update in message_fields.items():
        message = Update.de_json(update, None).message
        assert message is not None and getattr(message, name), name
    assert text.message is not None
    edited = Update.de_json(api.edit_text(USER, text.message.message_id, "salam!"), None)
    assert edited.edited_message is not None and edited.edited_message.text == "salam!"
    group = Update.de_json(api.send_group_text(-100, USER, "hi all"), None)
    assert group.effective_chat is not None and group.effective_chat.type == "group"
    ids = [u["update_id"] for u in (await _raw(api, "getUpdates")).json()["result"]]
    assert ids == list(range(1, 11))
    with pytest.raises(LookupError):
        api.press_button(USER, "x", 999)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Free & <b>no cost", 'Bare "&" at byte offset 5'),
        ("1 < 2", "Unclosed start tag at byte offset 2"),
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x</b>", 'Unexpected end tag "b" at byte offset 1'),
        ("a<br>b", 'Unsupported start tag "br" at byte offset 1'),
        ("<script>x</script>", 'Unsupported start tag "script"'),
        ("&nbsp;x", 'Bare "&" at byte offset 0'),
        ('<span class="red">x</span>', 'Tag "span" must have class "tg-spoiler"'),
        ("é&x", 'Bare "&" at byte offset 2'),  # offsets count UTF-8 bytes, as Telegram's do
    ],
)
async def test_fakebotapi_refuses_html_telegram_cannot_parse(
    harness: Harness, text: str, reason: str
) -> None:
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await harness.app.bot.send_message(USER, text, parse_mode="HTML")
    assert harness.api.sent == []
    [call] = harness.api.refused_calls()
    assert call.method == "sendMessage"
    assert call.refusal is not None
    assert call.refusal.startswith("Bad Request: can't parse entities: " + reason)


async def test_fakebotapi_accepts_the_documented_html_subset(harness: Harness) -> None:
    text = (
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s><strike>k</strike>"
        '<del>d</del><a href="https://x.be/?a=1&amp;b=2">a</a><code>c</code>'
        '<pre><code class="language-python">p</code></pre><span class="tg-spoiler">h</span>'
        '<tg-spoiler>t</tg-spoiler><blockquote expandable>q</blockquote><tg-emoji emoji-id="5">👍</tg-emoji>'
        " &lt;&gt;&amp;&quot;&#65;&#x42;"
    )
    await harness.app.bot.send_message(USER, text, parse_mode="HTML")
    assert [m.text for m in harness.api.sent] == [text]
    assert telegram_html_text(text) == 'bsieunskdacphtq👍 <>&"AB'
    # Without a parse mode the same characters are plain text.
    await harness.app.bot.send_message(USER, "Free & <b>no cost")
    assert harness.api.sent[-1].parse_mode is None


async def test_fakebotapi_refuses_text_over_4096_visible_characters(harness: Harness) -> None:
    bot = harness.app.bot
    # Tags and entities do not count: 4,096 visible characters pass ...
    await bot.send_message(USER, "<b>" + "&amp;" * MAX_TEXT_LENGTH + "</b>", parse_mode="HTML")
    await bot.send_message(USER, "x" * MAX_TEXT_LENGTH)
    # ... and one more is refused, with or without markup.
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(USER, "<i>" + "y" * (MAX_TEXT_LENGTH + 1) + "</i>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(USER, "z" * (MAX_TEXT_LENGTH + 1))
    assert len(harness.api.sent) == 2


async def test_fakebotapi_refuses_callback_data_over_64_bytes(harness: Harness) -> None:
    bot = harness.app.bot

    def keyboard(data: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton("ok", callback_data="ok"), InlineKeyboardButton("x", callback_data=data)]]
        )

    await bot.send_message(USER, "fits", reply_markup=keyboard("é" * 32))  # 64 bytes
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(USER, "too long", reply_markup=keyboard("é" * 32 + "x"))  # 65 bytes
    assert [m.text for m in harness.api.sent] == ["fits"]


async def test_fakebotapi_edits_are_checked_like_sends(harness: Harness) -> None:
    bot = harness.app.bot
    message = await bot.send_message(USER, "<b>fine</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.edit_message_text("<b>broken", USER, message.message_id, parse_mode="HTML")
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.edit_message_text("x" * (MAX_TEXT_LENGTH + 1), USER, message.message_id)


async def test_fakebotapi_bad_request_failure_raises_bad_request(harness: Harness) -> None:
    harness.api.fail_next("sendMessage", 1, "bad_request", description="chat not found")
    with pytest.raises(BadRequest, match="Chat not found"):
        await harness.app.bot.send_message(USER, "hi")
    [call] = harness.api.refused_calls()
    assert (call.failure, call.refusal) == ("bad_request", "Bad Request: chat not found")
    await harness.app.bot.send_message(USER, "again")
    assert [m.text for m in harness.api.sent] == ["again"]


async def test_fakebotapi_retry_after_carries_its_parameter(api: FakeBotApi) -> None:
    api.fail_next("sendMessage", 1, "retry_after", retry_after=7)
    response = await _raw(api, "sendMessage", json={"chat_id": USER, "text": "x"})
    assert response.status_code == 429
    assert response.json()["parameters"] == {"retry_after": 7}


async def test_fakebotapi_set_webhook_records_the_secret_and_wants_https(api: FakeBotApi) -> None:
    refused = await _raw(api, "setWebhook", json={"url": "http://example.org/hook"})
    assert refused.status_code == 400 and "HTTPS" in refused.json()["description"]
    accepted = await _raw(
        api, "setWebhook", json={"url": "https://example.org/hook", "secret_token": "s3cret_-"}
    )
    assert accepted.json() == {"ok": True, "result": True}
    assert (api.webhook_url, api.webhook_secret) == ("https://example.org/hook", "s3cret_-")


async def test_fakebotapi_listeners_and_forgotten_records(api: FakeBotApi) -> None:
    heard: list[str] = []
    api.add_listener(lambda message: heard.append(message.text))
    await _raw(api, "sendMessage", json={"chat_id": USER, "text": "one"})
    api.forget_records()
    assert api.sent == [] and api.calls == []
    await _raw(api, "sendMessage", json={"chat_id": USER, "text": "two"})
    assert heard == ["one", "two"]
    assert [m.text for m in await api.wait_for_messages(USER, 1, timeout=1)] == ["two"]
