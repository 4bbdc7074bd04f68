"""A small in-process fake of the Telegram Bot API HTTP server for end-to-end tests."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import email.policy
import json
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import parse_qsl, urlsplit

JsonDict = dict[str, Any]
FailureKind = Literal["retry_after", "server_error", "blocked", "bad_request", "timeout"]
ChatId = int | str

DEFAULT_TOKEN = "123456789:TEST-fake-bot-api-token"
MAX_TEXT_LENGTH = 4096
"""Telegram's limit on a message's text, counted after entity parsing."""
MAX_CALLBACK_DATA_BYTES = 64
MAX_CAPTION_LENGTH = 1024
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
"""Telegram's limit on a file a bot uploads (sendDocument)."""

# Parameters that python-telegram-bot sends as raw strings: never JSON-decode them.
# fmt: off
_STRING_FIELDS = frozenset({
    "text", "caption", "parse_mode", "callback_query_id", "url", "secret_token",
    "language_code", "action", "inline_message_id", "business_connection_id",
    "message_effect_id", "ip_address", "title", "description", "short_description", "name",
    "emoji", "query_id", "file_id", "first_name", "last_name", "phone_number", "address",
    "vcard", "question", "payload", "currency", "start_parameter", "next_offset",
})
# fmt: on
_FAILURES: dict[str, tuple[int, str]] = {
    "retry_after": (429, "Too Many Requests: retry after {retry_after}"),
    "server_error": (500, "Internal Server Error"),
    "blocked": (403, "Forbidden: bot was blocked by the user"),
    "bad_request": (400, "Bad Request: {description}"),
}
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


# -- Telegram's HTML subset (https://core.telegram.org/bots/api#html-style) ------------------
# Written from the Bot API's documentation, independently of the assistant's own markup
# code: the fake must not trust the code under test.

_TAGS = frozenset({
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "span",
    "tg-spoiler", "blockquote", "tg-emoji",
})  # fmt: skip
_ENTITY = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|(lt|gt|amp|quot));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
_ATTRIBUTE = re.compile(r"""\s*([a-zA-Z][a-zA-Z0-9-]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")


class HtmlRefused(ValueError):
    """Telegram would answer "can't parse entities" with this reason."""


def _decode_entities(text: str, base: int, source: str) -> str:
    """Decode the four named entities and numeric ones; any other `&` is refused."""
    parts: list[str] = []
    position = 0
    while (amp := text.find("&", position)) != -1:
        parts.append(text[position:amp])
        match = _ENTITY.match(text, amp)
        offset = len(source[: base + amp].encode())
        if match is None:
            raise HtmlRefused(f'Bare "&" at byte offset {offset}: write it as &amp;')
        decimal, hexadecimal, name = match.groups()
        code = int(decimal) if decimal else int(hexadecimal, 16) if hexadecimal else None
        if code is not None and not 0 < code <= 0x10FFFF:
            raise HtmlRefused(f"Invalid character reference at byte offset {offset}")
        parts.append(chr(code) if code is not None else _NAMED[name])
        position = match.end()
    parts.append(text[position:])
    return "".join(parts)


def _open_tag(source: str, start: int, end: int) -> tuple[str, dict[str, str]]:
    """Parse `<name attr="value" ...>` between `start` (the `<`) and `end` (the `>`)."""
    offset = len(source[:start].encode())
    name_match = _TAG_NAME.match(source, start + 1, end)
    name = name_match.group().lower() if name_match else ""
    if name not in _TAGS:
        raise HtmlRefused(f'Unsupported start tag "{name}" at byte offset {offset}')
    attributes: dict[str, str] = {}
    position = name_match.end() if name_match else start + 1
    while source[position:end].strip():
        match = _ATTRIBUTE.match(source, position, end)
        if match is None or match.end() == position:
            raise HtmlRefused(f'Can\'t parse attributes of tag "{name}" at byte offset {offset}')
        key, *values = match.groups()
        raw = next((value for value in values if value is not None), "")
        attributes[key.lower()] = _decode_entities(raw, match.start(), source)
        position = match.end()
    if name == "span" and attributes.get("class") != "tg-spoiler":
        raise HtmlRefused(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
    if name == "tg-emoji" and not attributes.get("emoji-id"):
        raise HtmlRefused(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {offset}')
    return name, attributes


def telegram_html_text(source: str) -> str:
    """Return the visible text of `source` as Telegram parses HTML, or raise `HtmlRefused`.

    Tags must be of the documented subset, balanced and properly nested; `&` starts one of
    the entities &lt; &gt; &amp; &quot; or a numeric one, and `<` starts a tag. (Telegram
    itself lets a stray `&` through; its documentation, which this follows, forbids it.)
    """
    visible: list[str] = []
    open_tags: list[str] = []
    position = 0
    while (start := source.find("<", position)) != -1:
        visible.append(_decode_entities(source[position:start], position, source))
        offset = len(source[:start].encode())
        end = source.find(">", start)
        if end == -1:
            raise HtmlRefused(f"Unclosed start tag at byte offset {offset}")
        if source.startswith("</", start):
            name = source[start + 2 : end].strip().lower()
            if not open_tags:
                raise HtmlRefused(f'Unexpected end tag "{name}" at byte offset {offset}')
            if name != open_tags[-1]:
                raise HtmlRefused(
                    f'Unmatched end tag at byte offset {offset}, expected "</{open_tags[-1]}>",'
                    f' found "</{name}>"'
                )
            open_tags.pop()
        else:
            open_tags.append(_open_tag(source, start, end)[0])
        position = end + 1
    visible.append(_decode_entities(source[position:], position, source))
    if open_tags:
        raise HtmlRefused(f'Can\'t find end tag corresponding to start tag "{open_tags[-1]}"')
    return "".join(visible)


@dataclass(frozen=True)
class SentMessage:
    """One sendMessage, editMessageText or sendDocument call as the bot made it."""

    method: str
    chat_id: ChatId
    message_id: int
    text: str
    """The text, or a document's caption ("" without one)."""
    parse_mode: str | None
    reply_markup: JsonDict | None
    document: UploadedFile | None = None
    """The file of a sendDocument, as uploaded (name and bytes)."""


@dataclass
class ApiCall:
    """One Bot API method call with its decoded parameters, any injected failure and any refusal."""

    method: str
    params: JsonDict
    failure: str | None = None
    refusal: str | None = None
    """The error description the fake answered with (None: the call succeeded)."""


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart/form-data request."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes


@dataclass
class _Failure:
    kind: FailureKind
    retry_after: int = 1
    description: str = "injected refusal"


@dataclass
class _Topic:
    name: str
    closed: bool = False
    deleted: bool = False


@dataclass
class _Forum:
    """A supergroup as the fake knows it: topics, members and the bot's rights."""

    title: str
    is_forum: bool
    bot_status: str
    can_manage_topics: bool
    members: dict[int, str] = field(default_factory=dict)
    topics: dict[int, _Topic] = field(default_factory=dict)


# Methods that post a message: the per-group limit counts them.
_POSTING = frozenset({"sendmessage", "copymessage", "forwardmessage", "sendphoto", "senddocument",
                      "sendvoice", "sendaudio", "sendvideo", "sendsticker", "sendcontact"})  # fmt: skip
_TOPIC_NOT_FOUND = "Bad Request: message thread not found"


class _ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: JsonDict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass
class _Signal:
    """Wakes every waiter whenever the fake's state changes."""

    event: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        self.event.set()
        self.event = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], seconds: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), remaining)
        return True


