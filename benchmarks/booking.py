"""`make bench-bot` (booking run): 200 people booking at once against 100 places.

The real `BookingDesk` and `BookingStore` on a SQLite file in a temporary directory, opened
as `bot run` opens it (WAL, busy timeout), the repository's catalogs, a fixed clock. Each
simulated person is one asyncio task in one event loop, as the bot runs them, and goes
through the conversation with the desk's own calls: "Talk to a counsellor", book, phone or
video, their language (fa, fr, nl, en in turn), a time from the page they are shown, a typed
phone number for a phone meeting, topics skipped, confirm. A person pauses a few random
milliseconds before each tap (reading), so that pages go stale and people race for the same
times; a refused time answers with the next free times, from which the person picks again;
with no time left the person is offered a call-back and stops there. Each desk call is timed
(the pauses are not). At the end the database itself is asked: bookings made, places, any
slot over its capacity, anyone booked twice. Exit status 1 if the bookings are not exactly
the places or anything is double. Writes reports/bench-booking.json.

    .venv/bin/python -m benchmarks.booking [--people 200] [--places 100] [--capacity 1] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.table import Table

from benchmarks.common import consoles, percentile, positive, run_facts, write_report
from bot.booking.desks import load_desks
from bot.booking.flow import BookingDesk
from bot.booking.hours import OfficeHours
from bot.booking.models import Mode
from bot.booking.store import BookingStore
from bot.clock import FixedClock
from bot.content.library import ContentLibrary
from bot.dialogue.replies import Reply
from bot.settings import DEFAULT_LOCALES, PROJECT_ROOT
from bot.store.db import Store, User

REPORT_PATH = PROJECT_ROOT / "reports" / "bench-booking.json"
# Monday 7 December 2026, 10:00 in Brussels; the slots from the next day on.
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
LANGUAGES = ("fa", "fr", "nl", "en")
MAX_PAUSE_SECONDS = 0.02
MAX_STEPS = 60  # a person who needs more taps than this is a bug, not a busy desk


@dataclass
class Tally:
    """What the simulated people went through."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    outcomes: Counter[str] = field(default_factory=Counter)
    refusals: int = 0
    refusals_with_next_times: int = 0


