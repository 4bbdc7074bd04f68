"""End to end: the real python-telegram-bot Application, a fake Bot API on loopback, real Rasa."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from telegram import Chat, Message, Update
from telegram.ext import Application

from bot.clock import FixedClock
from bot.content.library import ContentLibrary
from bot.dialogue.replies import FORGET_YES, LANGUAGE, MENU, TOPIC
from bot.frontends.telegram import PerChatUpdateProcessor, build_application, receiving
from bot.nlu.client import EMPTY_PREDICTION, Prediction
from bot.nlu.intents import INTENTS
from bot.nlu.server import RasaServer, free_port, latest_model
from bot.services import Services
from bot.settings import DEFAULT_LOCALES, DEFAULT_MODELS, DEFAULT_RASA_VENV, Settings
from tests.conftest import CONTENT_DAY
from tests.fakebotapi import DEFAULT_TOKEN, FakeBotApi, SentMessage
from tests.telegram_world import buttons, running_assistant

USER = 777
NO_NLU = "http://127.0.0.1:9"
"""For tests that send no free text: nothing listens there, and nothing asks."""
APOLOGY = "Sorry, something went wrong on my side. Please try again, or send /menu."
UNSURE = "I am not sure I understood."


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


def catalog_answer(intent: str, language: str, locales: Path = DEFAULT_LOCALES) -> str:
    """The answer's text as the editors wrote it in the catalog file (not as the library serves it)."""
    with (locales / language / "LC_MESSAGES" / "answers.po").open("rb") as file:
        message = read_po(file).get(intent)
    assert message is not None and isinstance(message.string, str), intent
    return message.string


def title(text: str) -> str:
    """The first line of an answer, without its markup: enough to tell which answer it is."""
    return re.sub(r"<[^>]+>", "", text.split("\n", 1)[0])


@contextlib.asynccontextmanager
async def running_bot(tmp_path: Path, rasa_url: str, **overrides: str) -> AsyncIterator[Bot]:
    async with (
        FakeBotApi(token=DEFAULT_TOKEN) as api,
        running_assistant(api, tmp_path, rasa_url, NLU_TIMEOUT="2", **overrides) as running,
    ):
        yield Bot(api, running.services, running.app)


@pytest.fixture
async def bot(tmp_path: Path, rasa_url: str) -> AsyncIterator[Bot]:
    async with running_bot(tmp_path, rasa_url) as running:
        yield running


@pytest.fixture
async def bot_without_nlu(tmp_path: Path) -> AsyncIterator[Bot]:
    """The assistant for taps and commands only: no Rasa server is needed."""
    async with running_bot(tmp_path, NO_NLU) as running:
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
    ("text", "expected"),
    [
        ("x" * 4096, {"unsure"}),
        ("\u202e\u2066\u200f salam \u2069", {"greet"}),
        ("💥" * 500, {"unsure"}),
        # The model's confidence in out_of_scope sits at the threshold (0.47 against 0.45).
        ("<b>not html</b> & <script>", {"out_of_scope", "unsure"}),
        ("\x00\x01\x02", {"unsure"}),
    ],
)
async def test_telegram_hostile_text_gets_the_unsure_reply_or_its_topic(
    bot: Bot, text: str, expected: set[str], caplog: pytest.LogCaptureFixture
) -> None:
    bot.api.send_command(USER, "/start", "en")
    await bot.api.wait_for_messages(USER, 3, timeout=20)  # confirmation, privacy, menu
    with caplog.at_level(logging.ERROR):
        [reply] = await bot.say(text)
    got = (
        {"unsure"}
        if reply.text.startswith(UNSURE)
        else {intent for intent in INTENTS if title(catalog_answer(intent, "en")) in reply.text}
    )
    assert len(got) == 1 and got <= expected, (got, reply.text[:200])
    assert reply.parse_mode == "HTML" and TOPIC + "talk_to_counsellor" in buttons(reply)
    assert not [record for record in caplog.records if record.getMessage().startswith("Handler failed")]
    assert not bot.api.refused_calls()


async def test_telegram_forged_callback_data_gets_the_menu(bot: Bot) -> None:
    await bot.first_contact()
    [reply] = await bot.press("t:../../etc/passwd")
    assert TOPIC + "eligibility" in buttons(reply)


@pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")  # PTB's own
async def test_telegram_retry_after_then_success_delivers_each_reply_once(bot_without_nlu: Bot) -> None:
    api = bot_without_nlu.api
    api.fail_next("sendMessage", 1, "retry_after", retry_after=1)
    api.send_command(USER, "/start", "en")
    confirmation, privacy, menu = await api.wait_for_messages(USER, 3, timeout=20)
    assert "/forget" in privacy.text and TOPIC + "eligibility" in buttons(menu)
    calls = [call for call in api.calls if call.method == "sendMessage"]
    assert [call.failure for call in calls] == ["retry_after", None, None, None]
    assert calls[0].params["text"] == confirmation.text  # the refused one, then the same again
    await asyncio.sleep(0.3)  # anything sent twice would have arrived by now
    assert [m.text for m in api.messages_to(USER)] == [confirmation.text, privacy.text, menu.text]


