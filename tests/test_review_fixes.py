"""Review R2's findings on the booking: forged numbers, a slot removed at the summary, a CSV not in UTF-8.

A real BookingStore on a SQLite file, the real catalogs, a fixed clock; the CLI through `bot`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import bot.booking.cli
from bot.booking.desks import load_desks
from bot.booking.flow import BookingDesk
from bot.booking.hours import OfficeHours
from bot.booking.staff import RecordingStaffBoard
from bot.booking.store import BookingStore
from bot.cli import main
from bot.clock import FixedClock
from bot.content.library import ContentLibrary
from bot.dialogue.replies import Reply
from bot.ids import parse_id
from bot.store.db import Store, User

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # Monday 10:00 in Brussels
THURSDAY_2PM = datetime(2026, 12, 10, 13, 0, tzinfo=UTC)
PERSON = User(id="tg:7001", language="en")
HUGE = "9" * 20  # past SQLite's INTEGER


@pytest.fixture
def bookings(tmp_path: Path) -> Iterator[BookingStore]:
    store = Store.open(tmp_path / "assistant.db", clock=FixedClock(NOW))
    yield BookingStore(store, FixedClock(NOW))
    store.close()


@pytest.fixture
def desk(bookings: BookingStore, library: ContentLibrary) -> BookingDesk:
    return BookingDesk(
        library, bookings, load_desks(), OfficeHours.parse("Mon-Fri 09:00-12:30,13:30-16:00"),
        hold_minutes=10, board=RecordingStaffBoard(), pseudonym_key="k" * 32, clock=FixedClock(NOW),
    )  # fmt: skip


async def tap(desk: BookingDesk, data: str) -> list[Reply]:
    replies = await desk.button(PERSON, data, "en")
    assert replies is not None
    return replies


def keys(replies: list[Reply]) -> list[str | None]:
    return [reply.key for reply in replies]


@pytest.mark.parametrize(
    ("text", "number"),
    [("17", 17), ("²", None), ("١٧", None), ("0", None), ("017", None), ("", None), (" 17", None),
     ("9" * 18, int("9" * 18)), (HUGE, None), ("-3", None)],
)  # fmt: skip
def test_parse_id_takes_only_bounded_ascii_numbers(text: str, number: int | None) -> None:
    assert parse_id(text) == number


@pytest.mark.parametrize("argument", ["²", HUGE])
async def test_booking_forged_slot_number_is_no_longer_valid(
    desk: BookingDesk, bookings: BookingStore, argument: str
) -> None:
    bookings.add_slot(THURSDAY_2PM, 45, "phone", ("en",))
    await tap(desk, "b:book")
    await tap(desk, "b:m:phone")
    [times] = await tap(desk, "b:l:en")
    assert times.key == "booking_time"
    stale, again = await tap(desk, f"b:s:{argument}")
    assert (stale.key, again.key) == ("booking_stale_button", "booking_time")


@pytest.mark.parametrize("action", ["chg", "cxl", "cxy"])
@pytest.mark.parametrize("argument", ["²", HUGE])
async def test_booking_forged_meeting_number_is_no_longer_valid(
    desk: BookingDesk, bookings: BookingStore, action: str, argument: str
) -> None:
    slot = bookings.add_slot(THURSDAY_2PM, 45, "video", ("en",))
    booking = bookings.book(PERSON.id, slot.id, "en")
    stale, meeting = await tap(desk, f"b:{action}:{argument}")
    assert (stale.key, meeting.key) == ("booking_stale_button", "meeting")
    assert bookings.booking(booking.id).status == "booked"


@pytest.mark.parametrize("data", ["b:resume", "b:t:family", "b:ok"])  # each shows the summary again
async def test_booking_slot_removed_at_the_summary_goes_back_to_the_times(
    desk: BookingDesk, bookings: BookingStore, data: str
) -> None:
    gone = bookings.add_slot(THURSDAY_2PM, 45, "video", ("en",))
    other = bookings.add_slot(THURSDAY_2PM.replace(hour=14), 45, "video", ("en",))
    await tap(desk, "b:book")
    await tap(desk, "b:m:video")
    await tap(desk, "b:l:en")
    await tap(desk, f"b:s:{gone.id}")
    [summary] = await tap(desk, "b:tdone")
    assert summary.key == "booking_summary"
    bookings.release_hold(PERSON.id)
    bookings.remove_slot(gone.id)
    replies = await tap(desk, data)
    assert replies[-1].key == "booking_time"
    shown = [button.data for button in replies[-1].choices]
    assert f"b:s:{other.id}" in shown and f"b:s:{gone.id}" not in shown
    assert "no longer offered" in " ".join(reply.text for reply in replies)
    draft = bookings.get_draft(PERSON.id)
    assert draft is not None and draft.step == "time" and draft.slot_id is None
    [topics] = await tap(desk, f"b:s:{other.id}")  # and booking goes on from there
    assert topics.key == "booking_topics"


# -- the CSV import ------------------------------------------------------------------------


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "assistant.db"
    monkeypatch.setenv("DATABASE_PATH", str(path))
    monkeypatch.setenv("PSEUDONYM_KEY", "a-staff-pseudonym-key")
    monkeypatch.setattr(bot.booking.cli, "clock", FixedClock(NOW))
    return path


def import_slots(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(["slots", "import", str(path)])
    _, err = capsys.readouterr()
    return status, err


def slot_count(database: Path) -> int:
    store = Store.open(database, clock=FixedClock(NOW))
    try:
        return len(BookingStore(store).list_slots())
    finally:
        store.close()


HEADER = "start,minutes,mode,desk,languages,capacity,counsellor\n"


@pytest.mark.parametrize(("column", "row"), [
    ("minutes", '2026-12-11 14:00,²,phone,,"fa,en",1,\n'),
    ("minutes", f'2026-12-11 14:00,{HUGE},phone,,"fa,en",1,\n'),
    ("capacity", '2026-12-11 14:00,45,phone,,"fa,en",³,\n'),
])  # fmt: skip
def test_slots_import_odd_digits_name_line_and_column(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], column: str, row: str
) -> None:
    path = tmp_path / "slots.csv"
    path.write_text(HEADER + '2026-12-10 14:00,45,phone,,"fa,en",1,\n' + row, encoding="utf-8")
    status, err = import_slots(path, capsys)
    assert status == 2 and f"line 3, column {column!r}" in err and "nothing was imported" in err
    assert slot_count(database) == 0


@pytest.mark.parametrize(
    "content",
    [
        (HEADER + '2026-12-10 14:00,45,desk,liège,"fr",1,Zoë\n').encode("cp1252"),
        (HEADER + '2026-12-10 14:00,45,phone,,"fa",1,"' + "x" * 140_000 + '"\n').encode(),
    ],
    ids=["cp1252", "csv-error"],
)
def test_slots_import_not_utf8_says_save_as_csv_utf8(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    path = tmp_path / "slots.csv"
    path.write_bytes(content)
    status, err = import_slots(path, capsys)
    assert status == 2
    assert "save the file as CSV UTF-8" in err and "nothing was imported" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert slot_count(database) == 0
