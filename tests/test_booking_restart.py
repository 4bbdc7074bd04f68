"""Reminders survive `kill -9`: the installed `bot run` against the fake Bot API, killed and started again.

The database decides what is due, not memory: a meeting booked in one process is reminded
of by the next one, exactly once, and a cancelled meeting never is.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.booking.models import Slot
from bot.booking.store import BookingStore
from bot.dialogue.replies import TOPIC
from bot.settings import PROJECT_ROOT
from bot.store.db import Store
from tests.fakebotapi import DEFAULT_TOKEN, FakeBotApi, SentMessage
from tests.telegram_world import buttons

PERSON, CANCELLER = 4101, 4102
REMINDER_24H = "Reminder: your meeting with a counsellor is in 24 hours."
REMINDER_2H = "Reminder: your meeting with a counsellor is in 2 hours."
# The reminder is due this long after the slots are opened: time enough to start the
# assistant, book, cancel and kill it before the moment comes.
LEAD = timedelta(seconds=40)


@contextlib.asynccontextmanager
async def assistant(api: FakeBotApi, database: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """`bot run` in a process of its own, polling the fake; killed (SIGKILL) if still running at the end."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("WEBHOOK_", "STAFF_", "PSEUDONYM_"))}  # fmt: skip
    env |= {
        "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN,
        "TELEGRAM_BASE_URL": api.base_url,
        "DATABASE_PATH": str(database),
        "RASA_URL": "http://127.0.0.1:9",  # taps and commands only: nothing asks the NLU
        "SERVE_DRAFT_ANSWERS": "true",
        "JOBS_INTERVAL_SECONDS": "0.5",
    }
    process = await asyncio.create_subprocess_exec(
        str(PROJECT_ROOT / ".venv" / "bin" / "bot"), "run", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


class Person:
    """Someone tapping through the booking on the fake Telegram."""

    def __init__(self, api: FakeBotApi, user: int) -> None:
        self.api = api
        self.user = user

    async def command(self, text: str, count: int) -> list[SentMessage]:
        command, _, payload = text.partition(" ")
        self.api.send_command(self.user, command, payload or None)
        return await self.api.wait_for_messages(self.user, count, timeout=60)

    async def press(self, data: str, count: int = 1) -> list[SentMessage]:
        message = next(m for m in reversed(self.api.messages_to(self.user)) if data in buttons(m))
        self.api.press_button(self.user, data, message.message_id)
        return await self.api.wait_for_messages(self.user, count, timeout=30)

    async def book(self, slot: Slot) -> None:
        await self.command("/start en", 3)  # the language from the deep link: confirmation, privacy, menu
        [reply] = await self.press(TOPIC + "talk_to_counsellor")
        while "b:book" not in buttons(reply):  # the handoff may first say nobody can write now
            [reply] = await self.api.wait_for_messages(self.user, 1, timeout=30)
        for data in ("b:book", "b:m:video", "b:l:en", f"b:s:{slot.id}", "b:tdone"):
            await self.press(data)
        await self.press("b:ok", 2)  # the confirmation and its calendar file


def reminders_to(api: FakeBotApi, user: int, text: str) -> int:
    return sum(text in message.text for message in api.messages_to(user))


async def test_booking_reminder_arrives_once_after_kill_9_and_never_for_a_cancelled_meeting(
    tmp_path: Path,
) -> None:
    database = tmp_path / "assistant.db"
    store = Store.open(database)
    bookings = BookingStore(store)
    # The test's own clock reading sets up the data relative to now; nothing asserts on it.
    starts_at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=24) + LEAD
    kept = bookings.add_slot(starts_at, 45, "video", ("en",), counsellor="anna")
    cancelled = bookings.add_slot(starts_at, 45, "video", ("en",), counsellor="bert")
    store.close()
    due_at = starts_at - timedelta(hours=24)

    async with FakeBotApi(token=DEFAULT_TOKEN) as api:
        person, canceller = Person(api, PERSON), Person(api, CANCELLER)
        async with assistant(api, database) as first:
            await person.book(kept)
            await canceller.book(cancelled)
            [meeting] = await canceller.command("/appointment", 1)
            [cancel] = [data for data in buttons(meeting) if data.startswith("b:cxl:")]
            await canceller.press(cancel)
            await canceller.press("b:cxy:" + cancel.removeprefix("b:cxl:"), 2)
            # Every update confirmed, so that the next process does not get the last tap again.
            for _ in range(200):
                if api.pending_update_count == 0:
                    break
                await asyncio.sleep(0.05)
            assert datetime.now(UTC) < due_at, "the booking took longer than LEAD: raise it"
            first.kill()  # SIGKILL: no shutdown, nothing flushed
            await first.wait()
        assert reminders_to(api, PERSON, REMINDER_24H) == 0  # not due before the kill

        async with assistant(api, database) as second:
            [reminder] = await api.wait_for_messages(PERSON, 1, timeout=LEAD.total_seconds() + 30)
            assert REMINDER_24H in reminder.text
            await asyncio.sleep(3)  # six more runs of the job: nothing is sent twice
            assert second.returncode is None
        assert reminders_to(api, PERSON, REMINDER_24H) == 1
        assert reminders_to(api, PERSON, REMINDER_2H) == 0  # not yet
        assert reminders_to(api, CANCELLER, "Reminder") == 0

    store = Store.open(database)
    try:
        assert len(BookingStore(store).list_slots(include_removed=True)) == 2  # `bot run` adds no slot
    finally:
        store.close()
