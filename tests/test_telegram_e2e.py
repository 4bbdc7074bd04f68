"""End to end: the real python-telegram-bot Application, a fake Bot API on loopback, real Rasa."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from telegram import Chat, Message, Update
from telegram.ext import Application

from bot.content.library import ContentLibrary
from bot.dialogue.replies import FORGET_YES, LANGUAGE, TOPIC
from bot.frontends.telegram import PerChatUpdateProcessor, build_application, receiving
from bot.nlu.intents import INTENTS
from bot.nlu.server import RasaServer, free_port, latest_model
from bot.services import Services
from bot.settings import DEFAULT_MODELS, DEFAULT_RASA_VENV, Settings
from tests.fakebotapi import DEFAULT_TOKEN, FakeBotApi, SentMessage

USER = 777


@dataclass
class Bot:
    """A running assistant and the fake Telegram it talks to."""

    api: FakeBotApi
    services: Services
    app: Application[Any, Any, Any, Any, Any, Any]

    async def say(
        self, text: str, count: int = 1, *, user: int = USER, language_code: str = "en"
    ) -> list[SentMessage]:
        self.api.send_text(user, text, language_code=language_code)
        return await self.api.wait_for_messages(user, count, timeout=20)

    async def first_contact(self) -> None:
        """Say hello: the privacy notice comes before the first answer."""
        privacy, _ = await self.say("hello", 2)
        assert "/forget" in privacy.text

    async def press(self, data: str, count: int = 1, *, user: int = USER) -> list[SentMessage]:
        last = self.api.messages_to(user)[-1]
        self.api.press_button(user, data, last.message_id)
        return await self.api.wait_for_messages(user, count, timeout=20)


def buttons(message: SentMessage) -> list[str]:
    markup = message.reply_markup or {}
    return [button["callback_data"] for row in markup.get("inline_keyboard", []) for button in row]


@contextlib.asynccontextmanager
async def running_bot(tmp_path: Path, rasa_url: str, **overrides: str) -> AsyncIterator[Bot]:
    async with FakeBotApi(token=DEFAULT_TOKEN) as api:
        env = {
            "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN,
            "TELEGRAM_BASE_URL": api.base_url,
            "RASA_URL": rasa_url,
            "DATABASE_PATH": str(tmp_path / "assistant.db"),
            "NLU_TIMEOUT": "2",
            **overrides,
        }
        settings = Settings.from_env(env)
        services = Services.create(settings, rasa_url)
        app = build_application(settings, services)
        try:
            async with receiving(app, settings, poll_timeout=1):
                yield Bot(api, services, app)
        finally:
            await services.aclose()


@pytest.fixture
async def bot(tmp_path: Path, rasa_url: str) -> AsyncIterator[Bot]:
    async with running_bot(tmp_path, rasa_url) as running:
        yield running


CONVERSATIONS = {
    "fa": ["salam, mikham bargardam iran", "بلیت هواپیما رو کی میده؟", "pasport nadaram chikar konam"],
    "fr": ["c est quoi l aide a la reintegration apres le retour", "qui paie le billet d avion?",
           "jai pas de passeport comment faire"],
    "nl": ["welke hulp krijg ik na mijn terugkeer voor een eigen zaak", "wie boekt het vliegticket?",
           "ik heb geen paspoort wat moet ik doen"],
    "en": ["can you help me start a business back home?", "who pays for the plane ticket?",
           "i dont have a passport what can i do"],
}  # fmt: skip


@pytest.mark.parametrize("language", list(CONVERSATIONS))
async def test_telegram_full_conversation_in_each_language(
    bot: Bot, library: ContentLibrary, language: str
) -> None:
    code = {"fa": "fa-IR", "fr": "fr-BE", "nl": "nl-BE", "en": "en-GB"}[language]
    bot.api.send_command(USER, "/start", language_code=code)
    [keyboard] = await bot.api.wait_for_messages(USER, 1, timeout=20)
    assert LANGUAGE + language in buttons(keyboard)
    assert bot.api.commands.get(language), "commands registered for the language"

    _confirmation, privacy, menu = await bot.press(LANGUAGE + language, 3)
    assert "/forget" in privacy.text
    assert TOPIC + "eligibility" in buttons(menu)

    answers = {library.answer(intent, language).text for intent in INTENTS}
    for question in CONVERSATIONS[language]:
        [reply] = await bot.say(question, language_code=code)
        assert reply.text in answers, question
        assert reply.parse_mode == "HTML"
        assert TOPIC + "talk_to_counsellor" in buttons(reply)

    [unsure] = await bot.say("zzqx vbbn kkkk", language_code=code)
    assert unsure.text not in answers
    assert TOPIC + "talk_to_counsellor" in buttons(unsure)

    bot.api.send_command(USER, "/menu", language_code=code)
    [menu] = await bot.api.wait_for_messages(USER, 1, timeout=20)
    assert len(buttons(menu)) == 20

    bot.api.send_voice(USER, language_code=code)
    [voice] = await bot.api.wait_for_messages(USER, 1, timeout=20)
    assert TOPIC + "talk_to_counsellor" in buttons(voice)
    assert voice.text == library.translator(language).gettext(
        "I can only read text messages. Please type your question, or choose a topic."
        " You can also talk to a counsellor."
    )

    bot.api.send_command(USER, "/forget", language_code=code)
    [confirm] = await bot.api.wait_for_messages(USER, 1, timeout=20)
    assert FORGET_YES in buttons(confirm)
    await bot.press(FORGET_YES)
    assert bot.services.store.get_user(f"tg:{USER}") is None


async def test_telegram_stays_silent_in_groups_and_on_edits(bot: Bot) -> None:
    await bot.first_contact()
    bot.api.send_group_text(-100123, USER, "salam, mikham bargardam iran")
    update = bot.api.send_text(USER, "who pays for the plane ticket?")
    await bot.api.wait_for_messages(USER, 1, timeout=20)
    bot.api.edit_text(USER, update["message"]["message_id"], "who pays for the ticket? (edited)")
    await bot.say("thanks")
    await asyncio.sleep(0.5)
    assert bot.api.messages_to(-100123) == []
    assert len(bot.api.messages_to(USER)) == 4  # privacy + 3 answers; nothing for the edit


@pytest.mark.parametrize(
    "text",
    [
        "x" * 4096,
        "\u202e\u2066\u200f salam \u2069",
        "💥" * 500,
        "<b>not html</b> & <script>",
        "\x00\x01\x02",
    ],
)
async def test_telegram_any_text_gets_a_reply_and_never_a_traceback(bot: Bot, text: str) -> None:
    await bot.first_contact()
    replies = await bot.say(text)
    assert replies and all("Traceback" not in reply.text for reply in replies)
    assert "<script>" not in "".join(reply.text for reply in replies)


async def test_telegram_forged_callback_data_gets_the_menu(bot: Bot) -> None:
    await bot.first_contact()
    [reply] = await bot.press("t:../../etc/passwd")
    assert TOPIC + "eligibility" in buttons(reply)


async def test_telegram_retry_after_is_retried_without_losing_the_reply(bot: Bot) -> None:
    await bot.first_contact()
    bot.api.fail_next("sendMessage", 1, "retry_after", retry_after=1)
    [reply] = await bot.say("who pays for the plane ticket?")
    assert TOPIC + "talk_to_counsellor" in buttons(reply)


async def test_telegram_network_error_is_retried_without_losing_the_reply(bot: Bot) -> None:
    await bot.first_contact()
    bot.api.fail_next("sendMessage", 1, "server_error")
    [reply] = await bot.say("who pays for the plane ticket?")
    assert TOPIC + "talk_to_counsellor" in buttons(reply)


async def test_telegram_user_who_blocked_the_bot_is_marked_inactive(bot: Bot) -> None:
    await bot.first_contact()
    bot.api.fail_next("sendMessage", 5, "blocked")
    bot.api.send_text(USER, "who pays for the plane ticket?")
    for _ in range(100):
        user = bot.services.store.get_user(f"tg:{USER}")
        if user is not None and not user.active:
            break
        await asyncio.sleep(0.1)
    user = bot.services.store.get_user(f"tg:{USER}")
    assert user is not None and not user.active


async def test_telegram_registers_commands_per_language(bot: Bot) -> None:
    await bot.first_contact()
    assert set(bot.api.commands) >= {"", "fa", "fr", "nl", "en"}
    names = [command["command"] for command in bot.api.commands["fa"]]
    assert names == ["menu", "language", "help", "forget", "cancel"]
    assert bot.api.commands["fa"][0]["description"] != bot.api.commands["en"][0]["description"]


async def test_telegram_degrades_while_nlu_is_stopped_and_recovers(
    tmp_path: Path, library: ContentLibrary
) -> None:
    port = free_port()
    server = RasaServer(latest_model(DEFAULT_MODELS), DEFAULT_RASA_VENV, port=port)
    server.start()
    try:
        await server.wait_ready()
        async with running_bot(tmp_path, server.url) as bot:
            await bot.first_contact()
            question = "who pays for the plane ticket?"
            [answer] = await bot.say(question)
            server.stop()
            started = asyncio.get_running_loop().time()
            [degraded] = await bot.say("i dont have a passport what can i do")
            assert asyncio.get_running_loop().time() - started < 5
            assert degraded.text == library.translator("en").gettext(
                "Sorry, I cannot read free text right now. Please choose a topic, or talk to a counsellor."
            )
            assert TOPIC + "eligibility" in buttons(degraded)
            # A question understood a moment ago is answered from the NLU cache meanwhile.
            [remembered] = await bot.say(question)
            assert remembered.text == answer.text
            server.start()
            await server.wait_ready()
            await asyncio.sleep(5.1)  # the resilient client's pause before it retries
            [again] = await bot.say("can you help me start a business back home?")
            assert again.text != degraded.text  # understood again, without a restart of the bot
    finally:
        server.stop()


async def test_per_chat_update_processor_keeps_one_chats_order_and_runs_chats_concurrently() -> None:
    processor = PerChatUpdateProcessor(16)
    events: list[str] = []

    def update(chat_id: int, update_id: int) -> Update:
        chat = Chat(chat_id, Chat.PRIVATE)
        return Update(update_id, message=Message(update_id, datetime.now(UTC), chat))

    async def work(name: str, delay: float) -> None:
        events.append(f"start {name}")
        await asyncio.sleep(delay)
        events.append(f"end {name}")

    await asyncio.gather(
        processor.process_update(update(1, 1), work("a1", 0.2)),
        processor.process_update(update(1, 2), work("a2", 0.0)),
        processor.process_update(update(2, 3), work("b1", 0.0)),
    )
    assert events.index("end a1") < events.index("start a2")  # same chat: in order
    assert events.index("end b1") < events.index("end a1")  # other chat: not held up
    assert processor._chats == {}  # idle chats are forgotten