def add_slots(bookings: BookingStore, places: int, capacity: int) -> None:
    """Open `places` places: slots of `capacity`, phone and video in turn, in every language."""
    first = NOW.replace(hour=8) + timedelta(days=1)  # Tuesday 09:00 in Brussels
    for index in range(places // capacity):
        starts_at = first + timedelta(days=index // 10, minutes=45 * (index % 10 // 2))
        mode: Mode = "phone" if index % 2 == 0 else "video"
        bookings.add_slot(starts_at, 45, mode, LANGUAGES, capacity=capacity)


async def person(number: int, desk: BookingDesk, tally: Tally, rng: random.Random) -> None:
    """One person booking through the desk's buttons, as a phone would send the taps."""
    language = LANGUAGES[number % len(LANGUAGES)]
    mode = "phone" if number % 2 == 0 else "video"
    user = User(id=f"person-{number:03d}", language=language)

    async def step(name: str, call: Awaitable[list[Reply] | None]) -> list[Reply]:
        started = time.perf_counter()
        replies = await call
        tally.seconds[name].append(time.perf_counter() - started)
        assert replies, f"the desk did not take the {name} step"
        return replies

    async def tap(name: str, data: str) -> list[Reply]:
        await asyncio.sleep(rng.uniform(0, MAX_PAUSE_SECONDS))
        return await step(name, desk.button(user, data, language))

    await step("offer", desk.offer(user, language))
    await tap("book", "b:book")
    await tap("mode", f"b:m:{mode}")
    replies = await tap("language", f"b:l:{language}")
    for _ in range(MAX_STEPS):
        reply = replies[-1]
        if replies[0].key == "booking_slot_unavailable":
            tally.refusals += 1
            tally.refusals_with_next_times += reply.key in ("booking_time", "booking_no_time")
        if reply.key in ("meeting_confirmed", "booking_no_time"):
            tally.outcomes[reply.key] += 1
            return
        if reply.key == "booking_time":  # most people take the first time offered
            times = [button.data for button in reply.choices if button.data.startswith("b:s:")]
            replies = await tap("time", times[0] if rng.random() < 0.6 else rng.choice(times))
        elif reply.key == "booking_phone":
            await asyncio.sleep(rng.uniform(0, MAX_PAUSE_SECONDS))
            replies = await step(
                "phone", desk.intercept(user, f"0470 12 {number // 100:02d} {number % 100:02d}")
            )
        elif reply.key == "booking_topics":
            replies = await tap("topics", "b:tdone")
        elif reply.key == "booking_summary":
            replies = await tap("confirm", "b:ok")
        else:
            raise AssertionError(f"{user.id}: unexpected reply {reply.key}")
    raise AssertionError(f"{user.id}: no end after {MAX_STEPS} steps")


def database_figures(path: Path) -> dict[str, int]:
    """Ask the database file itself, through a connection of its own."""
    with sqlite3.connect(path) as connection:

        def count(sql: str) -> int:
            return int(connection.execute(sql).fetchone()[0] or 0)

        return {
            "places": count("SELECT SUM(capacity) FROM slots"),
            "bookings": count("SELECT COUNT(*) FROM bookings WHERE status = 'booked'"),
            "slots_over_capacity": count(
                """SELECT COUNT(*) FROM (SELECT s.id FROM slots s JOIN bookings b ON b.slot_id = s.id
                AND b.status = 'booked' GROUP BY s.id HAVING COUNT(*) > s.capacity)"""
            ),
            "people_booked_twice": count(
                """SELECT COUNT(*) FROM (SELECT user_id FROM bookings WHERE status = 'booked'
                GROUP BY user_id HAVING COUNT(*) > 1)"""
            ),
        }


async def run(people: int, places: int, capacity: int, seed: int, directory: Path) -> dict[str, object]:
    """Open the store, the places and the desk; let everyone book at once; return the figures."""
    clock = FixedClock(NOW)
    store = Store.open(directory / "assistant.db", clock=clock)
    try:
        bookings = BookingStore(store, clock)
        add_slots(bookings, places, capacity)
        library = ContentLibrary(DEFAULT_LOCALES, clock=clock, serve_drafts=True)
        desk = BookingDesk(library, bookings, load_desks(), OfficeHours.parse("Mon-Fri 09:00-16:00"),
                           pseudonym_key="k" * 32, clock=clock)  # fmt: skip
        tally = Tally()
        started = time.perf_counter()
        await asyncio.gather(*(person(n, desk, tally, random.Random(seed * 1000 + n)) for n in range(people)))
        wall = time.perf_counter() - started
    finally:
        store.close()
    every = sorted(seconds for values in tally.seconds.values() for seconds in values)
    steps = {
        name: {"count": len(values), "median_ms": 1000 * percentile(sorted(values), 0.5),
               "p95_ms": 1000 * percentile(sorted(values), 0.95)}
        for name, values in [*tally.seconds.items(), ("all steps", every)]
    }  # fmt: skip
    return {
        "people": people,
        "capacity": capacity,
        **database_figures(directory / "assistant.db"),
        "confirmed": tally.outcomes["meeting_confirmed"],
        "told_no_time_left": tally.outcomes["booking_no_time"],
        "refusals": tally.refusals,
        "refusals_with_next_times": tally.refusals_with_next_times,
        "wall_seconds": wall,
        "steps": steps,
    }


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.booking", description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=positive, default=200, help="people booking at once (200)")
    parser.add_argument("--places", type=positive, default=100, help="places open in all (100)")
    parser.add_argument("--capacity", type=positive, default=1, help="places per slot (1: personal meetings)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the people's pauses and choices")
    arguments = parser.parse_args(argv)
    if arguments.places % arguments.capacity:
        parser.error("--places must be a multiple of --capacity")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    console, _ = consoles()
    with tempfile.TemporaryDirectory(prefix="bench-booking-") as directory:
        results = asyncio.run(
            run(arguments.people, arguments.places, arguments.capacity, arguments.seed, Path(directory))
        )
    steps = results["steps"]
    assert isinstance(steps, dict)
    table = Table(title="Booking steps: the desk's time per call")
    for column in ("step", "count", "median ms", "p95 ms"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for name, figures in steps.items():
        table.add_row(name, str(figures["count"]), f"{figures['median_ms']:.2f}", f"{figures['p95_ms']:.2f}")
    console.print(table)
    exact = results["bookings"] == results["places"]
    double = results["slots_over_capacity"] or results["people_booked_twice"]
    console.print(
        f"{results['people']} people at once, {results['places']} places ({results['capacity']} per slot),"
        f" {results['wall_seconds']:.1f} s in all.\n"
        f"Bookings made (in the database): {results['bookings']} of {results['places']} places"
        f" {'[green]exact[/green]' if exact else '[red]NOT exact[/red]'}; slots over capacity:"
        f" {results['slots_over_capacity']}, people booked twice: {results['people_booked_twice']}.\n"
        f"Times refused because someone else held or took them: {results['refusals']}, each answered"
        f" with the next free times: {results['refusals_with_next_times']}; people told no time is"
        f" left (offered a call-back): {results['told_no_time_left']}."
    )
    write_report(REPORT_PATH, {**run_facts(), **results}, console)
    return 0 if exact and not double else 1


if __name__ == "__main__":
    raise SystemExit(main())
