"""`bot chat`: the dialogue core in a terminal, buttons as numbered choices."""

from __future__ import annotations

import io
import os
import re
import subprocess
from datetime import timedelta
from pathlib import Path

from icalendar import Calendar

from bot.clock import FixedClock
from bot.dialogue.replies import Button, Reply
from bot.frontends.console import ConsoleChat, _open_example_slots, render, to_terminal
from bot.services import Services
from bot.settings import PROJECT_ROOT, Settings
from tests.conftest import CONTENT_DAY

PERSIAN = re.compile(r"[\u0600-\u06FF]")
PERSIAN_DIGITS = re.compile(r"[۰-۹]{4}")


def test_console_render_numbers_the_buttons_and_strips_markup() -> None:
    reply = Reply(
        '<b>Title</b> &amp; <a href="https://x.be">site</a>', ((Button("A", "a"), Button("B", "b")),)
    )
    assert render(reply) == "Title & site (https://x.be)\n  [1] A\n  [2] B"
    assert to_terminal("<b>x</b>", ansi=True) == "\033[1mx\033[0m"


async def test_console_number_taps_the_last_replys_button(tmp_path: Path, rasa_url: str) -> None:
    settings = Settings.from_env(
        {"DATABASE_PATH": str(tmp_path / "a.db"), "RASA_URL": rasa_url, "SERVE_DRAFT_ANSWERS": "true"}
    )
    services = Services.create(settings, rasa_url, clock=FixedClock(CONTENT_DAY))
    out = io.StringIO()
    chat = ConsoleChat(services.dialogue, out)
    try:
        await chat.begin(None)
        french = next(i for i, button in enumerate(chat.choices, 1) if button.data == "l:fr")
        await chat.handle(str(french))
        assert "je vous réponds en Français" in out.getvalue()
        await chat.handle("/menu")
        assert len(chat.choices) == 20
    finally:
        await services.aclose()


def test_console_chat_answers_finglish_in_farsi(tmp_path: Path, rasa_url: str) -> None:
    result = subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "bot"), "chat"],
        input="salam, mikham bargardam iran\n/quit\n", capture_output=True, text=True, timeout=120,
        env={**os.environ, "RASA_URL": rasa_url, "DATABASE_PATH": str(tmp_path / "a.db")}, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    after_question = result.stdout.split("Français", 1)[-1]
    assert PERSIAN.search(after_question), result.stdout


def tap(chat: ConsoleChat, data: str) -> str:
    """The number the person types to tap the button with `data` (it must be on offer)."""
    numbers = [str(number) for number, button in enumerate(chat.choices, 1) if button.data == data]
    assert numbers, (data, [button.data for button in chat.choices])
    return numbers[0]


async def test_console_farsi_phone_booking_saves_the_calendar_file(tmp_path: Path) -> None:
    settings = Settings.from_env({"DATABASE_PATH": str(tmp_path / "dev.db"), "SERVE_DRAFT_ANSWERS": "true"})
    services = Services.create(settings, "http://127.0.0.1:9", clock=FixedClock(CONTENT_DAY))  # no NLU asked
    out = io.StringIO()
    chat = ConsoleChat(services.dialogue, out, downloads=tmp_path / "chat-downloads")
    try:
        _open_example_slots(services.bookings, settings.database_path)
        assert services.bookings.count_open_slots() > 0
        await chat.begin("fa")
        await chat.handle("/appointment")
        for data in ("b:book", "b:m:phone", "b:l:fa"):
            await chat.handle(tap(chat, data))
        times = out.getvalue().rsplit("\n\n", 1)[-1]
        assert PERSIAN_DIGITS.search(times) and "1405" not in times  # Solar Hijri year in Persian digits
        slot = next(button.data for button in chat.choices if button.data.startswith("b:s:"))
        await chat.handle(tap(chat, slot))
        await chat.handle("0470 12 34 56")  # the person types it: no button in a terminal
        assert "+32 470 12 34 56" in out.getvalue()
        for data in ("b:t:documents", "b:tdone", "b:ok"):
            await chat.handle(tap(chat, data))
        [saved] = (tmp_path / "chat-downloads").glob("meeting-*.ics")
        assert f"(file saved: {saved})" in out.getvalue()
        event = next(iter(Calendar.from_ical(saved.read_bytes()).walk("VEVENT")))
        assert event.decoded("dtstart").tzinfo.key == "Europe/Brussels"
        booking = services.bookings.upcoming_booking("console:local")
        assert booking is not None and booking.mode == "phone" and booking.phone == "+32470123456"
        assert booking.slot.example
    finally:
        await services.aclose()


async def test_console_example_slots_never_go_into_a_database_where_staff_opened_times(
    tmp_path: Path,
) -> None:
    settings = Settings.from_env({"DATABASE_PATH": str(tmp_path / "assistant.db")})
    clock = FixedClock(CONTENT_DAY)
    services = Services.create(settings, "http://127.0.0.1:9", clock=clock)
    try:
        # Staff opened a time that is now past: none is open, yet this is a real service's database.
        services.bookings.add_slot(CONTENT_DAY + timedelta(days=1), 45, "phone", ("fa",))
        clock.advance(timedelta(days=2))
        _open_example_slots(services.bookings, settings.database_path)
        assert services.bookings.count_open_slots() == 0
    finally:
        await services.aclose()
