"""The staff commands `bot slots|bookings|callbacks|stats` against a real SQLite file."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import bot.booking.cli
from bot.booking.brussels import parse_brussels
from bot.booking.example_slots import seed_example_slots
from bot.booking.staff import pseudonym
from bot.booking.store import BookingStore
from bot.cli import main
from bot.clock import FixedClock
from bot.store.db import Store

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
KEY = "a-staff-pseudonym-key"
PHONE = "+32470123456"
USER = "7001234567"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "assistant.db"
    monkeypatch.setenv("DATABASE_PATH", str(path))
    monkeypatch.setenv("PSEUDONYM_KEY", KEY)
    monkeypatch.setattr(bot.booking.cli, "clock", FixedClock(NOW))
    return path


@pytest.fixture
def booking(database: Path) -> Iterator[BookingStore]:
    store = Store.open(database, clock=FixedClock(NOW))
    yield BookingStore(store)
    store.close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    status, out, err = run(capsys, *argv, "--json")
    assert status == 0, err
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def test_slots_add_then_list_in_brussels_time(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys, "slots", "add", "--start", "2026-12-10 14:00", "--minutes", "45", "--mode", "phone",
        "--languages", "fa,en", "--counsellor", "Sara",
    )  # fmt: skip
    assert (status, out.strip()) == (0, "added slot 1: 2026-12-10 14:00 phone")
    [slot] = run_json(capsys, "slots", "list")
    assert slot | {} == {
        "id": 1, "start": "2026-12-10 14:00", "minutes": 45, "mode": "phone", "desk": None,
        "languages": "fa,en", "capacity": 1, "booked": 0, "counsellor": "Sara", "example": False,
        "removed": False,
    }  # fmt: skip


def test_slots_add_weekly_until_a_date_across_the_clock_change(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bot.booking.cli.clock = FixedClock(datetime(2027, 3, 1, tzinfo=UTC))
    rows = run_json(
        capsys, "slots", "add", "--start", "2027-03-22 10:00", "--minutes", "30", "--mode", "desk",
        "--desk", "brussels", "--languages", "fa", "--weekly-until", "2027-04-05",
    )  # fmt: skip
    assert [row["start"] for row in rows] == ["2027-03-22 10:00", "2027-03-29 10:00", "2027-04-05 10:00"]


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("2027-03-28 02:30", "2027-03-28 02:30 does not exist in Brussels"),
        ("2026-10-25 02:30", "2026-10-25 02:30 occurs twice in Brussels"),
        ("10/12/2026 14:00", "YYYY-MM-DD HH:MM"),
    ],
)
def test_slots_add_refuses_a_time_that_is_skipped_repeated_or_unreadable(
    database: Path, capsys: pytest.CaptureFixture[str], start: str, message: str
) -> None:
    bot.booking.cli.clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    status, out, err = run(
        capsys, "slots", "add", "--start", start, "--minutes", "45", "--mode", "phone", "--languages", "fa"
    )
    assert status == 2 and message in err and err.count("\n") == 1 and out == ""


def test_slots_add_refuses_an_unknown_desk_and_a_missing_one(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "slots",
        "add",
        "--start",
        "2026-12-10 14:00",
        "--minutes",
        "45",
        "--mode",
        "desk",
        "--languages",
        "fa",
    ]
    status, _, err = run(capsys, *args, "--desk", "paris")
    assert status == 2 and "'paris' is not in" in err
    status, _, err = run(capsys, *args)
    assert status == 2 and "needs --desk" in err


def test_slots_import_with_a_bad_line_names_line_and_column_and_imports_nothing(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "slots.csv"
    path.write_text(
        "start,minutes,mode,desk,languages,capacity,counsellor\n"
        '2026-12-10 14:00,45,phone,,"fa,en",1,Sara\n'
        '2026-12-11 14:00,forty,phone,,"fa,en",1,Sara\n',
        encoding="utf-8",
    )
    status, _, err = run(capsys, "slots", "import", str(path))
    assert status == 2
    assert "line 3, column 'minutes'" in err and "nothing was imported" in err
    assert run_json(capsys, "slots", "list") == []


def test_slots_import_a_slot_the_store_refuses_imports_nothing(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "slots.csv"
    path.write_text(
        "start,minutes,mode,languages\n2026-12-10 14:00,45,phone,fa\n2026-12-10 14:00,45,phone,fa\n",
        encoding="utf-8",
    )
    status, _, err = run(capsys, "slots", "import", str(path))
    assert status == 2 and "line 3, column 'start'" in err and "already open" in err
    assert run_json(capsys, "slots", "list") == []


def test_slots_export_then_import_into_another_database_gives_the_same_slots(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "slots.csv"
    path.write_text(
        "start,minutes,mode,desk,languages,capacity,counsellor\n"
        '2026-12-10 14:00,45,phone,,"fa,en",1,Sara\n'
        '2026-12-11 09:30,60,desk,ghent,"nl,fa",3,\n',
        encoding="utf-8",
    )
    assert run(capsys, "slots", "import", str(path))[0] == 0
    exported = tmp_path / "exported.csv"
    assert run(capsys, "slots", "export", str(exported))[0] == 0
    assert exported.read_text(encoding="utf-8") == path.read_text(encoding="utf-8")
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "other.db"))
    assert run(capsys, "slots", "import", str(exported))[0] == 0
    assert [row["start"] for row in run_json(capsys, "slots", "list")] == [
        "2026-12-10 14:00",
        "2026-12-11 09:30",
    ]


def test_slots_remove_cancels_the_meeting_and_leaves_a_notice(
    booking: BookingStore, capsys: pytest.CaptureFixture[str]
) -> None:
    slot = booking.add_slot(parse_brussels("2026-12-10 14:00"), 45, "phone", ["fa"]).id
    booking.book(USER, slot, "fa", phone=PHONE)
    status, out, _ = run(capsys, "slots", "remove", str(slot))
    assert status == 0 and "1 meeting(s) cancelled" in out
    assert [notice.kind for notice in booking.due_notices()] == ["cancelled"]


def test_bookings_list_shows_the_reference_never_the_user_id(
    booking: BookingStore, capsys: pytest.CaptureFixture[str]
) -> None:
    phone_slot = booking.add_slot(parse_brussels("2026-12-10 14:00"), 45, "phone", ["fa"]).id
    video_slot = booking.add_slot(parse_brussels("2026-12-09 10:00"), 30, "video", ["en"]).id
    booking.book(
        USER, phone_slot, "fa", phone=PHONE, topics=["documents"], note="papers", interpreter_language=None
    )
    booking.book("other", video_slot, "en", topics=["work"])
    status, out, _ = run(capsys, "bookings", "list", "--json")
    rows = json.loads(out)
    assert status == 0 and USER not in out
    assert [(r["start"], r["mode"], r["phone"], r["note"]) for r in rows] == [
        ("2026-12-09 10:00", "video", None, None),
        ("2026-12-10 14:00", "phone", PHONE, "papers"),
    ]
    assert rows[1]["reference"] == pseudonym(USER, KEY)
    status, out, _ = run(capsys, "bookings", "list")
    assert status == 0 and "2026-12-10 14:00" in out and USER not in out  # the rich table


def test_bookings_cancel_move_and_mark(booking: BookingStore, capsys: pytest.CaptureFixture[str]) -> None:
    first = booking.add_slot(parse_brussels("2026-12-10 14:00"), 45, "phone", ["fa"]).id
    second = booking.add_slot(parse_brussels("2026-12-11 14:00"), 45, "phone", ["fa"]).id
    made = booking.book(USER, first, "fa", phone=PHONE)
    status, out, _ = run(capsys, "bookings", "move", str(made.id), "--to", str(second))
    assert status == 0 and "2026-12-11 14:00" in out
    assert [n.kind for n in booking.due_notices()] == ["moved"]
    status, _, err = run(capsys, "bookings", "mark", str(made.id), "attended")
    assert status == 1 and "has not begun" in err
    status, _, _ = run(capsys, "bookings", "cancel", str(made.id))
    assert status == 0 and booking.booking(made.id).status == "cancelled"
    status, _, err = run(capsys, "bookings", "cancel", str(made.id))
    assert status == 1 and "not upcoming" in err
    status, _, err = run(capsys, "bookings", "show", "999")
    assert status == 1 and err == "bot: no booking 999\n"


def test_bookings_export_as_csv_and_json(booking: BookingStore, capsys: pytest.CaptureFixture[str]) -> None:
    slot = booking.add_slot(parse_brussels("2026-12-10 14:00"), 45, "phone", ["fa"]).id
    booking.book(USER, slot, "fa", phone=PHONE, topics=["documents", "family"])
    status, out, _ = run(capsys, "bookings", "export")
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert status == 0 and (row["topics"], row["phone"], row["status"]) == (
        "documents,family",
        PHONE,
        "booked",
    )
    status, out, _ = run(capsys, "bookings", "export", "--format", "json")
    assert json.loads(out)[0]["reference"] == pseudonym(USER, KEY)


def test_callbacks_list_and_done(booking: BookingStore, capsys: pytest.CaptureFixture[str]) -> None:
    request = booking.request_callback(USER, PHONE, "fa", "morning")
    [row] = run_json(capsys, "callbacks", "list")
    assert (row["id"], row["phone"], row["part_of_day"]) == (request.id, PHONE, "morning")
    assert run(capsys, "callbacks", "done", str(request.id))[0] == 0
    assert run_json(capsys, "callbacks", "list") == []
    [done] = run_json(capsys, "callbacks", "list", "--all")
    assert (done["status"], done["phone"]) == ("done", None)


def test_stats_by_iso_week_and_language(booking: BookingStore, capsys: pytest.CaptureFixture[str]) -> None:
    for user_id, when, language in [("a", "2026-12-08 10:00", "fa"), ("b", "2026-12-09 10:00", "fa"),
                                     ("c", "2026-12-15 10:00", "nl")]:  # fmt: skip
        slot = booking.add_slot(parse_brussels(when), 30, "video", [language]).id
        made = booking.book(user_id, slot, language)
    booking.cancel(made.id)
    booking.request_callback("d", PHONE, "fa", "afternoon")
    rows = run_json(capsys, "stats")
    assert rows == [
        {"week": "2026-W49", "language": "fa", "bookings": 0, "attended": 0, "missed": 0, "cancelled": 0,
         "callbacks": 1},
        {"week": "2026-W50", "language": "fa", "bookings": 2, "attended": 0, "missed": 0, "cancelled": 0,
         "callbacks": 0},
        {"week": "2026-W51", "language": "nl", "bookings": 1, "attended": 0, "missed": 0, "cancelled": 1,
         "callbacks": 0},
    ]  # fmt: skip


def test_example_slots_fill_an_empty_development_database_once(booking: BookingStore) -> None:
    added = seed_example_slots(booking)
    slots = booking.list_slots()
    assert added == len(slots) > 0 and all(slot.example for slot in slots)
    assert {slot.mode for slot in slots} == {"phone", "video", "desk"}
    assert all(slot.starts_at.astimezone(UTC).weekday() < 5 for slot in slots)
    assert seed_example_slots(booking) == 0
