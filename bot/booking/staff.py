"""What staff are told about bookings: short cards with a pseudonymous reference, never a name or id.

Cards go through one interface, `StaffBoard`, so that the staff chat today and forum tickets
later are one class each. The reference is a keyed hash of the user id (HMAC-SHA256 with
PSEUDONYM_KEY): stable for one person, so staff can tell two cards of the same person apart
from two people, and not reversible without the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from bot.booking.models import Booking, Callback, Mode, PartOfDay

CardKind = Literal["new", "changed", "cancelled", "callback", "forgotten"]
REFERENCE_LENGTH = 8


def pseudonym(user_id: str, key: str) -> str:
    """Return the person's stable, non-reversible reference for staff (8 base32 characters)."""
    digest = hmac.new(key.encode(), user_id.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii")[:REFERENCE_LENGTH]


@dataclass(frozen=True, slots=True)
class StaffCard:
    """One short message to staff about a booking or a call-back request."""

    kind: CardKind
    reference: str
    language: str
    mode: Mode | None = None
    desk: str | None = None
    starts_at: datetime | None = None
    minutes: int | None = None
    topics: tuple[str, ...] = ()
    interpreter_language: str | None = None
    phone: str | None = None
    """Only for a phone meeting or a call-back: staff need it to call."""
    part_of_day: PartOfDay | None = None
    booking_id: int | None = None
    callback_id: int | None = None
    cancelled_by: str | None = None


def booking_card(kind: CardKind, booking: Booking, key: str) -> StaffCard:
    """Describe a new, changed, cancelled or (kind "forgotten") withdrawn meeting for staff."""
    return StaffCard(
        kind=kind,
        reference=pseudonym(booking.user_id, key),
        language=booking.language,
        mode=booking.mode,
        desk=booking.slot.desk,
        starts_at=booking.starts_at,
        minutes=booking.slot.minutes,
        topics=booking.topics,
        interpreter_language=booking.interpreter_language,
        phone=booking.phone if booking.mode == "phone" and kind in ("new", "changed") else None,
        booking_id=booking.id,
        cancelled_by=booking.cancelled_by,
    )


def callback_card(callback: Callback, key: str) -> StaffCard:
    """Describe a call-back request for staff."""
    return StaffCard(
        kind="callback",
        reference=pseudonym(callback.user_id, key),
        language=callback.language,
        phone=callback.phone,
        part_of_day=callback.part_of_day,
        callback_id=callback.id,
    )


def forgotten_card(user_id: str, language: str, key: str) -> StaffCard:
    """Tell staff that a person deleted their data (their cancelled meetings have cards of their own)."""
    return StaffCard(kind="forgotten", reference=pseudonym(user_id, key), language=language)


class StaffBoard(Protocol):
    """Where staff read about bookings: the staff chat now, forum tickets later."""

    async def post(self, card: StaffCard) -> None:
        """Show `card` to staff."""
        ...


class NullStaffBoard:
    """No staff chat configured: cards go nowhere (the CLI still lists everything)."""

    async def post(self, card: StaffCard) -> None:
        """Do nothing."""


class RecordingStaffBoard:
    """Keeps the cards in memory: for tests and the terminal twin."""

    def __init__(self) -> None:
        self.cards: list[StaffCard] = []

    async def post(self, card: StaffCard) -> None:
        """Remember `card`."""
        self.cards.append(card)
