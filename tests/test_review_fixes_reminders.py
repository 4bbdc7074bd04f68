"""Review R2: one reminder that cannot be sent does not stop the others (fake Bot API, real SQLite)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.booking.models import Booking
from tests.test_telegram_booking import (
    NO_NLU,
    THURSDAY_2PM,
    USER,
    Bot,
    book_by_taps,
    choose_language,
    running_bot,
    wait_for_job,
)  # fmt: skip

OTHER = 778


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Bot]:
    async with running_bot(tmp_path, NO_NLU) as running:
        yield running


async def test_one_bad_reminder_is_dropped_and_the_next_is_still_sent(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot.slot(THURSDAY_2PM, "video", ("en",))
    other_slot = bot.slot(THURSDAY_2PM, "phone", ("en",))
    await choose_language(bot, "en")
    await book_by_taps(bot, "en", "video")
    broken = bot.booking()
    bot.services.bookings.book(f"tg:{OTHER}", other_slot.id, "en", phone="+32470123456")
    desk = bot.services.booking_desk
    real = desk.reminder_reply

    def reminder_reply(booking: Booking, language: str, kind: str | None = None) -> Any:
        if booking.id == broken.id:  # a row the code cannot turn into a message
            raise KeyError("a broken row")
        return real(booking, language, kind)

    monkeypatch.setattr(desk, "reminder_reply", reminder_reply)
    bot.clock.set(THURSDAY_2PM - timedelta(hours=24))
    [reminder] = await bot.api.wait_for_messages(OTHER, 1, timeout=20)
    assert "Reminder" in reminder.text
    await wait_for_job(bot)
    assert not [m for m in bot.api.messages_to(USER) if "Reminder" in m.text]
    dropped = bot.services.bookings.db.execute(
        "SELECT count(*) FROM reminders WHERE booking_id = ? AND status = 'dropped'"
        " AND dropped_because = 'error'",
        [broken.id],
    ).fetchone()[0]
    assert dropped == 1  # tried once, then given up: not again every run
