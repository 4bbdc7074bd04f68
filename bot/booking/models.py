"""What the booking store returns: slots, holds, bookings, call-backs, reminders, drafts, notices.

Every datetime is aware and in UTC; Brussels time is for display (`brussels.py`, `display.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

Mode = Literal["phone", "video", "desk"]
MODES: tuple[Mode, ...] = get_args(Mode)
BookingStatus = Literal["booked", "cancelled", "attended", "missed", "over"]
""""over": the meeting's time has passed and staff have not (yet) marked it attended or missed."""
Outcome = Literal["attended", "missed"]
CancelledBy = Literal["person", "staff", "forget"]
PartOfDay = Literal["morning", "afternoon"]
CallbackStatus = Literal["open", "done"]
ReminderStatus = Literal["pending", "sending", "sent", "dropped"]
NoticeKind = Literal["cancelled", "moved"]
"""What staff did to a person's meeting, which the assistant must tell them."""


class BookingError(Exception):
    """A booking request the store refuses; `reason` is a short code the flow maps to an answer."""

    reason: str = "refused"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class SlotUnavailable(BookingError):
    """The slot cannot be had: "taken" (full), "held" (others hold the last places), "gone", "past"."""


class HasBooking(BookingError):
    """The person already has an upcoming meeting (one at a time); `booking` is that meeting."""

    reason = "has_booking"

    def __init__(self, booking: Booking) -> None:
        super().__init__(f"booking {booking.id} is already upcoming for this person", "has_booking")
        self.booking = booking


class NotFound(BookingError):
    """No slot, booking or call-back with that id."""

    reason = "not_found"


class Refused(BookingError):
    """Any other refusal, e.g. "language", "phone_needed", "not_booked", "same_slot", "not_yet"."""


@dataclass(frozen=True, slots=True)
class Slot:
    """A time staff opened for meetings."""

    id: int
    starts_at: datetime
    minutes: int
    mode: Mode
    desk: str | None
    languages: tuple[str, ...]
    capacity: int
    counsellor: str | None = None
    example: bool = False
    """Invented for the development chat (`make chat`), never by `make run`."""
    booked: int = 0
    """How many active bookings it has."""
    removed: bool = False

    @property
    def ends_at(self) -> datetime:
        """When the meeting ends."""
        return self.starts_at + timedelta(minutes=self.minutes)


@dataclass(frozen=True, slots=True)
class Hold:
    """A slot kept for one person for a few minutes while they finish booking."""

    id: int
    slot_id: int
    user_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Booking:
    """A person's meeting."""

    id: int
    user_id: str
    slot: Slot
    language: str
    interpreter_language: str | None
    """The person's own language when the meeting needs an interpreter (staff are told)."""
    phone: str | None
    """E.164, kept only for phone meetings and erased once the meeting is over."""
    topics: tuple[str, ...]
    note: str | None
    status: BookingStatus
    sequence: int
    """The calendar file's SEQUENCE: grows each time the meeting changes."""
    uid: str
    """The calendar file's UID: stable for the life of the booking."""
    created_at: datetime
    updated_at: datetime
    cancelled_by: CancelledBy | None = None

    @property
    def mode(self) -> Mode:
        """How the meeting happens."""
        return self.slot.mode

    @property
    def starts_at(self) -> datetime:
        """When the meeting starts."""
        return self.slot.starts_at


@dataclass(frozen=True, slots=True)
class Callback:
    """A person's request to be called back."""

    id: int
    user_id: str
    phone: str | None
    """E.164; erased once the call-back is done."""
    language: str
    part_of_day: PartOfDay
    status: CallbackStatus
    created_at: datetime
    done_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Reminder:
    """A reminder of a meeting, due at a moment; `booking` is what to remind of."""

    id: int
    booking_id: int
    kind: str
    """How long before the meeting, e.g. "24h" or "2h"."""
    due_at: datetime
    status: ReminderStatus
    booking: Booking


@dataclass(frozen=True, slots=True)
class PersonNotice:
    """Something staff did to a person's meeting that the assistant must tell them (kept until sent)."""

    id: int
    user_id: str
    kind: NoticeKind
    booking: Booking
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Draft:
    """A person's booking (or call-back request) in progress, kept so that a restart loses nothing.

    The flow owns the meaning of `step`; the store keeps the fields as they are. `purpose` is
    "book", "change" (then `booking_id` is the meeting being changed) or "callback".
    """

    user_id: str
    step: str
    purpose: str = "book"
    mode: Mode | None = None
    desk: str | None = None
    language: str | None = None
    interpreter_language: str | None = None
    slot_id: int | None = None
    hold_id: int | None = None
    booking_id: int | None = None
    phone: str | None = None
    phone_tries: int = 0
    topics: tuple[str, ...] = ()
    note: str | None = None
    part_of_day: PartOfDay | None = None
    page: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    """Anything else the flow needs to keep between steps (JSON-serialisable)."""
    updated_at: datetime | None = None

    def but(self, **changes: Any) -> Draft:
        """Return a copy with `changes` applied."""
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    """What one retention run erased or deleted (counts only: the log never holds the data)."""

    holds: int = 0
    drafts: int = 0
    phones_erased: int = 0
    notes_erased: int = 0
    bookings: int = 0
    callbacks: int = 0
    slots: int = 0
    notices: int = 0


@dataclass(frozen=True, slots=True)
class DueCounts:
    """What one look at due reminders set aside (for the log)."""

    requeued: int = 0
    """Claimed by a run that never finished (a crash between claim and send): pending again."""
    dropped_late: int = 0
    """Their moment passed while the assistant was down and the meeting has begun."""
    dropped_superseded: int = 0
    """A later reminder of the same meeting is due too: only the latest is sent."""
    dropped_inactive: int = 0
    """The person blocked the assistant."""


@dataclass(frozen=True, slots=True)
class StatsRow:
    """One ISO week (Brussels) and language: meetings by their week, call-backs by their request's."""

    week: str
    language: str
    bookings: int = 0
    attended: int = 0
    missed: int = 0
    cancelled: int = 0
    callbacks: int = 0