def _decode_value(name: str, value: str) -> Any:
    if name in _STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _chat_key(value: Any) -> ChatId:
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise _ApiError(400, "Bad Request: chat_id is empty")
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value)
    return value


def _parse_multipart(content_type: str, body: bytes) -> JsonDict:
    raw = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    message = BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    params: JsonDict = {}
    parts = message.get_payload()
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, Message):
            continue
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(data, bytes):
            continue
        filename = part.get_filename()
        if filename is None:
            params[name] = _decode_value(name, data.decode())
        else:
            params[name] = UploadedFile(filename, part.get_content_type(), data)
    return params


class FakeBotApi:
    """A fake Telegram Bot API server on 127.0.0.1 with update factories and call recording."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "test_bot",
        timeout_hold: float = 10.0,
        group_rate_limit: tuple[int, float] | None = None,
    ) -> None:
        """Prepare the fake; the server starts in `start()` or `async with`.

        `group_rate_limit` (messages, seconds) enforces Telegram's per-group limit (about 20
        a minute) on messages the bot sends into groups: over it, 429 with `retry_after`.
        """
        self.token = token
        self.timeout_hold = timeout_hold
        self.group_rate_limit = group_rate_limit
        bot_id = token.split(":", 1)[0]
        self.bot_user: JsonDict = {
            "id": int(bot_id) if bot_id.isdigit() else 1,
            "is_bot": True,
            "first_name": "Test Bot",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.sent: list[SentMessage] = []
        self.calls: list[ApiCall] = []
        self.commands: dict[str, list[JsonDict]] = {}
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self._listeners: list[Callable[[SentMessage], None]] = []
        self._updates: list[JsonDict] = []
        self._update_id = 0
        self._callback_id = 0
        self._file_id = 0
        self._next_message_id: dict[ChatId, int] = {}
        self._messages: dict[tuple[ChatId, int], JsonDict] = {}
        self._chats: dict[ChatId, JsonDict] = {}
        self._callback_ids: set[str] = set()
        self._failures: dict[str, list[_Failure]] = {}
        self._cursors: dict[ChatId, int] = {}
        self._signal = _Signal()
        self._server: asyncio.Server | None = None
        self._port = 0
        self._closing = False
        self._connections: set[asyncio.Task[Any]] = set()
        self._handlers: dict[str, Callable[[JsonDict], Awaitable[Any]]] = {
            "getme": self._get_me,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "answercallbackquery": self._answer_callback_query,
            "setmycommands": self._set_my_commands,
            "deletemycommands": self._delete_my_commands,
            "getmycommands": self._get_my_commands,
            "sendchataction": self._send_chat_action,
            "close": self._true,
            "logout": self._true,
        }
        self._forums: dict[int, _Forum] = {}
        self._blocked: set[ChatId] = set()
        self._group_sends: dict[int, collections.deque[float]] = {}
        self.rate_limited = 0
        """How many calls the per-group limit refused with 429."""
        self._handlers.update(self._forum_handlers())
        self.reply_keyboards: dict[ChatId, JsonDict] = {}
        """The reply keyboard each chat shows (set by a keyboard, gone with remove_keyboard)."""
        self._handlers.update(self._booking_handlers())

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start listening on a free port of 127.0.0.1."""
        self._closing = False
        self._server = await asyncio.start_server(self._handle_connection, "127.0.0.1", 0)
        self._port = self._server.sockets[0].getsockname()[1]

    async def close(self, *, grace: float = 0.0) -> None:
        """Stop the server, dropping open connections (long polls included).

        With `grace`, clients get up to that many seconds to hang up first (Python 3.11 logs
        a connection cancelled in the middle of a read).
        """
        if grace > 0:
            await self._signal.wait_until(lambda: not self._connections, grace)
        self._closing = True
        self._signal.notify()
        if self._server is not None:
            self._server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        """Start the server."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the server."""
        await self.close()

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        if self._server is None:
            raise RuntimeError("FakeBotApi is not running")
        return self._port

    @property
    def base_url(self) -> str:
        """The value for `ApplicationBuilder().base_url(...)`."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """The value for `ApplicationBuilder().base_file_url(...)`."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ------------------------------------------------------------ test controls

    def fail_next(
        self,
        method: str,
        count: int = 1,
        kind: FailureKind = "retry_after",
        *,
        retry_after: int = 1,
        description: str = "injected refusal",
    ) -> None:
        """Make the next `count` calls of `method` fail in the given way.

        "retry_after": 429 with `parameters.retry_after`; "server_error": 500; "blocked": 403;
        "bad_request": 400 "Bad Request: <description>"; "timeout": no answer for
        `timeout_hold` seconds, then the connection is closed.
        """
        if kind not in (*_FAILURES, "timeout"):
            raise ValueError(f"unknown failure kind {kind!r}")
        queue = self._failures.setdefault(method.lower(), [])
        queue.extend(_Failure(kind, retry_after, description) for _ in range(count))

    def add_listener(self, listener: Callable[[SentMessage], None]) -> None:
        """Call `listener` with every message the bot sends or edits, as it is recorded."""
        self._listeners.append(listener)

    def forget_records(self) -> None:
        """Forget the recorded calls and messages, for long runs; older messages' buttons stop working."""
        self.sent.clear()
        self.calls.clear()
        self._messages.clear()
        self._cursors.clear()

    def refused_calls(self) -> list[ApiCall]:
        """Every call the fake refused (4xx or 5xx), injected failures included."""
        return [call for call in self.calls if call.refusal is not None]

    @property
    def pending_update_count(self) -> int:
        """How many queued updates the bot has not confirmed yet."""
        return len(self._updates)

    def calls_to(self, method: str) -> list[JsonDict]:
        """The decoded parameters of every call to `method`."""
        return [call.params for call in self.calls if call.method.lower() == method.lower()]

    def messages_to(self, chat_id: ChatId) -> list[SentMessage]:
        """Every message sent (or edited) by the bot in that chat, oldest first."""
        key = _chat_key(chat_id)
        return [message for message in self.sent if message.chat_id == key]

    async def wait_for_messages(
        self,
        chat_id: ChatId,
        count: int,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[SentMessage]:
        """Return the next `count` messages (sent or edited) in that chat since the last wait."""
        key = _chat_key(chat_id)
        start = self._cursors.get(key, 0)
        if not await self._signal.wait_until(lambda: len(self.messages_to(key)) - start >= count, timeout):
            got = [(m.method, m.text) for m in self.messages_to(key)[start:]]
            raise AssertionError(
                f"expected {count} message(s) to chat {key} within {timeout}s, got {len(got)}: {got!r}"
            )
        self._cursors[key] = start + count
        return self.messages_to(key)[start : start + count]

    # --------------------------------------------------------- update factories

    def send_text(
        self,
        user_id: int,
        text: str,
        *,
        language_code: str = "en",
        chat_type: str = "private",
        first_name: str = "Test",
        reply_to: int | None = None,
    ) -> JsonDict:
        """Queue a text message from the user in their chat (chat id = user id), maybe a reply."""
        fields: JsonDict = {"text": text}
        if reply_to is not None:
            answered = self._messages.get((user_id, reply_to))
            if answered is None:
                raise LookupError(f"chat {user_id} has no message {reply_to} to reply to")
            fields["reply_to_message"] = copy.deepcopy(answered)
        return self._incoming(user_id, user_id, fields, chat_type, first_name, language_code)

    def send_command(
        self,
        user_id: int,
        command: str,
        payload: str | None = None,
        *,
        language_code: str = "en",
        first_name: str = "Test",
    ) -> JsonDict:
        """Queue a `/command [payload]` message with a bot_command entity."""
        command = command if command.startswith("/") else f"/{command}"
        text = command if payload is None else f"{command} {payload}"
        entity = {"type": "bot_command", "offset": 0, "length": len(command)}
        fields = {"text": text, "entities": [entity]}
        return self._incoming(user_id, user_id, fields, "private", first_name, language_code)

    def send_group_text(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        chat_type: str = "group",
        language_code: str = "en",
        first_name: str = "Test",
    ) -> JsonDict:
        """Queue a text message from the user in a group chat."""
        fields = {"text": text}
        return self._incoming(chat_id, user_id, fields, chat_type, first_name, language_code)

    def send_voice(self, user_id: int, *, duration: int = 3, language_code: str = "en") -> JsonDict:
        """Queue a voice message."""
        voice = {**self._file(), "duration": duration, "mime_type": "audio/ogg", "file_size": 4096}
        return self._incoming(user_id, user_id, {"voice": voice}, "private", "Test", language_code)

    def send_photo(self, user_id: int, *, caption: str | None = None) -> JsonDict:
        """Queue a photo (two sizes), optionally captioned."""
        sizes = [{**self._file(), "width": w, "height": w, "file_size": w * 40} for w in (90, 800)]
        fields: JsonDict = {"photo": sizes}
        if caption is not None:
            fields["caption"] = caption
        return self._incoming(user_id, user_id, fields, "private", "Test", "en")

    def send_sticker(self, user_id: int, *, emoji: str = "👍") -> JsonDict:
        """Queue a regular sticker."""
        sticker = {
            **self._file(),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._incoming(user_id, user_id, {"sticker": sticker}, "private", "Test", "en")

    def send_location(
        self, user_id: int, *, latitude: float = 50.8466, longitude: float = 4.3528
    ) -> JsonDict:
        """Queue a location (Brussels by default)."""
        location = {"latitude": latitude, "longitude": longitude}
        return self._incoming(user_id, user_id, {"location": location}, "private", "Test", "en")

    def send_contact(
        self,
        user_id: int,
        *,
        phone_number: str = "+32470000000",
        language_code: str = "en",
        contact_user_id: int | None = None,
    ) -> JsonDict:
        """Queue a shared contact: the user's own (the request_contact button) unless `contact_user_id`.

        Telegram clients send the number with or without its leading "+".
        """
        owner = user_id if contact_user_id is None else contact_user_id
        contact = {"phone_number": phone_number, "first_name": "Test", "user_id": owner}
        return self._incoming(user_id, user_id, {"contact": contact}, "private", "Test", language_code)

    def send_document(
        self, user_id: int, *, file_name: str = "document.pdf", mime_type: str = "application/pdf"
    ) -> JsonDict:
        """Queue a document."""
        document = {**self._file(), "file_name": file_name, "mime_type": mime_type}
        return self._incoming(user_id, user_id, {"document": document}, "private", "Test", "en")

    def edit_text(self, user_id: int, message_id: int, new_text: str) -> JsonDict:
        """Queue an `edited_message` update for one of the user's earlier messages."""
        message = self._messages.get((user_id, message_id))
        if message is None or message["from"].get("id") != user_id:
            raise LookupError(f"user {user_id} sent no message {message_id} in their chat")
        message.pop("entities", None)
        message.update(text=new_text, edit_date=int(time.time()))
        return self._queue("edited_message", message)

    def press_button(
        self, user_id: int, callback_data: str, message_id: int, *, chat_id: int | None = None
    ) -> JsonDict:
        """Queue a callback query for an inline button of the bot message `message_id`."""
        chat = user_id if chat_id is None else chat_id
        message = self._messages.get((chat, message_id))
        if message is None or message["from"].get("id") != self.bot_user["id"]:
            raise LookupError(f"the bot sent no message {message_id} in chat {chat}")
        self._callback_id += 1
        query_id = str(self._callback_id)
        self._callback_ids.add(query_id)
        query = {
            "id": query_id,
            "from": self._user(user_id, "Test", "en"),
            "message": message,
            "chat_instance": f"instance-{chat}",
            "data": callback_data,
        }
        return self._queue("callback_query", query)

    def _queue(self, kind: str, payload: JsonDict) -> JsonDict:
        self._update_id += 1
        update = {"update_id": self._update_id, kind: copy.deepcopy(payload)}
        self._updates.append(update)
        self._signal.notify()
        return copy.deepcopy(update)

    def _file(self) -> JsonDict:
        self._file_id += 1
        return {"file_id": f"file-{self._file_id}", "file_unique_id": f"unique-{self._file_id}"}

    @staticmethod
    def _user(user_id: int, first_name: str, language_code: str) -> JsonDict:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": language_code,
        }

    def _new_message_id(self, chat_id: ChatId) -> int:
        self._next_message_id[chat_id] = self._next_message_id.get(chat_id, 0) + 1
        return self._next_message_id[chat_id]

    def _user_message(
        self,
        chat_id: int,
        user_id: int,
        fields: JsonDict,
        chat_type: str,
        first_name: str,
        language_code: str,
    ) -> JsonDict:
        chat: JsonDict = {"id": chat_id, "type": chat_type}
        chat.update({"first_name": first_name} if chat_type == "private" else {"title": "Group"})
        self._chats[chat_id] = chat
        return {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat,
            "from": self._user(user_id, first_name, language_code),
            **fields,
        }

    def _incoming(
        self,
        chat_id: int,
        user_id: int,
        fields: JsonDict,
        chat_type: str,
        first_name: str,
        language_code: str,
    ) -> JsonDict:
        message = self._user_message(chat_id, user_id, fields, chat_type, first_name, language_code)
        self._messages[(chat_id, message["message_id"])] = message
        return self._queue("message", message)

    # ------------------------------------------------------------------ HTTP

    async def _handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while not self._closing:
                request = await self._read_request(reader)
                if request is None or not await self._respond(request, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            if task is not None:
                self._connections.discard(task)
                self._signal.notify()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
        line = await reader.readline()
        if not line.strip():
            return None
        method, target, version = line.decode("latin-1").split()
        headers: dict[str, str] = {}
        while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while size := int((await reader.readline()).split(b";")[0], 16):
                body += await reader.readexactly(size)
                await reader.readline()
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        return _Request(method.upper(), target, version.upper(), headers, body)

    async def _respond(self, request: _Request, writer: asyncio.StreamWriter) -> bool:
        status, payload = await self._dispatch(request)
        if payload is None:  # injected timeout: hold the request, then hang up
            await asyncio.sleep(self.timeout_hold)
            return False
        body = json.dumps(payload).encode()
        keep_alive = request.version == "HTTP/1.1" and request.headers.get("connection", "") != "close"
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)
        await writer.drain()
        return keep_alive

    async def _dispatch(self, request: _Request) -> tuple[int, JsonDict | None]:
        url = urlsplit(request.target)
        prefix, _, rest = url.path.lstrip("/").partition("/")
        if request.method not in ("GET", "POST") or not prefix.startswith("bot") or not rest:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        if prefix[3:] != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        handler = self._handlers.get(rest.lower())
        try:
            params = self._parse_params(url.query, request)
        except (ValueError, UnicodeDecodeError):
            params = None
        failure = self._failures.get(rest.lower()) if handler is not None else None
        injected = failure.pop(0) if failure else None
        call = ApiCall(rest, params or {}, injected.kind if injected else None)
        self.calls.append(call)
        try:
            if handler is None:
                raise _ApiError(404, "Not Found: method not found")
            if params is None:
                raise _ApiError(400, "Bad Request: can't parse request parameters")
            if injected is not None:
                if injected.kind == "timeout":
                    return 0, None
                code, description = _FAILURES[injected.kind]
                retry = {"retry_after": injected.retry_after}
                parameters = retry if injected.kind == "retry_after" else None
                text = description.format(**retry, description=injected.description)
                raise _ApiError(code, text, parameters)
            self._check_group_rate(rest.lower(), params)
            return 200, {"ok": True, "result": await handler(params)}
        except _ApiError as error:
            call.refusal = error.description
            response: JsonDict = {
                "ok": False,
                "error_code": error.code,
                "description": error.description,
            }
            if error.parameters:
                response["parameters"] = error.parameters
            return error.code, response

    @staticmethod
    def _parse_params(query: str, request: _Request) -> JsonDict:
        params: JsonDict = {k: _decode_value(k, v) for k, v in parse_qsl(query, True)}
        content_type = request.headers.get("content-type", "")
        mime = content_type.split(";", 1)[0].strip().lower()
        if not request.body:
            return params
        if mime == "application/json":
            data = json.loads(request.body)
            if not isinstance(data, dict):
                raise ValueError("JSON body must be an object")
            for key, value in data.items():
                decode = isinstance(value, str) and value.lstrip()[:1] in ("{", "[")
                params[key] = _decode_value(key, value) if decode else value
        elif mime == "application/x-www-form-urlencoded":
            pairs = parse_qsl(request.body.decode(), keep_blank_values=True)
            params.update({k: _decode_value(k, v) for k, v in pairs})
        elif mime == "multipart/form-data":
            params.update(_parse_multipart(content_type, request.body))
        return params

    # --------------------------------------------------------------- methods

    async def _true(self, params: JsonDict) -> bool:
        return True

    async def _get_me(self, params: JsonDict) -> JsonDict:
        return self.bot_user

    async def _delete_webhook(self, params: JsonDict) -> bool:
        self.webhook_url = ""
        if params.get("drop_pending_updates") is True:
            self._updates.clear()
        return True

    async def _set_webhook(self, params: JsonDict) -> bool:
        url = str(params.get("url", ""))
        if url and not url.startswith("https://"):
            raise _ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook_url = url
        self.webhook_secret = None if secret is None else str(secret)
        return True

    async def _get_webhook_info(self, params: JsonDict) -> JsonDict:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def _get_updates(self, params: JsonDict) -> list[JsonDict]:
        if self.webhook_url:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        try:
            offset = int(params.get("offset") or 0)
            limit = int(params.get("limit") or 100)
            timeout = float(params.get("timeout") or 0)
        except (TypeError, ValueError) as exc:
            raise _ApiError(400, "Bad Request: invalid getUpdates parameters") from exc
        if offset < 0:
            self._updates = self._updates[offset:]
        elif offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if timeout > 0:
            await self._signal.wait_until(lambda: bool(self._updates) or self._closing, timeout)
        return self._updates[: max(1, min(limit, 100))]

    def _bot_chat(self, chat_id: Any) -> tuple[ChatId, JsonDict]:
        key = _chat_key(chat_id)
        if not isinstance(key, int):
            raise _ApiError(400, "Bad Request: chat not found")
        chat = self._chats.get(key) or {"id": key, "type": "private" if key > 0 else "group"}
        return key, chat

    @staticmethod
    def _text(params: JsonDict) -> str:
        """The text as sent, once Telegram would accept it: parsed, not empty, not too long."""
        text = params.get("text")
        if not isinstance(text, str):
            raise _ApiError(400, "Bad Request: message text is empty")
        parse_mode = params.get("parse_mode")
        if parse_mode is None or parse_mode == "":
            visible = text
        elif str(parse_mode).lower() == "html":
            try:
                visible = telegram_html_text(text)
            except HtmlRefused as error:
                raise _ApiError(400, f"Bad Request: can't parse entities: {error}") from None
        else:  # Markdown is real Telegram's, not the fake's
            raise _ApiError(400, f"Bad Request: the fake Bot API does not parse {parse_mode!r}")
        if not visible.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(visible) > MAX_TEXT_LENGTH:
            raise _ApiError(400, "Bad Request: message is too long")
        return text

    @staticmethod
    def _markup(params: JsonDict) -> JsonDict | None:
        markup = params.get("reply_markup")
        if markup is not None and not isinstance(markup, dict):
            raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                    raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        _check_reply_keyboard(markup or {})
        return markup

    def _record(self, method: str, chat_id: ChatId, message: JsonDict, params: JsonDict) -> None:
        parse_mode = params.get("parse_mode")
        self.sent.append(
            SentMessage(
                method=method,
                chat_id=chat_id,
                message_id=message["message_id"],
                text=message["text"],
                parse_mode=parse_mode if isinstance(parse_mode, str) else None,
                reply_markup=self._markup(params),
            )
        )
        for listener in self._listeners:
            listener(self.sent[-1])
        self._signal.notify()

    @staticmethod
    def _set_markup(message: JsonDict, markup: JsonDict | None) -> None:
        if markup is not None and "inline_keyboard" in markup:  # Telegram echoes only these
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)

    async def _send_message(self, params: JsonDict) -> JsonDict:
        key, chat = self._bot_chat(params.get("chat_id"))
        text, markup = self._text(params), self._markup(params)
        message: JsonDict = {
            "message_id": self._new_message_id(key),
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot_user,
            "text": text,
            **self._thread_fields(key, params),
        }
        self._set_markup(message, markup)
        self._track_reply_keyboard(key, chat, markup)
        reply = params.get("reply_parameters")
        reply_id = reply.get("message_id") if isinstance(reply, dict) else None
        reply_id = reply_id or params.get("reply_to_message_id")
        if isinstance(reply_id, int) and (key, reply_id) in self._messages:
            message["reply_to_message"] = copy.deepcopy(self._messages[(key, reply_id)])
        self._messages[(key, message["message_id"])] = message
        self._record("sendMessage", key, message, params)
        return message

    def _bot_message(self, params: JsonDict) -> tuple[ChatId, JsonDict]:
        key, _ = self._bot_chat(params.get("chat_id"))
        message_id = params.get("message_id")
        message = self._messages.get((key, message_id)) if isinstance(message_id, int) else None
        if message is None or message["from"].get("id") != self.bot_user["id"]:
            raise _ApiError(400, "Bad Request: message to edit not found")
        return key, message

    async def _edit_message_text(self, params: JsonDict) -> JsonDict | bool:
        text, markup = self._text(params), self._markup(params)
        if "inline_message_id" in params:
            return True
        key, message = self._bot_message(params)
        if message["text"] == text and message.get("reply_markup") == markup:
            raise _ApiError(400, _NOT_MODIFIED)
        message.update(text=text, edit_date=int(time.time()))
        self._set_markup(message, markup)
        self._record("editMessageText", key, message, params)
        return message

    async def _edit_message_reply_markup(self, params: JsonDict) -> JsonDict | bool:
        markup = self._markup(params)
        if "inline_message_id" in params:
            return True
        _, message = self._bot_message(params)
        if message.get("reply_markup") == markup:
            raise _ApiError(400, _NOT_MODIFIED)
        self._set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return message

    async def _answer_callback_query(self, params: JsonDict) -> bool:
        if str(params.get("callback_query_id")) not in self._callback_ids:
            raise _ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        return True

    async def _set_my_commands(self, params: JsonDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or not all(
            isinstance(c, dict) and {"command", "description"} <= c.keys() for c in commands
        ):
            raise _ApiError(400, "Bad Request: can't parse commands JSON object")
        self.commands[str(params.get("language_code") or "")] = commands
        return True

    async def _delete_my_commands(self, params: JsonDict) -> bool:
        self.commands.pop(str(params.get("language_code") or ""), None)
        return True

    async def _get_my_commands(self, params: JsonDict) -> list[JsonDict]:
        return self.commands.get(str(params.get("language_code") or ""), [])

    async def _send_chat_action(self, params: JsonDict) -> bool:
        self._bot_chat(params.get("chat_id"))
        if not params.get("action"):
            raise _ApiError(400, "Bad Request: action is empty")
        return True

    # ----------------------------------------------------------- forum (staff groups)
    # Supergroups with topics, copies without a forward header, members and their rights,
    # chat_member updates, and Telegram's per-group limit. Written from the Bot API's
    # documentation: a topic's message_thread_id is the id of its creation message, the
    # General topic's messages carry no message_thread_id, a deleted topic's thread answers
    # "message thread not found", and closing a closed topic is "TOPIC_NOT_MODIFIED".

    def make_forum(
        self,
        chat_id: int,
        *,
        title: str = "Staff",
        is_forum: bool = True,
        bot_status: str = "administrator",
        can_manage_topics: bool = True,
        members: dict[int, str] | None = None,
    ) -> None:
        """Create a supergroup (a forum unless told otherwise) with the bot's status and rights."""
        self._forums[chat_id] = _Forum(title, is_forum, bot_status, can_manage_topics, dict(members or {}))
        chat: JsonDict = {"id": chat_id, "type": "supergroup", "title": title}
        if is_forum:
            chat["is_forum"] = True
        self._chats[chat_id] = chat

    def set_member(self, chat_id: int, user_id: int, status: str = "member") -> JsonDict:
        """Change a user's status in the group ("member", "administrator", "left", "kicked")
        and queue the chat_member update Telegram sends to an administrator bot."""
        forum = self._forums[chat_id]
        old = forum.members.get(user_id, "left")
        forum.members[user_id] = status
        update = {
            "chat": self._chats[chat_id],
            "from": self._user(user_id, "Staff", "en"),
            "date": int(time.time()),
            "old_chat_member": self._member_json(chat_id, user_id, old),
            "new_chat_member": self._member_json(chat_id, user_id, status),
        }
        return self._queue("chat_member", update)

    def topics(self, chat_id: int) -> dict[int, _Topic]:
        """The group's topics by thread id (deleted ones included, marked)."""
        return self._forums[chat_id].topics

    def delete_topic_by_hand(self, chat_id: int, thread_id: int) -> None:
        """A staff member deletes a topic in the Telegram app (its messages go with it)."""
        self._forums[chat_id].topics[thread_id].deleted = True
        for key in [k for k, m in self._messages.items() if k[0] == chat_id
                    and m.get("message_thread_id") == thread_id]:  # fmt: skip
            del self._messages[key]

    def message(self, chat_id: int, message_id: int) -> JsonDict:
        """The message as Telegram holds it (what its readers see)."""
        return copy.deepcopy(self._messages[(chat_id, message_id)])

    def send_forum_text(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> JsonDict:
        """Queue a staff member's message in a topic (None: the General topic); commands get an entity."""
        fields: JsonDict = {"text": text}
        if text.startswith("/"):
            fields["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return self._forum_incoming(chat_id, user_id, fields, thread_id, reply_to)

    def send_forum_photo(
        self, chat_id: int, user_id: int, *, thread_id: int | None = None, caption: str | None = None
    ) -> JsonDict:
        """Queue a staff member's photo in a topic."""
        sizes = [{**self._file(), "width": w, "height": w, "file_size": w * 40} for w in (90, 800)]
        fields: JsonDict = {"photo": sizes}
        if caption is not None:
            fields["caption"] = caption
        return self._forum_incoming(chat_id, user_id, fields, thread_id, None)

    def send_forum_voice(
        self, chat_id: int, user_id: int, *, thread_id: int | None = None, caption: str | None = None
    ) -> JsonDict:
        """Queue a staff member's voice note in a topic."""
        fields: JsonDict = {"voice": {**self._file(), "duration": 4, "mime_type": "audio/ogg"}}
        if caption is not None:
            fields["caption"] = caption
        return self._forum_incoming(chat_id, user_id, fields, thread_id, None)

    def edit_forum_text(self, chat_id: int, message_id: int, new_text: str) -> JsonDict:
        """Queue an `edited_message` update for a staff member's earlier message in the group."""
        message = self._messages[(chat_id, message_id)]
        message.update(text=new_text, edit_date=int(time.time()))
        return self._queue("edited_message", message)

    def _forum_incoming(
        self, chat_id: int, user_id: int, fields: JsonDict, thread_id: int | None, reply_to: int | None
    ) -> JsonDict:
        forum = self._forums[chat_id]
        if thread_id is not None:
            topic = forum.topics.get(thread_id)
            if topic is None or topic.deleted:
                raise LookupError(f"group {chat_id} has no topic {thread_id}")
            fields = {**fields, "message_thread_id": thread_id, "is_topic_message": True}
        if reply_to is not None:
            fields = {**fields, "reply_to_message": copy.deepcopy(self._messages[(chat_id, reply_to)])}
        message = {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": self._chats[chat_id],
            "from": self._user(user_id, "Staff", "en"),
            **fields,
        }
        self._messages[(chat_id, message["message_id"])] = message
        return self._queue("message", message)

    def _member_json(self, chat_id: int, user_id: int, status: str) -> JsonDict:
        user = self.bot_user if user_id == self.bot_user["id"] else self._user(user_id, "Staff", "en")
        member: JsonDict = {"status": status, "user": user}
        if status == "administrator":
            rights = ("can_manage_chat", "can_delete_messages", "can_manage_video_chats",
                      "can_restrict_members", "can_promote_members", "can_change_info",
                      "can_invite_users", "can_post_stories", "can_edit_stories",
                      "can_delete_stories", "can_pin_messages")  # fmt: skip
            member.update({right: True for right in rights}, can_be_edited=False, is_anonymous=False)
            forum = self._forums[chat_id]
            member["can_manage_topics"] = forum.can_manage_topics if user_id == self.bot_user["id"] else True
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def _forum_handlers(self) -> dict[str, Callable[[JsonDict], Awaitable[Any]]]:
        return {
            "getchat": self._get_chat,
            "getchatmember": self._get_chat_member,
            "createforumtopic": self._create_forum_topic,
            "editforumtopic": self._edit_forum_topic,
            "closeforumtopic": self._close_forum_topic,
            "reopenforumtopic": self._reopen_forum_topic,
            "deleteforumtopic": self._delete_forum_topic,
            "copymessage": self._copy_message,
        }

    def _forum_of(self, params: JsonDict) -> tuple[int, _Forum]:
        key = _chat_key(params.get("chat_id"))
        forum = self._forums.get(key) if isinstance(key, int) else None
        if forum is None or not isinstance(key, int):
            raise _ApiError(400, "Bad Request: chat not found")
        return key, forum

    def _topic_admin(self, params: JsonDict) -> tuple[int, _Forum]:
        key, forum = self._forum_of(params)
        if not forum.is_forum:
            raise _ApiError(400, "Bad Request: the chat is not a forum")
        if forum.bot_status not in ("administrator", "creator") or not forum.can_manage_topics:
            raise _ApiError(400, "Bad Request: not enough rights to manage topics")
        return key, forum

    def _live_topic(self, forum: _Forum, params: JsonDict) -> _Topic:
        thread = params.get("message_thread_id")
        topic = forum.topics.get(thread) if isinstance(thread, int) else None
        if topic is None or topic.deleted:
            raise _ApiError(400, _TOPIC_NOT_FOUND)
        return topic

    def _thread_fields(self, chat_id: ChatId, params: JsonDict) -> JsonDict:
        """Where a message posted by the bot lands: a live topic, or the General topic."""
        thread = params.get("message_thread_id")
        forum = self._forums.get(chat_id) if isinstance(chat_id, int) else None
        if thread is None or forum is None or not forum.is_forum:
            return {}
        self._live_topic(forum, params)
        return {"message_thread_id": thread, "is_topic_message": True}

    def _check_group_rate(self, method: str, params: JsonDict) -> None:
        """A user who blocked the bot answers 403; over the per-group limit, 429 with the seconds to wait."""
        if method not in _POSTING:
            return
        try:
            key = _chat_key(params.get("chat_id"))
        except _ApiError:
            return
        if key in self._blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        if not isinstance(key, int) or key >= 0:
            return
        if self.group_rate_limit is None:
            return
        limit, window = self.group_rate_limit
        now = time.monotonic()
        sent = self._group_sends.setdefault(key, collections.deque())
        while sent and sent[0] <= now - window:
            sent.popleft()
        if len(sent) >= limit:
            self.rate_limited += 1
            retry = max(1, math.ceil(sent[0] + window - now))
            raise _ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        sent.append(now)

    async def _get_chat(self, params: JsonDict) -> JsonDict:
        key, _ = self._forum_of(params)
        chat = {**self._chats[key], "accent_color_id": 0, "max_reaction_count": 11}
        gifts = (
            "unlimited_gifts",
            "limited_gifts",
            "unique_gifts",
            "premium_subscription",
            "gifts_from_channels",
        )
        chat["accepted_gift_types"] = dict.fromkeys(gifts, False)
        return chat

    async def _get_chat_member(self, params: JsonDict) -> JsonDict:
        key, forum = self._forum_of(params)
        user_id = params.get("user_id")
        if not isinstance(user_id, int):
            raise _ApiError(400, "Bad Request: invalid user_id specified")
        status = forum.bot_status if user_id == self.bot_user["id"] else forum.members.get(user_id, "left")
        return self._member_json(key, user_id, status)

    async def _create_forum_topic(self, params: JsonDict) -> JsonDict:
        key, forum = self._topic_admin(params)
        name = str(params.get("name") or "")
        if not 1 <= len(name) <= 128:
            raise _ApiError(400, "Bad Request: invalid topic name")
        thread_id = self._new_message_id(key)  # the id of the topic's creation message
        forum.topics[thread_id] = _Topic(name)
        self._messages[(key, thread_id)] = {
            "message_id": thread_id, "date": int(time.time()), "chat": self._chats[key],
            "from": self.bot_user, "message_thread_id": thread_id, "is_topic_message": True,
            "forum_topic_created": {"name": name, "icon_color": 7322096},
        }  # fmt: skip
        self._signal.notify()
        return {"message_thread_id": thread_id, "name": name, "icon_color": 7322096}

    async def _edit_forum_topic(self, params: JsonDict) -> bool:
        _, forum = self._topic_admin(params)
        topic = self._live_topic(forum, params)
        name = params.get("name")
        if name is not None:
            topic.name = str(name)
        return True

    async def _close_forum_topic(self, params: JsonDict) -> bool:
        _, forum = self._topic_admin(params)
        topic = self._live_topic(forum, params)
        if topic.closed:
            raise _ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
        topic.closed = True
        self._signal.notify()
        return True

    async def _reopen_forum_topic(self, params: JsonDict) -> bool:
        _, forum = self._topic_admin(params)
        topic = self._live_topic(forum, params)
        if not topic.closed:
            raise _ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
        topic.closed = False
        self._signal.notify()
        return True

    async def _delete_forum_topic(self, params: JsonDict) -> bool:
        key, forum = self._topic_admin(params)
        thread = params.get("message_thread_id")
        self._live_topic(forum, params)
        assert isinstance(thread, int)
        self.delete_topic_by_hand(key, thread)
        self._signal.notify()
        return True

    async def _copy_message(self, params: JsonDict) -> JsonDict:
        """A copy: the content without a forward header, as a new message of the bot."""
        key, chat = self._bot_chat(params.get("chat_id"))
        source_chat = _chat_key(params.get("from_chat_id"))
        source = self._messages.get((source_chat, params.get("message_id")))  # type: ignore[arg-type]
        if source is None:
            raise _ApiError(400, "Bad Request: message to copy not found")
        content = {k: copy.deepcopy(v) for k, v in source.items()
                   if k in ("text", "entities", "photo", "voice", "document", "audio", "video",
                            "sticker", "caption", "caption_entities", "contact", "location")}  # fmt: skip
        if "caption" in params:
            caption = str(params["caption"])
            if len(caption.encode("utf-16-le")) // 2 > 1024:
                raise _ApiError(400, "Bad Request: message caption is too long")
            content["caption"] = caption
            content.pop("caption_entities", None)
            if isinstance(params.get("caption_entities"), list):
                content["caption_entities"] = params["caption_entities"]
        message: JsonDict = {
            "message_id": self._new_message_id(key),
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot_user,
            **content,
            **self._thread_fields(key, params),
        }
        reply = params.get("reply_parameters")
        reply_id = reply.get("message_id") if isinstance(reply, dict) else None
        if isinstance(reply_id, int) and (key, reply_id) in self._messages:
            message["reply_to_message"] = copy.deepcopy(self._messages[(key, reply_id)])
        self._messages[(key, message["message_id"])] = message
        self.sent.append(SentMessage("copyMessage", key, message["message_id"],
                                     message.get("text") or message.get("caption") or "",
                                     params.get("parse_mode"), None))  # fmt: skip
        for listener in self._listeners:
            listener(self.sent[-1])
        self._signal.notify()
        return {"message_id": message["message_id"]}

    def block_bot(self, user_id: int) -> None:
        """The user blocks the bot: every later message to them answers 403."""
        self._blocked.add(user_id)

    # ---------------------------------------------------------- booking (#17)
    # Documents (a meeting's .ics), reply keyboards with request_contact, and their removal.

    def documents_to(self, chat_id: ChatId) -> list[UploadedFile]:
        """Every file the bot sent to that chat with sendDocument, oldest first."""
        return [m.document for m in self.messages_to(chat_id) if m.document is not None]

    def _booking_handlers(self) -> dict[str, Callable[[JsonDict], Awaitable[Any]]]:
        return {"senddocument": self._send_document}

    def _track_reply_keyboard(self, key: ChatId, chat: JsonDict, markup: JsonDict | None) -> None:
        """Remember the reply keyboard a message sets or removes (inline keyboards leave it)."""
        if markup is None:
            return
        if "keyboard" in markup:
            requests_contact = any(b.get("request_contact") for row in markup["keyboard"] for b in row)
            if requests_contact and chat.get("type") != "private":
                raise _ApiError(
                    400, "Bad Request: KEYBOARD_BUTTON_REQUEST_CONTACT is allowed only in private chats"
                )
            self.reply_keyboards[key] = markup
        elif markup.get("remove_keyboard") is True:
            self.reply_keyboards.pop(key, None)

    async def _send_document(self, params: JsonDict) -> JsonDict:
        key, chat = self._bot_chat(params.get("chat_id"))
        upload = params.get("document")
        if not isinstance(upload, UploadedFile):  # a file_id or URL: the fake knows no files
            raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if not upload.data:
            raise _ApiError(400, "Bad Request: file must be non-empty")
        if len(upload.data) > MAX_UPLOAD_BYTES:
            raise _ApiError(413, "Request Entity Too Large")
        caption = params.get("caption")
        if caption is not None:
            caption = self._text({**params, "text": caption})
            if len(telegram_html_text(caption) if params.get("parse_mode") else caption) > MAX_CAPTION_LENGTH:
                raise _ApiError(400, "Bad Request: message caption is too long")
        markup = self._markup(params)
        document = {**self._file(), "file_name": upload.filename, "mime_type": upload.content_type,
                    "file_size": len(upload.data)}  # fmt: skip
        message: JsonDict = {
            "message_id": self._new_message_id(key),
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot_user,
            "document": document,
            **({"caption": caption} if caption else {}),
        }
        self._set_markup(message, markup)
        self._track_reply_keyboard(key, chat, markup)
        self._messages[(key, message["message_id"])] = message
        parse_mode = params.get("parse_mode")
        self.sent.append(SentMessage("sendDocument", key, message["message_id"], caption or "",
                                     parse_mode if isinstance(parse_mode, str) else None, markup,
                                     document=upload))  # fmt: skip
        for listener in self._listeners:
            listener(self.sent[-1])
        self._signal.notify()
        return message


def _check_reply_keyboard(markup: JsonDict) -> None:
    """Refuse what Telegram refuses in a reply keyboard or its removal."""
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for row in rows:
            for button in row:
                text = button.get("text") if isinstance(button, dict) else button
                if not isinstance(text, str) or not text.strip():
                    raise _ApiError(400, "Bad Request: keyboard button text must be non-empty")
    if "remove_keyboard" in markup and markup["remove_keyboard"] is not True:
        raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
