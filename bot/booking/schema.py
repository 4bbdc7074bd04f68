"""The booking tables, as registered migrations on the users' database.

Times are UTC ISO strings ("2026-12-10T13:00:00+00:00"), all written the same way so that
comparing the strings compares the times. The phone number is kept only for phone meetings
and call-backs, and erased once they are over (`BookingStore.purge`).
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("booking")


@migrations()
def m001_booking(db: Database) -> None:
    """Create slots, holds, bookings, reminders, call-backs, drafts and notices to people."""
    statements = [
        """CREATE TABLE slots (
            id INTEGER PRIMARY KEY,
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            minutes INTEGER NOT NULL CHECK (minutes > 0),
            mode TEXT NOT NULL CHECK (mode IN ('phone', 'video', 'desk')),
            desk TEXT CHECK ((mode = 'desk') = (desk IS NOT NULL)),
            languages TEXT NOT NULL,
            capacity INTEGER NOT NULL CHECK (capacity >= 1),
            counsellor TEXT,
            example INTEGER NOT NULL DEFAULT 0,
            removed_at TEXT,
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX slots_starts_at ON slots (starts_at)",
        # The same opening twice (a staff script run twice) is refused, not doubled.
        """CREATE UNIQUE INDEX slots_once ON slots
            (starts_at, mode, ifnull(desk, ''), ifnull(counsellor, '')) WHERE removed_at IS NULL""",
        """CREATE TABLE holds (
            id INTEGER PRIMARY KEY,
            slot_id INTEGER NOT NULL REFERENCES slots (id),
            user_id TEXT NOT NULL UNIQUE,
            expires_at TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX holds_slot ON holds (slot_id, expires_at)",
        """CREATE TABLE bookings (
            id INTEGER PRIMARY KEY,
            user_id TEXT NOT NULL,
            slot_id INTEGER NOT NULL REFERENCES slots (id),
            language TEXT NOT NULL,
            interpreter_language TEXT,
            phone TEXT,
            topics TEXT NOT NULL DEFAULT '',
            note TEXT,
            status TEXT NOT NULL DEFAULT 'booked'
                CHECK (status IN ('booked', 'cancelled', 'attended', 'missed', 'over')),
            cancelled_by TEXT CHECK (cancelled_by IN ('person', 'staff', 'forget')),
            sequence INTEGER NOT NULL DEFAULT 0,
            uid TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        # One upcoming meeting per person, decided by the database even for two racing requests.
        "CREATE UNIQUE INDEX bookings_one_upcoming ON bookings (user_id) WHERE status = 'booked'",
        "CREATE INDEX bookings_slot ON bookings (slot_id, status)",
        """CREATE TABLE reminders (
            id INTEGER PRIMARY KEY,
            booking_id INTEGER NOT NULL REFERENCES bookings (id),
            kind TEXT NOT NULL,
            due_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sending', 'sent', 'dropped')),
            claimed_at TEXT,
            sent_at TEXT,
            dropped_because TEXT,
            UNIQUE (booking_id, kind)
        )""",
        "CREATE INDEX reminders_due ON reminders (status, due_at)",
        """CREATE TABLE callbacks (
            id INTEGER PRIMARY KEY,
            user_id TEXT NOT NULL,
            phone TEXT,
            language TEXT NOT NULL,
            part_of_day TEXT NOT NULL CHECK (part_of_day IN ('morning', 'afternoon')),
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done')),
            created_at TEXT NOT NULL,
            done_at TEXT
        )""",
        "CREATE UNIQUE INDEX callbacks_one_open ON callbacks (user_id) WHERE status = 'open'",
        """CREATE TABLE drafts (
            user_id TEXT PRIMARY KEY,
            body TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE person_notices (
            id INTEGER PRIMARY KEY,
            user_id TEXT NOT NULL,
            booking_id INTEGER NOT NULL REFERENCES bookings (id),
            kind TEXT NOT NULL CHECK (kind IN ('cancelled', 'moved')),
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sending', 'sent', 'dropped')),
            claimed_at TEXT,
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX person_notices_status ON person_notices (status)",
    ]
    for statement in statements:
        db.execute(statement)


def migrate(db: Database) -> None:
    """Bring the booking tables to the latest schema."""
    migrations.apply(db)
