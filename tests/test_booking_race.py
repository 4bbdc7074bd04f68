"""The booking store under concurrency and faults, against a real SQLite file (WAL, one connection each)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from bot.booking.brussels import parse_brussels
from bot.booking.models import BookingError, SlotUnavailable
from bot.booking.store import BookingStore
from bot.clock import FixedClock
from bot.store.db import Store

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PHONE = "+32470123456"
T = TypeVar("T")


def _open(path: Path) -> BookingStore:
    """A process's own connection to the shared file."""
    return BookingStore(Store.open(path, clock=FixedClock(NOW)))


def _race(count: int, work: Callable[[int, BookingStore], T], path: Path) -> list[T | BookingError]:
    """Run `work` in `count` threads, each with its own connection, released at the same moment."""
    start = threading.Barrier(count)
    results: list[T | BookingError] = [BookingError("did not run")] * count

    def run(index: int) -> None:
        store = _open(path)  # a connection belongs to the thread that made it
        start.wait()
        try:
            results[index] = work(index, store)
        except BookingError as error:
            results[index] = error
        finally:
            store.db.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_twenty_people_racing_for_the_last_place_give_one_booking_and_nineteen_next_times(
    tmp_path: Path,
) -> None:
    path = tmp_path / "assistant.db"
    setup = _open(path)
    slot = setup.add_slot(parse_brussels("2026-12-10 14:00"), 45, "phone", ["fa"], capacity=3).id
    later = setup.add_slot(parse_brussels("2026-12-11 14:00"), 45, "phone", ["fa"]).id
    setup.book("early-1", slot, "fa", phone=PHONE)
    setup.book("early-2", slot, "fa", phone=PHONE)

    def book(index: int, store: BookingStore) -> int:
        return store.book(f"racer-{index}", slot, "fa", phone=PHONE).id

    results = _race(20, book, path)

    booked = [result for result in results if isinstance(result, int)]
    refused = [result for result in results if isinstance(result, SlotUnavailable)]
    assert len(booked) == 1 and len(refused) == 19, results
    assert {error.reason for error in refused} == {"taken"}
    assert setup.slot(slot).booked == 3
    assert [s.id for s in setup.free_slots("phone", "fa", user_id="racer-0")] == [later]
    count = setup.db.execute("SELECT count(*) FROM bookings WHERE slot_id = ?", [slot]).fetchone()[0]
    assert count == 3


def test_twenty_holds_racing_for_one_place_give_one_hold(tmp_path: Path) -> None:
    path = tmp_path / "assistant.db"
    setup = _open(path)
    slot = setup.add_slot(parse_brussels("2026-12-10 14:00"), 45, "video", ["en"]).id

    results = _race(20, lambda index, store: store.hold(slot, f"racer-{index}").id, path)

    assert sum(isinstance(result, int) for result in results) == 1
    assert {r.reason for r in results if isinstance(r, SlotUnavailable)} == {"held"}


def test_a_change_racing_a_cancellation_leaves_one_consistent_state(tmp_path: Path) -> None:
    path = tmp_path / "assistant.db"
    setup = _open(path)
    for round_ in range(12):
        old = setup.add_slot(NOW + timedelta(days=3, hours=round_), 45, "video", ["fa"]).id
        new = setup.add_slot(NOW + timedelta(days=5, hours=round_), 45, "video", ["fa"]).id
        made = setup.book(f"person-{round_}", old, "fa")

        def act(index: int, store: BookingStore, made_id: int = made.id, new_slot: int = new) -> str:
            if index == 0:
                store.change(made_id, new_slot)
                return "changed"
            store.cancel(made_id)
            return "cancelled"

        results = _race(2, act, path)

        final = setup.booking(made.id)
        assert results[1] == "cancelled"  # a cancellation always wins: the person asked to cancel
        assert final.status == "cancelled"
        changed = results[0] == "changed"
        assert final.slot.id == (new if changed else old)
        assert final.sequence == (2 if changed else 1)
        assert setup.slot(old).booked == 0 and setup.slot(new).booked == 0
        pending = setup.db.execute(
            "SELECT count(*) FROM reminders WHERE booking_id = ? AND status = 'pending'", [made.id]
        ).fetchone()[0]
        assert pending == 0


_KILLED_MID_BOOKING = """
import os, signal, sys
from datetime import UTC, datetime
from pathlib import Path
from bot.booking.store import BookingStore
from bot.clock import FixedClock
from bot.store.db import Store

class Killed(BookingStore):
    def _schedule_reminders(self, booking_id, starts_at, now):
        # The booking row is written inside the open transaction: die before COMMIT.
        count = self.db.execute("SELECT count(*) FROM bookings").fetchone()[0]
        print(f"written {count}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

store = Killed(Store.open(Path(sys.argv[1]), clock=FixedClock(datetime(2026, 12, 1, 9, tzinfo=UTC))))
store.book("killed-person", int(sys.argv[2]), "fa", phone="+32470123456")
print("committed", flush=True)
"""


def test_a_process_killed_half_way_through_a_booking_leaves_no_half_booking_and_no_lost_place(
    tmp_path: Path,
) -> None:
    path = tmp_path / "assistant.db"
    setup = _open(path)
    slot = setup.add_slot(parse_brussels("2026-12-10 14:00"), 45, "phone", ["fa"]).id
    setup.db.close()

    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLED_MID_BOOKING), str(path), str(slot)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == -signal.SIGKILL, result.stderr
    assert result.stdout.split() == ["written", "1"]  # it was killed with the row written, not before
    after = _open(path)
    assert after.db.execute("SELECT count(*) FROM bookings").fetchone()[0] == 0
    assert after.db.execute("SELECT count(*) FROM reminders").fetchone()[0] == 0
    assert after.slot(slot).booked == 0
    assert after.book("next-person", slot, "fa", phone=PHONE).slot.id == slot


def test_reminders_stored_before_a_restart_are_due_after_it(tmp_path: Path) -> None:
    path = tmp_path / "assistant.db"
    before = _open(path)
    slot = before.add_slot(parse_brussels("2026-12-10 14:00"), 45, "phone", ["fa"]).id
    before.book("u1", slot, "fa", phone=PHONE)
    before.db.close()

    after = BookingStore(Store.open(path, clock=FixedClock(parse_brussels("2026-12-09 14:05"))))

    [reminder] = after.due_reminders()
    assert (reminder.kind, reminder.booking.user_id) == ("24h", "u1")
    assert after.claim_reminder(reminder.id)
