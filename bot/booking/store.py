"""The booking store: slots, holds, bookings, call-backs, reminders, drafts and notices in SQLite.

The database decides. Capacity is a condition inside the write itself (an `INSERT ... SELECT`
or `UPDATE` that only changes a row while places are left, whose changed-row count is checked),
each booking, change and cancellation is one `BEGIN IMMEDIATE` transaction, one upcoming meeting
per person is a unique index, and a reminder is claimed by a conditional update before it is
sent. Nothing relies on a Python lock, so two processes (the assistant and a staff command) can
share the file.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import asdict, fields
from datetime import date, datetime, timedelta
from typing import Any, Final

from sqlite_utils import Database

from bot.booking.brussels import at_brussels, format_brussels
from bot.booking.models import (
    MODES,
    Booking,
    BookingStatus,
    Callback,
    CancelledBy,
    Draft,
    DueCounts,
    HasBooking,
    Hold,
    Mode,
    NotFound,
    Outcome,
    PartOfDay,
    PersonNotice,
    PurgeCounts,
    Refused,
    Reminder,
    Slot,
    SlotUnavailable,
    StatsRow,
)
from bot.booking.schema import migrate
from bot.clock import BRUSSELS, Clock
from bot.store.db import ForgetReason, Store
from bot.store.tables import DomainTables, from_iso, from_iso_or_none, iso

log = logging.getLogger(__name__)

DEFAULT_REMINDER_HOURS: Final = (24, 2)
DEFAULT_HOLD_MINUTES: Final = 10
DEFAULT_RETENTION_DAYS: Final = 30
NOTE_MAX_CHARS: Final = 1000
"""A longer note is refused: staff read it before the meeting, it is not a letter."""
DRAFT_LIFETIME: Final = timedelta(hours=24)
"""A booking left unfinished this long is forgotten (with any phone number typed into it)."""
STUCK_AFTER: Final = timedelta(minutes=5)
"""A reminder or notice claimed this long ago and never marked sent is tried again."""

# The columns of a slot, with how many active bookings it has, under stable names.
_SLOT = """s.id AS s_id, s.starts_at AS s_starts_at, s.minutes AS s_minutes, s.mode AS s_mode,
    s.desk AS s_desk, s.languages AS s_languages, s.capacity AS s_capacity,
    s.counsellor AS s_counsellor, s.example AS s_example, s.removed_at AS s_removed_at,
    (SELECT count(*) FROM bookings x WHERE x.slot_id = s.id AND x.status = 'booked') AS s_booked"""
_BOOKING = f"""b.id, b.user_id, b.language, b.interpreter_language, b.phone, b.topics, b.note,
    b.status, b.cancelled_by, b.sequence, b.uid, b.created_at, b.updated_at, {_SLOT}
    FROM bookings b JOIN slots s ON s.id = b.slot_id"""
# True while the slot has a place for `:user`: active bookings plus others' live holds below capacity.
_HAS_ROOM = """(SELECT count(*) FROM bookings x WHERE x.slot_id = s.id AND x.status = 'booked')
    + (SELECT count(*) FROM holds h WHERE h.slot_id = s.id AND h.user_id != :user AND h.expires_at > :now)
    < s.capacity"""
_OPEN = "s.removed_at IS NULL AND s.starts_at > :now"
_UNSENT_REMINDERS = "DELETE FROM reminders WHERE booking_id = ? AND status IN ('pending', 'sending')"


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(part for part in (text or "").split(",") if part)


def _slot(row: dict[str, Any]) -> Slot:
    return Slot(
        id=row["s_id"],
        starts_at=from_iso(row["s_starts_at"]),
        minutes=row["s_minutes"],
        mode=row["s_mode"],
        desk=row["s_desk"],
        languages=_split(row["s_languages"]),
        capacity=row["s_capacity"],
        counsellor=row["s_counsellor"],
        example=bool(row["s_example"]),
        booked=row["s_booked"],
        removed=row["s_removed_at"] is not None,
    )


def _booking(row: dict[str, Any]) -> Booking:
    return Booking(
        id=row["id"],
        user_id=row["user_id"],
        slot=_slot(row),
        language=row["language"],
        interpreter_language=row["interpreter_language"],
        phone=row["phone"],
        topics=_split(row["topics"]),
        note=row["note"],
        status=row["status"],
        sequence=row["sequence"],
        uid=row["uid"],
        created_at=from_iso(row["created_at"]),
        updated_at=from_iso(row["updated_at"]),
        cancelled_by=row["cancelled_by"],
    )


def _callback(row: dict[str, Any]) -> Callback:
    return Callback(
        id=row["id"],
        user_id=row["user_id"],
        phone=row["phone"],
        language=row["language"],
        part_of_day=row["part_of_day"],
        status=row["status"],
        created_at=from_iso(row["created_at"]),
        done_at=from_iso_or_none(row["done_at"]),
    )


def _codes(values: Iterable[str], what: str) -> str:
    """Join codes for a comma-separated column, refusing ones that would break it."""
    codes = [value.strip() for value in values]
    for code in codes:
        if not code or "," in code:
            raise Refused(f"{what} {code!r} is not a code", "invalid")
    return ",".join(codes)


class BookingStore(DomainTables):
    """Slots and the bookings people make in them, on the users' SQLite database."""

    def __init__(
        self,
        store: Store,
        clock: Clock | None = None,
        *,
        reminder_hours: Sequence[int] = DEFAULT_REMINDER_HOURS,
    ) -> None:
        super().__init__(store)
        self.clock: Clock = clock if clock is not None else store.clock
        self.reminder_hours = tuple(sorted(set(reminder_hours), reverse=True))
        with store.transaction():  # under the write lock: two processes starting at once migrate once
            migrate(self.db)
        store.on_forget(delete_user_rows)

    # -- plumbing ----------------------------------------------------------------------------

    def _now(self, now: datetime | None = None) -> datetime:
        return self.clock.now() if now is None else now

    # -- slots -------------------------------------------------------------------------------

    def add_slot(
        self,
        starts_at: datetime,
        minutes: int,
        mode: Mode,
        languages: Sequence[str],
        *,
        desk: str | None = None,
        capacity: int = 1,
        counsellor: str | None = None,
        example: bool = False,
    ) -> Slot:
        """Open one slot; refuse a malformed or duplicate one."""
        with self.transaction():
            return self._insert_slot(starts_at, minutes, mode, languages, desk, capacity, counsellor, example)

    def add_weekly(
        self,
        starts_at: datetime,
        until: date,
        minutes: int,
        mode: Mode,
        languages: Sequence[str],
        *,
        desk: str | None = None,
        capacity: int = 1,
        counsellor: str | None = None,
        example: bool = False,
    ) -> list[Slot]:
        """Open the slot every week at the same Brussels time until `until` (inclusive), all or none."""
        local = starts_at.astimezone(BRUSSELS)
        if until < local.date():
            raise Refused(f"the repetition ends ({until}) before it starts ({local.date()})", "invalid")
        days = [local.date() + timedelta(weeks=week) for week in range((until - local.date()).days // 7 + 1)]
        with self.transaction():
            return [
                self._insert_slot(
                    at_brussels(day, local.time().replace(tzinfo=None)),
                    minutes,
                    mode,
                    languages,
                    desk,
                    capacity,
                    counsellor,
                    example,
                )
                for day in days
            ]

    def _insert_slot(
        self,
        starts_at: datetime,
        minutes: int,
        mode: Mode,
        languages: Sequence[str],
        desk: str | None,
        capacity: int,
        counsellor: str | None,
        example: bool,
    ) -> Slot:
        if mode not in MODES:
            raise Refused(f"mode must be one of {', '.join(MODES)}, not {mode!r}", "invalid")
        if (mode == "desk") != (desk is not None):
            raise Refused("a desk is given for in-person meetings, and only for them", "invalid")
        if not 5 <= minutes <= 480:
            raise Refused(f"a meeting lasts 5 to 480 minutes, not {minutes}", "invalid")
        if not 1 <= capacity <= 500:
            raise Refused(f"capacity must be 1 to 500, not {capacity}", "invalid")
        if not languages:
            raise Refused("a slot needs at least one language", "invalid")
        now = self.clock.now()
        if starts_at <= now:
            raise Refused(f"a slot must start in the future, not at {format_brussels(starts_at)}", "past")
        try:
            cursor = self.db.execute(
                "INSERT INTO slots (starts_at, ends_at, minutes, mode, desk, languages, capacity,"
                " counsellor, example, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    iso(starts_at),
                    iso(starts_at + timedelta(minutes=minutes)),
                    minutes,
                    mode,
                    desk,
                    _codes(languages, "language"),
                    capacity,
                    counsellor or None,
                    int(example),
                    iso(now),
                ],
            )
        except sqlite3.IntegrityError:
            raise Refused(
                "a slot with the same start, mode, desk and counsellor is already open", "duplicate"
            ) from None
        slot_id = cursor.lastrowid
        assert slot_id is not None
        return self.slot(slot_id)

    def slot(self, slot_id: int) -> Slot:
        """Return one slot (removed or not)."""
        row = self._one(f"SELECT {_SLOT} FROM slots s WHERE s.id = ?", [slot_id])
        if row is None:
            raise NotFound(f"no slot {slot_id}")
        return _slot(row)

    def list_slots(
        self, after: datetime | None = None, *, include_removed: bool = False, until: datetime | None = None
    ) -> list[Slot]:
        """Return slots starting after `after` (all when None), earliest first."""
        conditions = ["1"]
        params: list[Any] = []
        if after is not None:
            conditions.append("s.starts_at >= ?")
            params.append(iso(after))
        if until is not None:
            conditions.append("s.starts_at < ?")
            params.append(iso(until))
        if not include_removed:
            conditions.append("s.removed_at IS NULL")
        rows = self._query(
            f"SELECT {_SLOT} FROM slots s WHERE {' AND '.join(conditions)} ORDER BY s.starts_at, s.id", params
        )
        return [_slot(row) for row in rows]

    def count_open_slots(self, now: datetime | None = None) -> int:
        """Return how many slots are open from now on (full or not)."""
        row = self._one("SELECT count(*) AS n FROM slots s WHERE " + _OPEN, {"now": iso(self._now(now))})
        return 0 if row is None else int(row["n"])

    def free_slots(
        self,
        mode: Mode,
        language: str,
        *,
        desk: str | None = None,
        after: datetime | None = None,
        limit: int = 5,
        offset: int = 0,
        user_id: str | None = None,
    ) -> list[Slot]:
        """Return slots with a place left for this mode, desk and language, earliest first.

        Full slots, slots whose last places others hold, removed and past ones are left out;
        `user_id`'s own hold does not count against them.
        """
        now = iso(self.clock.now())
        start = max(now, iso(after)) if after is not None else now
        rows = self._query(
            f"""SELECT {_SLOT} FROM slots s
            WHERE {_OPEN} AND s.starts_at > :start AND s.mode = :mode
              AND (:desk IS NULL OR s.desk = :desk)
              AND instr(',' || s.languages || ',', ',' || :language || ',') > 0
              AND {_HAS_ROOM}
            ORDER BY s.starts_at, s.id LIMIT :limit OFFSET :offset""",
            {
                "now": now,
                "start": start,
                "mode": mode,
                "desk": desk,
                "language": language,
                "user": user_id or "",
                "limit": limit,
                "offset": offset,
            },
        )
        return [_slot(row) for row in rows]

    def remove_slot(self, slot_id: int) -> list[Booking]:
        """Withdraw a slot; cancel its upcoming meetings (the people are told); return them."""
        now = iso(self.clock.now())
        with self.transaction():
            slot = self.slot(slot_id)
            if slot.removed:
                raise Refused(f"slot {slot_id} is already removed", "gone")
            affected = self._query(
                f"SELECT {_BOOKING} WHERE b.slot_id = ? AND b.status = 'booked' AND s.ends_at > ?",
                [slot_id, now],
            )
            cancelled = [self._cancel(_booking(row), "staff", now) for row in affected]
            self._write("DELETE FROM holds WHERE slot_id = ?", [slot_id])
            if self._one("SELECT 1 AS x FROM bookings WHERE slot_id = ?", [slot_id]) is None:
                self._write("DELETE FROM slots WHERE id = ?", [slot_id])
            else:
                # Kept for the bookings (and statistics) that still refer to it.
                self._write("UPDATE slots SET removed_at = ? WHERE id = ?", [now, slot_id])
        return cancelled

    def _unavailable(self, slot_id: int, user_id: str, now: str) -> SlotUnavailable:
        """Say why a conditional write found no place in the slot."""
        row = self._one(
            """SELECT s.removed_at, s.starts_at, s.capacity,
                (SELECT count(*) FROM bookings x WHERE x.slot_id = s.id AND x.status = 'booked') AS booked
            FROM slots s WHERE s.id = ?""",
            [slot_id],
        )
        if row is None or row["removed_at"] is not None:
            return SlotUnavailable(f"slot {slot_id} no longer exists", "gone")
        if row["starts_at"] <= now:
            return SlotUnavailable(f"slot {slot_id} has begun", "past")
        if row["booked"] >= row["capacity"]:
            return SlotUnavailable(f"slot {slot_id} is full", "taken")
        return SlotUnavailable(f"others are finishing a booking of slot {slot_id}", "held")

    def _bookable(self, slot_id: int, user_id: str, now: str) -> Slot:
        """Return the slot if it is open (not removed, not begun), else say why not."""
        row = self._one(f"SELECT {_SLOT} FROM slots s WHERE s.id = ?", [slot_id])
        if row is None or row["s_removed_at"] is not None or row["s_starts_at"] <= now:
            raise self._unavailable(slot_id, user_id, now)
        return _slot(row)

    # -- holds -------------------------------------------------------------------------------

    def hold(self, slot_id: int, user_id: str, minutes: int = DEFAULT_HOLD_MINUTES) -> Hold:
        """Keep a place in the slot for the person for `minutes` (replacing their previous hold)."""
        now = self.clock.now()
        expires = now + timedelta(minutes=minutes)
        with self.transaction():
            self._write("DELETE FROM holds WHERE user_id = ?", [user_id])
            cursor = self.db.execute(
                f"""INSERT INTO holds (slot_id, user_id, expires_at, created_at)
                SELECT s.id, :user, :expires, :now FROM slots s
                WHERE s.id = :slot AND {_OPEN} AND {_HAS_ROOM}""",
                {"slot": slot_id, "user": user_id, "expires": iso(expires), "now": iso(now)},
            )
            if cursor.rowcount != 1:
                raise self._unavailable(slot_id, user_id, iso(now))
            hold_id = cursor.lastrowid
        assert hold_id is not None
        return Hold(id=hold_id, slot_id=slot_id, user_id=user_id, expires_at=from_iso(iso(expires)))

    def current_hold(self, user_id: str) -> Hold | None:
        """Return the person's live hold, if any."""
        row = self._one(
            "SELECT id, slot_id, user_id, expires_at FROM holds WHERE user_id = ? AND expires_at > ?",
            [user_id, iso(self.clock.now())],
        )
        if row is None:
            return None
        return Hold(row["id"], row["slot_id"], row["user_id"], from_iso(row["expires_at"]))

    def release_hold(self, user_id: str) -> None:
        """Let go of the person's hold (they went back or gave up)."""
        with self.transaction():
            self._write("DELETE FROM holds WHERE user_id = ?", [user_id])

    # -- bookings ----------------------------------------------------------------------------

    def book(
        self,
        user_id: str,
        slot_id: int,
        language: str,
        *,
        interpreter_language: str | None = None,
        phone: str | None = None,
        topics: Sequence[str] = (),
        note: str | None = None,
    ) -> Booking:
        """Book a place in the slot (consuming the person's hold) with its reminders, in one transaction."""
        if note is not None and len(note) > NOTE_MAX_CHARS:
            raise Refused(f"the note is longer than {NOTE_MAX_CHARS} characters", "note_too_long")
        now = self.clock.now()
        stamp = iso(now)
        with self.transaction():
            self._close_past(stamp, user_id)
            existing = self._upcoming(user_id, stamp)
            if existing is not None:
                raise HasBooking(existing)
            slot = self._bookable(slot_id, user_id, stamp)
            if language not in slot.languages:
                raise Refused(f"slot {slot_id} is not offered in {language}", "language")
            if slot.mode == "phone" and not phone:
                raise Refused("a phone meeting needs a phone number", "phone_needed")
            try:
                cursor = self.db.execute(
                    f"""INSERT INTO bookings (user_id, slot_id, language, interpreter_language, phone,
                        topics, note, uid, created_at, updated_at)
                    SELECT :user, s.id, :language, :interpreter, :phone, :topics, :note, :uid, :now, :now
                    FROM slots s WHERE s.id = :slot AND {_OPEN} AND {_HAS_ROOM}""",
                    {
                        "user": user_id,
                        "slot": slot_id,
                        "language": language,
                        "interpreter": interpreter_language or None,
                        "phone": phone if slot.mode == "phone" else None,
                        "topics": _codes(topics, "topic") if topics else "",
                        "note": note or None,
                        "uid": f"{secrets.token_hex(16)}@return-assistant",
                        "now": stamp,
                    },
                )
            except sqlite3.IntegrityError:
                # Another request of the same person got there first (the unique index decided).
                raise HasBooking(self._upcoming_or_fail(user_id, stamp)) from None
            if cursor.rowcount != 1:
                raise self._unavailable(slot_id, user_id, stamp)
            booking_id = cursor.lastrowid
            assert booking_id is not None
            self._write("DELETE FROM holds WHERE user_id = ?", [user_id])
            self._schedule_reminders(booking_id, slot.starts_at, now)
            return self.booking(booking_id)

    def booking(self, booking_id: int) -> Booking:
        """Return one booking."""
        row = self._one(f"SELECT {_BOOKING} WHERE b.id = ?", [booking_id])
        if row is None:
            raise NotFound(f"no booking {booking_id}")
        return _booking(row)

    def upcoming_booking(self, user_id: str) -> Booking | None:
        """Return the person's meeting that is not over yet, if any."""
        return self._upcoming(user_id, iso(self.clock.now()))

    def _upcoming(self, user_id: str, now: str) -> Booking | None:
        row = self._one(
            f"SELECT {_BOOKING} WHERE b.user_id = ? AND b.status = 'booked' AND s.ends_at > ?", [user_id, now]
        )
        return None if row is None else _booking(row)

    def _upcoming_or_fail(self, user_id: str, now: str) -> Booking:
        booking = self._upcoming(user_id, now)
        if booking is None:
            raise Refused("the booking could not be stored; try again", "retry")
        return booking

    def list_bookings(
        self,
        after: datetime | None = None,
        *,
        statuses: Iterable[BookingStatus] | None = None,
    ) -> list[Booking]:
        """Return bookings whose meeting ends after `after` (all when None), earliest first."""
        conditions = ["1"]
        params: list[Any] = []
        if after is not None:
            conditions.append("s.ends_at > ?")
            params.append(iso(after))
        if statuses is not None:
            wanted = list(statuses)
            conditions.append(f"b.status IN ({', '.join('?' for _ in wanted)})")
            params.extend(wanted)
        rows = self._query(
            f"SELECT {_BOOKING} WHERE {' AND '.join(conditions)} ORDER BY s.starts_at, b.id", params
        )
        return [_booking(row) for row in rows]

    def change(
        self, booking_id: int, new_slot_id: int, *, by: CancelledBy = "person", phone: str | None = None
    ) -> Booking:
        """Move a meeting to another slot: the new place is taken in the same write that frees the old."""
        now = self.clock.now()
        stamp = iso(now)
        with self.transaction():
            current = self.booking(booking_id)
            if current.status != "booked" or current.slot.ends_at <= now:
                raise Refused(f"booking {booking_id} is not upcoming", "not_booked")
            if new_slot_id == current.slot.id:
                raise Refused("that is already the meeting's time", "same_slot")
            slot = self._bookable(new_slot_id, current.user_id, stamp)
            if current.language not in slot.languages:
                raise Refused(f"slot {new_slot_id} is not offered in {current.language}", "language")
            keep_phone = (phone or current.phone) if slot.mode == "phone" else None
            if slot.mode == "phone" and not keep_phone:
                raise Refused("a phone meeting needs a phone number", "phone_needed")
            changed = self._write(
                f"""UPDATE bookings SET slot_id = :slot, phone = :phone, sequence = sequence + 1,
                    updated_at = :now
                WHERE id = :booking AND status = 'booked'
                  AND EXISTS (SELECT 1 FROM slots s WHERE s.id = :slot AND {_OPEN} AND {_HAS_ROOM})""",
                {
                    "slot": new_slot_id,
                    "phone": keep_phone,
                    "now": stamp,
                    "booking": booking_id,
                    "user": current.user_id,
                },
            )
            if changed != 1:
                raise self._unavailable(new_slot_id, current.user_id, stamp)
            self._write("DELETE FROM holds WHERE user_id = ?", [current.user_id])
            self._write(_UNSENT_REMINDERS, [booking_id])
            self._schedule_reminders(booking_id, slot.starts_at, now)
            if by == "staff":
                self._notify(current.user_id, booking_id, "moved", stamp)
            return self.booking(booking_id)

    def cancel(self, booking_id: int, by: CancelledBy = "person") -> Booking:
        """Cancel an upcoming meeting and free its place (staff cancelling: the person is told)."""
        stamp = iso(self.clock.now())
        with self.transaction():
            return self._cancel(self.booking(booking_id), by, stamp)

    def _cancel(self, booking: Booking, by: CancelledBy, now: str) -> Booking:
        changed = self._write(
            """UPDATE bookings SET status = 'cancelled', cancelled_by = ?, sequence = sequence + 1,
                updated_at = ?
            WHERE id = ? AND status = 'booked'
              AND (SELECT s.ends_at FROM slots s WHERE s.id = bookings.slot_id) > ?""",
            [by, now, booking.id, now],
        )
        if changed != 1:
            raise Refused(f"booking {booking.id} is not upcoming (it is {booking.status})", "not_booked")
        self._write(_UNSENT_REMINDERS, [booking.id])
        if by == "staff":
            self._notify(booking.user_id, booking.id, "cancelled", now)
        return self.booking(booking.id)

    def mark(self, booking_id: int, outcome: Outcome) -> Booking:
        """Record whether the person came (staff, once the meeting has begun)."""
        if outcome not in ("attended", "missed"):
            raise Refused(f"a meeting is marked attended or missed, not {outcome!r}", "invalid")
        now = self.clock.now()
        with self.transaction():
            booking = self.booking(booking_id)
            if booking.status == "cancelled":
                raise Refused(f"booking {booking_id} was cancelled", "not_booked")
            if booking.starts_at > now:
                raise Refused(f"booking {booking_id} has not begun yet", "not_yet")
            self._write(
                "UPDATE bookings SET status = ?, updated_at = ? WHERE id = ?", [outcome, iso(now), booking_id]
            )
            return self.booking(booking_id)

    def _close_past(self, now: str, user_id: str | None = None) -> int:
        """Set meetings whose time has passed from "booked" to "over" (so the person can book again)."""
        condition = "" if user_id is None else " AND user_id = :user"
        return self._write(
            f"""UPDATE bookings SET status = 'over', updated_at = :now
            WHERE status = 'booked'{condition}
              AND (SELECT s.ends_at FROM slots s WHERE s.id = bookings.slot_id) <= :now""",
            {"now": now, "user": user_id},
        )

    # -- forgetting --------------------------------------------------------------------------

    def forget(self, user_id: str) -> list[Booking]:
        """Cancel the person's upcoming meetings (freeing their places) before their data is deleted.

        Call it before `Store.forget_user` (whose hook deletes every booking row of the person)
        and post a "forgotten" staff card for what it returns.
        """
        stamp = iso(self.clock.now())
        with self.transaction():
            rows = self._query(
                f"SELECT {_BOOKING} WHERE b.user_id = ? AND b.status = 'booked' AND s.ends_at > ?",
                [user_id, stamp],
            )
            return [self._cancel(_booking(row), "forget", stamp) for row in rows]

    # -- reminders ---------------------------------------------------------------------------

    def _schedule_reminders(self, booking_id: int, starts_at: datetime, now: datetime) -> None:
        for hours in self.reminder_hours:
            due = starts_at - timedelta(hours=hours)
            if due > now:  # a moment already past at booking time: the confirmation says it all
                self._write(
                    "INSERT INTO reminders (booking_id, kind, due_at) VALUES (?, ?, ?)",
                    [booking_id, f"{hours}h", iso(due)],
                )

    def due_reminders(self, now: datetime | None = None) -> list[Reminder]:
        """Return the reminders to send now, after setting aside those that must not be sent.

        A reminder claimed by a run that never marked it sent (a crash) is pending again; one
        whose meeting has begun (the assistant was down) is dropped; of several due for one
        meeting only the latest is sent; none goes to a person who blocked the assistant.
        """
        stamp = iso(self._now(now))
        params = {"now": stamp, "stuck": iso(self._now(now) - STUCK_AFTER)}
        due = "status = 'pending' AND due_at <= :now"
        with self.transaction():
            counts = DueCounts(
                requeued=self._write(
                    "UPDATE reminders SET status = 'pending', claimed_at = NULL"
                    " WHERE status = 'sending' AND claimed_at <= :stuck",
                    params,
                ),
                dropped_late=self._write(
                    f"""UPDATE reminders SET status = 'dropped', dropped_because = 'late'
                    WHERE {due} AND booking_id IN (
                        SELECT b.id FROM bookings b JOIN slots s ON s.id = b.slot_id
                        WHERE b.status != 'booked' OR s.starts_at <= :now)""",
                    params,
                ),
                dropped_superseded=self._write(
                    f"""UPDATE reminders SET status = 'dropped', dropped_because = 'superseded'
                    WHERE {due} AND EXISTS (
                        SELECT 1 FROM reminders later WHERE later.booking_id = reminders.booking_id
                          AND later.status IN ('pending', 'sending', 'sent')
                          AND later.due_at > reminders.due_at AND later.due_at <= :now)""",
                    params,
                ),
                dropped_inactive=self._write(
                    f"""UPDATE reminders SET status = 'dropped', dropped_because = 'inactive'
                    WHERE {due} AND booking_id IN (
                        SELECT b.id FROM bookings b JOIN users u ON u.id = b.user_id WHERE u.active = 0)""",
                    params,
                ),
            )
            rows = self._query(
                f"""SELECT r.id AS r_id, r.kind AS r_kind, r.due_at AS r_due_at, r.status AS r_status,
                    {_BOOKING} JOIN reminders r ON r.booking_id = b.id
                WHERE r.status = 'pending' AND r.due_at <= :now ORDER BY r.due_at, r.id""",
                params,
            )
        if any(asdict(counts).values()):
            log.info(
                "reminders set aside: %d requeued after a crash, %d late (meeting begun),"
                " %d superseded, %d for inactive users",
                counts.requeued,
                counts.dropped_late,
                counts.dropped_superseded,
                counts.dropped_inactive,
            )
        return [
            Reminder(
                id=row["r_id"],
                booking_id=row["id"],
                kind=row["r_kind"],
                due_at=from_iso(row["r_due_at"]),
                status=row["r_status"],
                booking=_booking(row),
            )
            for row in rows
        ]

    def claim_reminder(self, reminder_id: int, now: datetime | None = None) -> bool:
        """Take a reminder for sending; False if another run has it (or it is gone)."""
        return self._claim("reminders", reminder_id, now)

    def mark_reminder_sent(self, reminder_id: int, now: datetime | None = None) -> None:
        """Record that the reminder went out."""
        self._write(
            "UPDATE reminders SET status = 'sent', sent_at = ? WHERE id = ? AND status = 'sending'",
            [iso(self._now(now)), reminder_id],
        )

    def drop_reminder(self, reminder_id: int, why: str) -> None:
        """Give up a reminder (e.g. the person blocked the assistant); `why` is a short code, no text."""
        self._write(
            "UPDATE reminders SET status = 'dropped', dropped_because = ?"
            " WHERE id = ? AND status IN ('pending', 'sending')",
            [why, reminder_id],
        )

    def _claim(self, table: str, row_id: int, now: datetime | None) -> bool:
        # The conditional update is the claim: of two runs, only one changes the row.
        return (
            self._write(
                f"UPDATE {table} SET status = 'sending', claimed_at = ? WHERE id = ? AND status = 'pending'",
                [iso(self._now(now)), row_id],
            )
            == 1
        )

    # -- notices to people (staff cancelled or moved their meeting) ----------------------------

    def _notify(self, user_id: str, booking_id: int, kind: str, now: str) -> None:
        self._write(
            "INSERT INTO person_notices (user_id, booking_id, kind, created_at) VALUES (?, ?, ?, ?)",
            [user_id, booking_id, kind, now],
        )

    def due_notices(self, now: datetime | None = None) -> list[PersonNotice]:
        """Return what staff did that people must still be told (none for people who blocked us)."""
        params = {"now": iso(self._now(now)), "stuck": iso(self._now(now) - STUCK_AFTER)}
        with self.transaction():
            self._write(
                "UPDATE person_notices SET status = 'pending', claimed_at = NULL"
                " WHERE status = 'sending' AND claimed_at <= :stuck",
                params,
            )
            self._write(
                """UPDATE person_notices SET status = 'dropped' WHERE status = 'pending'
                AND user_id IN (SELECT id FROM users WHERE active = 0)""",
                params,
            )
            rows = self._query(
                f"""SELECT n.id AS n_id, n.kind AS n_kind, n.created_at AS n_created_at, {_BOOKING}
                JOIN person_notices n ON n.booking_id = b.id
                WHERE n.status = 'pending' ORDER BY n.id""",
                params,
            )
        return [
            PersonNotice(
                id=row["n_id"],
                user_id=row["user_id"],
                kind=row["n_kind"],
                booking=_booking(row),
                created_at=from_iso(row["n_created_at"]),
            )
            for row in rows
        ]

    def claim_notice(self, notice_id: int, now: datetime | None = None) -> bool:
        """Take a notice for sending; False if another run has it."""
        return self._claim("person_notices", notice_id, now)

    def mark_notice_sent(self, notice_id: int) -> None:
        """Record that the person was told."""
        self._write(
            "UPDATE person_notices SET status = 'sent' WHERE id = ? AND status = 'sending'", [notice_id]
        )

    def drop_notice(self, notice_id: int) -> None:
        """Give up a notice (the person cannot be reached)."""
        self._write(
            "UPDATE person_notices SET status = 'dropped' WHERE id = ? AND status IN ('pending', 'sending')",
            [notice_id],
        )

    # -- call-backs --------------------------------------------------------------------------

    def request_callback(self, user_id: str, phone: str, language: str, part_of_day: PartOfDay) -> Callback:
        """Record a request to be called back (one open request per person)."""
        if part_of_day not in ("morning", "afternoon"):
            raise Refused(f"part of day is morning or afternoon, not {part_of_day!r}", "invalid")
        if not phone:
            raise Refused("a call-back needs a phone number", "phone_needed")
        stamp = iso(self.clock.now())
        with self.transaction():
            try:
                cursor = self.db.execute(
                    "INSERT INTO callbacks (user_id, phone, language, part_of_day, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [user_id, phone, language, part_of_day, stamp],
                )
            except sqlite3.IntegrityError:
                raise Refused("this person already waits for a call-back", "has_callback") from None
            callback_id = cursor.lastrowid
        assert callback_id is not None
        return self.callback(callback_id)

    def callback(self, callback_id: int) -> Callback:
        """Return one call-back request."""
        row = self._one("SELECT * FROM callbacks WHERE id = ?", [callback_id])
        if row is None:
            raise NotFound(f"no call-back {callback_id}")
        return _callback(row)

    def open_callback(self, user_id: str) -> Callback | None:
        """Return the person's call-back request still waiting, if any."""
        row = self._one("SELECT * FROM callbacks WHERE user_id = ? AND status = 'open'", [user_id])
        return None if row is None else _callback(row)

    def list_callbacks(self, *, include_done: bool = False) -> list[Callback]:
        """Return call-back requests, oldest first (open ones only unless `include_done`)."""
        condition = "1" if include_done else "status = 'open'"
        rows = self._query(f"SELECT * FROM callbacks WHERE {condition} ORDER BY id")
        return [_callback(row) for row in rows]

    def callback_done(self, callback_id: int) -> Callback:
        """Record that the person was called; their number is erased at once."""
        with self.transaction():
            changed = self._write(
                "UPDATE callbacks SET status = 'done', done_at = ?, phone = NULL"
                " WHERE id = ? AND status = 'open'",
                [iso(self.clock.now()), callback_id],
            )
            if changed != 1:
                callback = self.callback(callback_id)  # NotFound if there is none
                raise Refused(f"call-back {callback.id} is already done", "done")
            return self.callback(callback_id)

    # -- drafts ------------------------------------------------------------------------------

    def get_draft(self, user_id: str) -> Draft | None:
        """Return the person's unfinished booking, unless it is older than a day."""
        row = self._one(
            "SELECT body, updated_at FROM drafts WHERE user_id = ? AND updated_at > ?",
            [user_id, iso(self.clock.now() - DRAFT_LIFETIME)],
        )
        if row is None:
            return None
        body = json.loads(row["body"])
        known = {field.name for field in fields(Draft)}
        values = {name: value for name, value in body.items() if name in known}
        values["topics"] = tuple(values.get("topics", ()))
        values["user_id"] = user_id
        values["updated_at"] = from_iso(row["updated_at"])
        return Draft(**values)

    def save_draft(self, draft: Draft) -> Draft:
        """Store the person's booking in progress."""
        now = self.clock.now()
        body = {name: value for name, value in asdict(draft).items() if name not in ("user_id", "updated_at")}
        self._write(
            "INSERT INTO drafts (user_id, body, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
            [draft.user_id, json.dumps(body, ensure_ascii=False), iso(now)],
        )
        return draft.but(updated_at=from_iso(iso(now)))

    def clear_draft(self, user_id: str) -> None:
        """Forget the person's booking in progress (done or abandoned)."""
        self._write("DELETE FROM drafts WHERE user_id = ?", [user_id])

    # -- retention ---------------------------------------------------------------------------

    def purge(self, now: datetime | None = None, retention_days: int = DEFAULT_RETENTION_DAYS) -> PurgeCounts:
        """Erase what is no longer needed; return the counts (logged, never the data).

        Phone numbers and notes go once the meeting is over or cancelled (a call-back's number
        once it is done); booking rows and call-backs after `retention_days`; lapsed holds and
        drafts untouched for a day at once.
        """
        moment = self._now(now)
        stamp = iso(moment)
        params = {
            "now": stamp,
            "cutoff": iso(moment - timedelta(days=retention_days)),
            "stale": iso(moment - DRAFT_LIFETIME),
        }
        finished = """(status != 'booked'
            OR (SELECT s.ends_at FROM slots s WHERE s.id = bookings.slot_id) <= :now)"""
        expired = """SELECT b.id FROM bookings b JOIN slots s ON s.id = b.slot_id
            WHERE s.ends_at <= :cutoff OR (b.status = 'cancelled' AND b.updated_at <= :cutoff)"""
        with self.transaction():
            self._close_past(stamp)
            holds = self._write("DELETE FROM holds WHERE expires_at <= :now", params)
            drafts = self._write("DELETE FROM drafts WHERE updated_at <= :stale", params)
            phones = self._write(
                f"UPDATE bookings SET phone = NULL WHERE phone IS NOT NULL AND {finished}", params
            )
            phones += self._write(
                "UPDATE callbacks SET phone = NULL WHERE phone IS NOT NULL AND status = 'done'", params
            )
            notes = self._write(
                f"UPDATE bookings SET note = NULL WHERE note IS NOT NULL AND {finished}", params
            )
            self._write(f"DELETE FROM reminders WHERE booking_id IN ({expired})", params)
            notices = self._write(
                "DELETE FROM person_notices"
                f" WHERE status IN ('sent', 'dropped') OR booking_id IN ({expired})",
                params,
            )
            bookings = self._write(f"DELETE FROM bookings WHERE id IN ({expired})", params)
            callbacks = self._write(
                "DELETE FROM callbacks"
                " WHERE (status = 'done' AND done_at <= :cutoff) OR created_at <= :cutoff",
                params,
            )
            slots = self._write(
                """DELETE FROM slots WHERE (ends_at <= :cutoff OR removed_at IS NOT NULL)
                AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = slots.id)""",
                params,
            )
        counts = PurgeCounts(
            holds=holds,
            drafts=drafts,
            phones_erased=phones,
            notes_erased=notes,
            bookings=bookings,
            callbacks=callbacks,
            slots=slots,
            notices=notices,
        )
        if any(asdict(counts).values()):
            log.info("booking retention: %s", ", ".join(f"{k} {v}" for k, v in asdict(counts).items() if v))
        return counts

    # -- statistics --------------------------------------------------------------------------

    def stats(self, after: datetime | None = None) -> list[StatsRow]:
        """Count bookings, outcomes, cancellations (by meeting week) and call-backs (by request week)."""
        since = iso(after) if after is not None else ""
        table: dict[tuple[str, str], dict[str, int]] = {}

        def bump(when: str, language: str, counter: str) -> None:
            year, week, _ = from_iso(when).astimezone(BRUSSELS).isocalendar()
            counts = table.setdefault((f"{year}-W{week:02d}", language), {})
            counts[counter] = counts.get(counter, 0) + 1

        for row in self._query(
            """SELECT s.starts_at, b.language, b.status FROM bookings b JOIN slots s ON s.id = b.slot_id
            WHERE s.starts_at >= ?""",
            [since],
        ):
            bump(row["starts_at"], row["language"], "bookings")
            if row["status"] in ("attended", "missed", "cancelled"):
                bump(row["starts_at"], row["language"], row["status"])
        for row in self._query("SELECT created_at, language FROM callbacks WHERE created_at >= ?", [since]):
            bump(row["created_at"], row["language"], "callbacks")
        return [
            StatsRow(
                week=week,
                language=language,
                bookings=counts.get("bookings", 0),
                attended=counts.get("attended", 0),
                missed=counts.get("missed", 0),
                cancelled=counts.get("cancelled", 0),
                callbacks=counts.get("callbacks", 0),
            )
            for (week, language), counts in sorted(table.items())
        ]


_USER_TABLES: Final = ("person_notices", "holds", "bookings", "callbacks", "drafts")


def delete_user_rows(db: Database, user_id: str, reason: ForgetReason) -> None:
    """Delete every booking row about a person (run inside `Store.forget_user`'s transaction).

    The same rows go whatever the `reason` (/forget or retention of an inactive user).
    """
    db.execute(
        "DELETE FROM reminders WHERE booking_id IN (SELECT id FROM bookings WHERE user_id = ?)", [user_id]
    )
    for table in _USER_TABLES:
        db.execute(f"DELETE FROM {table} WHERE user_id = ?", [user_id])
