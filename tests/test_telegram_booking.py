"""Booking end to end: the real Application against the fake Bot API, the real Rasa, a SQLite file.

The booking's own steps are tested in test_booking_flow.py; here, what only Telegram does:
the phone-number keyboard and shared contacts, the calendar file as a document, what staff
see on the staff group (STAFF_CHAT_ID; the forum's own tests are test_staff_forum*) and with
`bot bookings list`, reminders and staff notices sent by the job, /forget across every table.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar, Event

from bot.booking import cli as booking_cli
from bot.booking.display import format_when
from bot.booking.models import Booking, Slot
from bot.booking.staff import pseudonym
from bot.cli import main
from bot.clock import FixedClock
from bot.dialogue.replies import FORGET_YES, LANGUAGE, TOPIC
from bot.services import Services
from tests.conftest import CONTENT_DAY
from tests.fakebotapi import DEFAULT_TOKEN, FakeBotApi, SentMessage, UploadedFile
from tests.telegram_world import buttons, running_assistant

USER = 777
STAFF_CHAT = -1009876543210
KEY = "staff-reference-key-0123456789"
NO_NLU = "http://127.0.0.1:9"
"""Nothing listens there: for tests that only tap and type into booking steps."""
# Thursday 3 December 2026, 14:00 in Brussels (12 Azar 1405); CONTENT_DAY is Tuesday 1 December.
THURSDAY_2PM = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)
COUNSELLOR = TOPIC + "talk_to_counsellor"


@dataclass
class Bot:
    """A running assistant, the fake Telegram it talks to, and the clock it reads."""

    api: FakeBotApi
    services: Services
    clock: FixedClock
    database: Path

    async def ask_for_counsellor(self) -> SentMessage:
        """Tap "talk to a counsellor"; return the offer of a meeting and a call-back."""
        [offer] = await self.press(COUNSELLOR)
        while "b:book" not in buttons(offer):  # the handoff may first say nobody can write now
            [offer] = await self.api.wait_for_messages(USER, 1, timeout=20)
        return offer

    async def press(self, data: str, count: int = 1, *, user: int = USER) -> list[SentMessage]:
        """Tap the button with `data` on the newest bot message that has it."""
        message = next(m for m in reversed(self.api.messages_to(user)) if data in buttons(m))
        self.api.press_button(user, data, message.message_id)
        return await self.api.wait_for_messages(user, count, timeout=20)

    async def command(self, name: str, count: int = 1, *, language: str = "en") -> list[SentMessage]:
        self.api.send_command(USER, name, language_code=language)
        return await self.api.wait_for_messages(USER, count, timeout=20)

    async def say(self, text: str, count: int = 1, *, language: str = "en") -> list[SentMessage]:
        self.api.send_text(USER, text, language_code=language)
        return await self.api.wait_for_messages(USER, count, timeout=20)

    def slot(
        self, starts_at: datetime, mode: str, languages: tuple[str, ...], desk: str | None = None
    ) -> Slot:
        return self.services.bookings.add_slot(starts_at, 45, mode, languages, desk=desk)  # type: ignore[arg-type]

    def booking(self) -> Booking:
        booking = self.services.bookings.upcoming_booking(f"tg:{USER}")
        assert booking is not None
        return booking

    def staff_cards(self) -> list[str]:
        return [message.text for message in self.api.messages_to(STAFF_CHAT)]


def slot_button(message: SentMessage) -> str:
    return next(data for data in buttons(message) if data.startswith("b:s:"))


def event_of(document: UploadedFile | None) -> Event:
    assert document is not None and document.filename.endswith(".ics")
    [event] = Calendar.from_ical(document.data).walk("VEVENT")
    assert isinstance(event, Event)
    return event


def sequence_of(document: UploadedFile | None) -> int:
    return int(str(event_of(document)["sequence"]))


@contextlib.asynccontextmanager
async def running_bot(tmp_path: Path, rasa_url: str, *, staff: bool = False) -> AsyncIterator[Bot]:
    """The assistant on a fixed clock; with `staff`, a staff group (a forum) set as STAFF_CHAT_ID."""
    async with FakeBotApi(token=DEFAULT_TOKEN) as api:
        env = {"PSEUDONYM_KEY": KEY, "JOBS_INTERVAL_SECONDS": "0.2"}
        if staff:
            api.make_forum(STAFF_CHAT)
            env["STAFF_CHAT_ID"] = str(STAFF_CHAT)
        async with running_assistant(api, tmp_path, rasa_url, **env) as running:
            yield Bot(api, running.services, running.clock, running.settings.database_path)


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Bot]:
    """The assistant for taps, commands and booking steps: no Rasa server is asked, no staff group."""
    async with running_bot(tmp_path, NO_NLU) as running:
        yield running


@pytest.fixture
async def staffed(tmp_path: Path) -> AsyncIterator[Bot]:
    """The same with a staff group."""
    async with running_bot(tmp_path, NO_NLU, staff=True) as running:
        yield running


def assert_staff_never_see_the_telegram_account(bot: Bot) -> None:
    for text in bot.staff_cards():
        assert str(USER) not in text and "Test" not in text


async def choose_language(bot: Bot, language: str) -> None:
    """/start, then the language: confirmation, privacy notice and menu."""
    await bot.command("/start", language=language)
    await bot.press(LANGUAGE + language, 3)


async def to_phone_step(bot: Bot, slot: Slot) -> None:
    """From /start in English to the phone step of a phone meeting in `slot` (contact keyboard shown)."""
    await choose_language(bot, "en")
    await bot.ask_for_counsellor()
    for data in ("b:book", "b:m:phone", "b:l:en"):
        await bot.press(data)
    await bot.press(f"b:s:{slot.id}", 2)


async def book_by_taps(
    bot: Bot, language: str, mode: str, desk: str | None = None, slot: Slot | None = None
) -> list[SentMessage]:
    """From the menu to the confirmation of a meeting without a phone number; return it and the file."""
    await bot.ask_for_counsellor()
    await bot.press("b:book")
    await bot.press(f"b:m:{mode}")
    if desk is not None:
        await bot.press(f"b:d:{desk}")
    [times] = await bot.press(f"b:l:{language}")
    await bot.press(slot_button(times) if slot is None else f"b:s:{slot.id}")
    await bot.press("b:tdone")
    return await bot.press("b:ok", 2)


# -- a person writing in Farsi books a phone meeting ---------------------------------------------


async def test_telegram_booking_farsi_phone_meeting_end_to_end(
    tmp_path: Path, rasa_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_bot(tmp_path, rasa_url, staff=True) as bot:
        slot = bot.slot(THURSDAY_2PM, "phone", ("fa", "en"))
        _privacy, answer = await bot.say("salam, mikham bargardam iran", 2, language="fa")
        assert COUNSELLOR in buttons(answer)  # understood as Farsi: the answer and its buttons
        offer = await bot.ask_for_counsellor()
        assert {"b:book", "b:call"} <= set(buttons(offer))
        [_modes] = await bot.press("b:book")
        [languages] = await bot.press("b:m:phone")
        assert buttons(languages)[0] == "b:l:fa"  # the person's language first
        [times] = await bot.press("b:l:fa")
        # Brussels time, Solar Hijri beside Gregorian, Persian digits.
        assert format_when(slot.starts_at, "fa") in times.text
        assert "۱۲ آذر ۱۴۰۵" in times.text and "3 December 2026" in times.text and "۱۴:۰۰" in times.text
        question, keyboard = await bot.press(f"b:s:{slot.id}", 2)
        assert "b:back" in buttons(question)
        # Telegram's share button comes in a message of its own: a reply keyboard.
        shown = bot.api.reply_keyboards[USER]
        [[share]] = shown["keyboard"]
        assert share["request_contact"] is True and shown["one_time_keyboard"] and shown["resize_keyboard"]
        assert keyboard.reply_markup == shown and keyboard.text

        bot.api.send_contact(USER, phone_number="32470123456", language_code="fa")  # no "+", as some clients
        read_back, _topics = await bot.api.wait_for_messages(USER, 2, timeout=20)
        assert "+32 470 12 34 56" in read_back.text
        assert USER not in bot.api.reply_keyboards  # taken away by the next reply without buttons
        assert read_back.reply_markup == {"remove_keyboard": True}
        await bot.press("b:t:documents")
        await bot.press("b:t:journey")
        [summary] = await bot.press("b:tdone")
        assert "+32 470 12 34 56" in summary.text
        confirmation, document = await bot.press("b:ok", 2)
        booking = bot.booking()

    assert (booking.mode, booking.language, booking.phone) == ("phone", "fa", "+32470123456")
    assert booking.topics == ("documents", "journey")
    assert "۱۲ آذر ۱۴۰۵" in confirmation.text and "+32 470 12 34 56" in confirmation.text
    assert document.method == "sendDocument"  # after the text, which stands on its own
    event = event_of(document.document)
    assert event.decoded("dtstart").tzinfo.key == "Europe/Brussels"
    assert event.decoded("dtstart") == THURSDAY_2PM
    assert str(event["uid"]) == booking.uid and sequence_of(document.document) == booking.sequence == 0
    assert document.document is not None and b"32470123456" not in document.document.data  # no number

    # Staff: the meeting on the staff group, by reference, and in `bot bookings list`.
    reference = pseudonym(f"tg:{USER}", KEY)
    [card] = [text for text in bot.staff_cards() if reference in text and "2026-12-03 14:00" in text]
    assert "fa" in card and "+32470123456" in card.replace(" ", "")
    assert_staff_never_see_the_telegram_account(bot)
    monkeypatch.setenv("DATABASE_PATH", str(bot.database))
    monkeypatch.setenv("PSEUDONYM_KEY", KEY)
    monkeypatch.setattr(booking_cli, "clock", FixedClock(CONTENT_DAY))
    assert main(["bookings", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["reference"] == reference and listed["start"] == "2026-12-03 14:00"
    assert (listed["mode"], listed["language"], listed["phone"]) == ("phone", "fa", "+32470123456")


# -- other modes and languages -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "mode", "desk", "expected"),
    [("fr", "desk", "brussels", "Bruxelles"), ("nl", "video", None, "donderdag 3 december 2026")],
)
async def test_telegram_booking_without_phone_in_each_mode(
    bot: Bot, language: str, mode: str, desk: str | None, expected: str
) -> None:
    bot.slot(THURSDAY_2PM, mode, (language, "en"), desk=desk)
    await choose_language(bot, language)
    confirmation, document = await book_by_taps(bot, language, mode, desk)
    booking = bot.booking()
    assert (booking.mode, booking.language, booking.phone, booking.slot.desk) == (mode, language, None, desk)
    assert expected in confirmation.text
    assert USER not in bot.api.reply_keyboards  # no phone asked, no keyboard shown
    event = event_of(document.document)
    if mode == "desk":
        assert "Bruxelles" in str(event["location"])
    else:
        assert "location" not in event
    assert bot.staff_cards() == []  # no staff group set: staff work from `bot bookings`


async def test_telegram_booking_english_call_back(staffed: Bot) -> None:
    bot = staffed
    await choose_language(bot, "en")
    await bot.ask_for_counsellor()
    _question, _keyboard = await bot.press("b:call", 2)
    assert USER in bot.api.reply_keyboards
    read_back, _languages = await bot.say("0470 12 34 56", 2)  # typed instead of shared
    assert "+32 470 12 34 56" in read_back.text and USER not in bot.api.reply_keyboards
    await bot.press("b:cl:en")
    [expectation] = await bot.press("b:p:morning")
    # Tuesday 11:00 in Brussels: the office answers until 12:30 this morning.
    assert "+32 470 12 34 56" in expectation.text
    assert "Tuesday, 1 December 2026, between 11:00 and 12:30" in expectation.text
    callback = bot.services.bookings.open_callback(f"tg:{USER}")
    assert callback is not None and (callback.language, callback.part_of_day) == ("en", "morning")
    reference = pseudonym(f"tg:{USER}", KEY)
    assert [
        text for text in bot.staff_cards() if reference in text and "+32470123456" in text.replace(" ", "")
    ]
    assert_staff_never_see_the_telegram_account(bot)


async def test_telegram_booking_someone_elses_contact_is_not_taken(bot: Bot) -> None:
    await choose_language(bot, "en")
    await bot.ask_for_counsellor()
    await bot.press("b:call", 2)
    bot.api.send_contact(USER, phone_number="+32470999999", contact_user_id=4242)
    _removal, reply = await bot.api.wait_for_messages(USER, 2, timeout=20)
    assert reply.text.startswith("I can only read text messages")
    assert bot.services.bookings.get_draft(f"tg:{USER}") is not None  # still waiting for a number


async def test_telegram_booking_back_from_the_phone_step_takes_the_keyboard_away(bot: Bot) -> None:
    slot = bot.slot(THURSDAY_2PM, "phone", ("en",))
    await to_phone_step(bot, slot)
    assert USER in bot.api.reply_keyboards
    removal, times = await bot.press("b:back", 2)  # every reply has buttons: a short message first
    assert removal.reply_markup == {"remove_keyboard": True} and f"b:s:{slot.id}" in buttons(times)
    assert USER not in bot.api.reply_keyboards
    assert not bot.api.refused_calls()


# -- change, cancel ------------------------------------------------------------------------------


async def test_telegram_booking_appointment_change_then_cancel(bot: Bot) -> None:
    first = bot.slot(THURSDAY_2PM, "video", ("en",))
    later = bot.slot(THURSDAY_2PM + timedelta(days=1), "video", ("en",))
    await choose_language(bot, "en")
    await book_by_taps(bot, "en", "video")
    booking = bot.booking()

    [meeting] = await bot.command("/appointment")
    assert {f"b:chg:{booking.id}", f"b:cxl:{booking.id}"} <= set(buttons(meeting))
    [times] = await bot.press(f"b:chg:{booking.id}")
    assert f"b:s:{later.id}" in buttons(times)
    await bot.press(f"b:s:{later.id}")
    _moved, moved_file = await bot.press("b:ok", 2)
    assert bot.booking().slot.id == later.id
    assert bot.services.bookings.slot(first.id).booked == 0  # the old time is free again
    assert sequence_of(moved_file.document) == 1
    assert str(event_of(moved_file.document)["uid"]) == booking.uid

    await bot.command("/appointment")
    await bot.press(f"b:cxl:{booking.id}")
    _cancelled, cancelled_file = await bot.press(f"b:cxy:{booking.id}", 2)
    assert bot.services.bookings.upcoming_booking(f"tg:{USER}") is None
    assert bot.services.bookings.slot(later.id).booked == 0
    assert sequence_of(cancelled_file.document) == 2


# -- /forget -------------------------------------------------------------------------------------


def rows_mentioning(database: Path, needle: str) -> dict[str, int]:
    """Count, per table, the rows whose text columns contain `needle` (every table of the file)."""
    found: dict[str, int] = {}
    with contextlib.closing(sqlite3.connect(database)) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [row[1] for row in connection.execute(f"PRAGMA table_info('{table}')")]
            if not columns:
                continue
            where = " OR ".join(f'CAST("{column}" AS TEXT) LIKE ?' for column in columns)
            count = connection.execute(f'SELECT COUNT(*) FROM "{table}" WHERE {where}',
                                       [f"%{needle}%"] * len(columns)).fetchone()[0]  # fmt: skip
            if count:
                found[table] = count
    return found


async def test_telegram_booking_forget_leaves_no_row_and_frees_the_slot(staffed: Bot) -> None:
    bot = staffed
    slot = bot.slot(THURSDAY_2PM, "desk", ("en",), desk="brussels")
    await choose_language(bot, "en")
    await book_by_taps(bot, "en", "desk", "brussels")
    user_key = f"tg:{USER}"
    assert "users" in rows_mentioning(bot.database, user_key)
    assert "bookings" in rows_mentioning(bot.database, user_key)

    await bot.command("/forget")
    [done] = await bot.press(FORGET_YES)
    assert "deleted" in done.text
    assert rows_mentioning(bot.database, user_key) == {}
    assert bot.services.bookings.slot(slot.id).booked == 0
    reference = pseudonym(user_key, KEY)
    cards = bot.staff_cards()
    assert f"Meeting cancelled · {reference} · 2026-12-03 14:00" in cards
    assert f"The person deleted their data · {reference}" in cards
    assert_staff_never_see_the_telegram_account(bot)


# -- messages the assistant sends on its own -----------------------------------------------------


async def wait_for_job(bot: Bot, runs: int = 5) -> None:
    """Let the due-messages job (every 0.2 s) run a few times."""
    await asyncio.sleep(0.2 * runs)


async def test_telegram_booking_reminders_come_once_each_at_their_time(bot: Bot) -> None:
    bot.slot(THURSDAY_2PM, "video", ("en",))
    await choose_language(bot, "en")
    await book_by_taps(bot, "en", "video")
    booking = bot.booking()
    sent = len(bot.api.messages_to(USER))
    bot.clock.set(THURSDAY_2PM - timedelta(hours=24, minutes=1))
    await wait_for_job(bot)
    assert len(bot.api.messages_to(USER)) == sent  # a minute early: nothing yet
    bot.clock.set(THURSDAY_2PM - timedelta(hours=24))
    [reminder] = await bot.api.wait_for_messages(USER, 1, timeout=20)
    assert reminder.text.startswith("<b>Reminder: your meeting with a counsellor is in 24 hours.</b>")
    assert f"b:cxl:{booking.id}" in buttons(reminder)
    await wait_for_job(bot)
    bot.clock.set(THURSDAY_2PM - timedelta(hours=2))
    [second] = await bot.api.wait_for_messages(USER, 1, timeout=20)
    assert "in 2 hours" in second.text
    await wait_for_job(bot)
    reminders = [m for m in bot.api.messages_to(USER) if m.text.startswith("<b>Reminder")]
    assert len(reminders) == 2


async def test_telegram_booking_no_reminder_for_a_cancelled_meeting_or_a_blocked_user(bot: Bot) -> None:
    bot.slot(THURSDAY_2PM, "video", ("en",))
    friday = bot.slot(THURSDAY_2PM + timedelta(days=1), "video", ("en",))
    await choose_language(bot, "en")
    await book_by_taps(bot, "en", "video")
    booking = bot.booking()
    bot.services.bookings.cancel(booking.id, "person")
    bot.clock.set(THURSDAY_2PM - timedelta(hours=2))
    await wait_for_job(bot)
    assert not [m for m in bot.api.messages_to(USER) if "Reminder" in m.text]

    bot.clock.set(CONTENT_DAY)
    await book_by_taps(bot, "en", "video", slot=friday)
    bot.api.fail_next("sendMessage", 1, "blocked")
    bot.clock.set(THURSDAY_2PM + timedelta(days=1, hours=-24))
    await wait_for_job(bot)
    user = bot.services.store.get_user(f"tg:{USER}")
    assert user is not None and not user.active
    refused = [call for call in bot.api.calls if call.failure == "blocked"]
    assert len(refused) == 1  # tried once, then dropped: never again
    await wait_for_job(bot)
    assert len([call for call in bot.api.calls if call.method == "sendMessage"
                and "Reminder" in str(call.params.get("text"))]) == 1  # fmt: skip


async def test_telegram_booking_person_is_told_when_staff_cancel(bot: Bot) -> None:
    slot = bot.slot(THURSDAY_2PM, "phone", ("en",))
    await to_phone_step(bot, slot)
    await bot.say("0470 12 34 56", 2)
    await bot.press("b:tdone")
    await bot.press("b:ok", 2)
    bot.services.bookings.remove_slot(slot.id)  # as `bot slots remove` does
    notice, document = await bot.api.wait_for_messages(USER, 2, timeout=20)
    assert "had to cancel your meeting" in notice.text and "b:book" in buttons(notice)
    assert document.document is not None
    sent = len(bot.api.messages_to(USER))
    await wait_for_job(bot)
    assert len(bot.api.messages_to(USER)) == sent  # told once