async def test_telegram_bad_request_is_not_retried_and_the_next_reply_arrives(
    bot_without_nlu: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    api = bot_without_nlu.api
    api.fail_next("sendMessage", 1, "bad_request", description="can't parse entities: injected")
    with caplog.at_level(logging.INFO, logger="bot.frontends.telegram"):
        api.send_command(USER, "/start", "en")
        apology, privacy, menu = await api.wait_for_messages(USER, 3, timeout=20)
    [refused] = api.refused_calls()  # once: never retried
    assert refused.method == "sendMessage" and refused.failure == "bad_request"
    # A short apology, plain text (nothing Telegram could refuse again), with the menu.
    assert apology.text == APOLOGY and apology.parse_mode is None
    assert buttons(apology) == [MENU, TOPIC + "talk_to_counsellor"]
    # The replies after the refused one are still sent.
    assert "/forget" in privacy.text and TOPIC + "eligibility" in buttons(menu)
    logged = [record.getMessage() for record in caplog.records if "refused the reply" in record.getMessage()]
    assert len(logged) == 1 and refused.params["text"] not in logged[0]
    assert not [record for record in caplog.records if record.getMessage().startswith("Handler failed")]


async def test_telegram_network_error_is_retried_without_losing_the_reply(bot_without_nlu: Bot) -> None:
    api = bot_without_nlu.api
    api.fail_next("sendMessage", 1, "server_error")
    api.send_command(USER, "/help")
    [reply] = await api.wait_for_messages(USER, 1, timeout=20)
    assert [call.failure for call in api.calls if call.method == "sendMessage"] == ["server_error", None]
    assert "/forget" in reply.text


async def test_telegram_broken_catalog_edit_never_reaches_telegram(
    tmp_path: Path, locales_copy: Path
) -> None:
    answers = locales_copy / "fr" / "LC_MESSAGES" / "answers.po"
    original = catalog_answer("costs", "fr", locales_copy)
    assert original.startswith("<b>") and original.count('"') == 0  # the edit below is a plain swap
    first_line = original.split("\n", 1)[0]
    edited = answers.read_text(encoding="utf-8").replace(first_line, "Free & <b>no cost", 1)
    answers.write_text(edited, encoding="utf-8")
    async with running_bot(tmp_path, NO_NLU, LOCALES_DIR=str(locales_copy)) as bot:
        bot.api.send_command(USER, "/start", "fr")
        await bot.api.wait_for_messages(USER, 3, timeout=20)
        [reply] = await bot.press(TOPIC + "costs")
    assert not bot.api.refused_calls()
    assert "no cost" not in reply.text and reply.text != APOLOGY
    # The fallback: the English answer, introduced by a note in French.
    assert title(catalog_answer("costs", "en")) in reply.text
    assert reply.text.startswith("<i>") and reply.parse_mode == "HTML"


async def test_telegram_user_who_blocked_the_bot_is_marked_inactive_and_sent_nothing_more(
    bot_without_nlu: Bot,
) -> None:
    api, store = bot_without_nlu.api, bot_without_nlu.services.store
    api.send_command(USER, "/start", "en")
    await api.wait_for_messages(USER, 3, timeout=20)
    api.fail_next("sendMessage", 5, "blocked")
    api.send_command(USER, "/start", "en")  # two replies or more: the first is refused
    for _ in range(100):
        user = store.get_user(f"tg:{USER}")
        if user is not None and not user.active:
            break
        await asyncio.sleep(0.1)
    user = store.get_user(f"tg:{USER}")
    assert user is not None and not user.active
    refused = [call for call in api.calls if call.method == "sendMessage" and call.failure == "blocked"]
    assert len(refused) == 1  # neither retried nor followed by the other replies, nor an apology


async def test_telegram_registers_commands_per_language(bot: Bot) -> None:
    await bot.first_contact()
    assert set(bot.api.commands) >= {"", "fa", "fr", "nl", "en"}
    names = [command["command"] for command in bot.api.commands["fa"]]
    assert names == ["menu", "appointment", "language", "help", "forget", "cancel"]
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
        return Update(update_id, message=Message(update_id, CONTENT_DAY, chat))

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
    assert processor.busy_chats == 0  # idle chats are forgotten


class SlowNLU:
    """Understands nothing; takes its time over questions that say "slow"."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def parse(self, text: str) -> Prediction:
        if "slow" in text:
            await asyncio.sleep(self.seconds)
        return EMPTY_PREDICTION


async def test_telegram_one_chats_backlog_does_not_delay_other_chats(tmp_path: Path) -> None:
    slow_chat, other_chat, backlog = 5001, 5002, 10
    async with FakeBotApi(token=DEFAULT_TOKEN) as api:
        env = {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_BASE_URL": api.base_url,
               "DATABASE_PATH": str(tmp_path / "assistant.db")}  # fmt: skip
        settings = Settings.from_env(env)
        services = Services.create(settings, NO_NLU, clock=FixedClock(CONTENT_DAY))
        services.dialogue.nlu = SlowNLU(0.3)
        application = build_application(settings, services, concurrent_updates=4)
        try:
            async with receiving(application, settings, poll_timeout=1):
                for number in range(backlog):
                    api.send_text(slow_chat, f"slow question {number}")
                api.send_text(other_chat, "a quick question")
                await api.wait_for_messages(other_chat, 2, timeout=20)  # privacy, then the reply
                # The backlog takes 3 s; the other chat was answered before the first second
                # of it was over. (Holding one slot per queued update, the backlog's own
                # updates filled the 4 slots and the other chat waited for the 7th of them.)
                answered_in_slow_chat = len(api.messages_to(slow_chat)) - 1  # its privacy notice
                assert answered_in_slow_chat <= 3
                replies = await api.wait_for_messages(slow_chat, backlog + 1, timeout=20)
                assert all(TOPIC + "talk_to_counsellor" in buttons(reply) for reply in replies[1:])
                assert application.update_processor.max_concurrent_updates == 4
        finally:
            await services.aclose()
    assert isinstance(application.update_processor, PerChatUpdateProcessor)
    assert application.update_processor.busy_chats == 0
