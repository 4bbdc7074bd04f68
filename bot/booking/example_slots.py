"""A week of example slots for the development chat (`make chat`), so a new user can try booking at once.

Only the development database gets them, and only when it has no open slot; they are marked
as examples (`Slot.example`). `make run` never calls this: on the real service every slot is
one staff opened.
"""

from __future__ import annotations

from datetime import time, timedelta

from bot.booking.brussels import at_brussels
from bot.booking.models import Mode
from bot.booking.store import BookingStore
from bot.clock import brussels_today

# (Brussels time, mode, desk, languages, minutes) offered each weekday.
_DAY: tuple[tuple[time, Mode, str | None, tuple[str, ...], int], ...] = (
    (time(10, 0), "phone", None, ("fa", "en"), 45),
    (time(11, 0), "video", None, ("fa", "fr", "nl", "en"), 45),
    (time(14, 0), "desk", "brussels", ("fa", "fr", "nl", "en"), 60),
    (time(15, 0), "desk", "antwerp", ("nl", "en", "fa"), 60),
    (time(15, 30), "phone", None, ("fr", "nl", "en"), 30),
)


def seed_example_slots(booking: BookingStore, days: int = 7) -> int:
    """Open example slots on the weekdays of the next `days` days, unless slots are open; return how many."""
    if booking.count_open_slots() > 0:
        return 0
    now = booking.clock.now()
    today = brussels_today(booking.clock)
    added = 0
    with booking.transaction():
        for offset in range(days + 1):
            day = today + timedelta(days=offset)
            if day.weekday() >= 5:
                continue
            for wall, mode, desk, languages, minutes in _DAY:
                starts_at = at_brussels(day, wall)
                if starts_at > now + timedelta(hours=1):
                    booking.add_slot(starts_at, minutes, mode, languages, desk=desk, example=True)
                    added += 1
    return added
