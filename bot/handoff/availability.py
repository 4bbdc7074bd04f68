"""Whether a live conversation can be offered now: office hours, and a counsellor on duty.

Otherwise the person is offered a meeting or a call-back, with when the office opens next
(never a promise that someone will answer when nobody is there).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.booking.hours import OfficeHours, OfficeHoursError
from bot.clock import Clock
from bot.handoff.store import HandoffStore

Why = Literal["open", "closed", "nobody_on_duty", "no_staff_group"]


@dataclass(frozen=True, slots=True)
class Availability:
    """The answer to "can a counsellor talk with this person now?"."""

    live: bool
    why: Why
    opens_at: datetime | None = None
    """When the office opens next (UTC) when it is closed; None when open or it never opens."""


class LiveAvailability:
    """Live conversation within office hours while at least one counsellor is on duty in the group."""

    def __init__(self, hours: OfficeHours, store: HandoffStore, clock: Clock | None = None) -> None:
        self.hours = hours
        self.store = store
        self.clock = clock if clock is not None else store.clock

    def check(self, language: str) -> Availability:
        """Return whether a person writing in `language` can be offered a live conversation now."""
        # No staff group (the console, `make chat`): there is no live conversation to speak of,
        # open or closed; the person gets the meeting and call-back options only.
        chat_id = self.store.routing.chat_for(language)
        if chat_id is None:
            return Availability(live=False, why="no_staff_group")
        now = self.clock.now()
        if not self.hours.is_open(now):
            try:
                opens_at: datetime | None = self.hours.next_opening(now)
            except OfficeHoursError:
                opens_at = None
            return Availability(live=False, why="closed", opens_at=opens_at)
        if not self.store.on_duty(chat_id):
            return Availability(live=False, why="nobody_on_duty")
        return Availability(live=True, why="open")
