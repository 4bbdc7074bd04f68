"""The handoff tables, as registered migrations on the users' database.

Times are UTC ISO strings ("2026-12-10T13:00:00+00:00"), all written the same way so that
comparing the strings compares the times. No table holds message text: tickets keep the
names of the topics a person asked about, relay pairs keep message ids only.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("handoff")


@migrations()
def m001_handoff(db: Database) -> None:
    """Create tickets, person topics, relay pairs, staff, the audit log and topic clean-ups."""
    statements = [
        # AUTOINCREMENT: a ticket number is never reused after retention or /forget deleted
        # the ticket, so "ticket 12" in the audit log or a staff message means one ticket.
        """CREATE TABLE tickets (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id TEXT NOT NULL,
            reference TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('live', 'callback', 'meeting')),
            language TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'claimed', 'resolved')),
            chat_id INTEGER,
            claimed_by INTEGER,
            claimed_alias TEXT,
            opened_at TEXT NOT NULL,
            waiting_since TEXT NOT NULL,
            claimed_at TEXT,
            first_claimed_at TEXT,
            wait_seconds INTEGER,
            resolved_at TEXT,
            ended_by TEXT CHECK (ended_by IN ('staff', 'person', 'forget')),
            mentioned_at TEXT,
            booking_id INTEGER,
            callback_id INTEGER,
            asked_topics TEXT NOT NULL DEFAULT '[]',
            blocked INTEGER NOT NULL DEFAULT 0,
            forgotten INTEGER NOT NULL DEFAULT 0,
            -- After a release nobody holds it; after resolving, the last holder stays on record.
            CHECK (state != 'claimed' OR claimed_alias IS NOT NULL),
            CHECK (state != 'waiting' OR claimed_alias IS NULL),
            CHECK ((state = 'resolved') = (resolved_at IS NOT NULL))
        )""",
        # One open ticket per person, decided by the database, not by a check before an insert.
        "CREATE UNIQUE INDEX tickets_one_open ON tickets (user_id) WHERE state != 'resolved'",
        "CREATE INDEX tickets_queue ON tickets (state, waiting_since)",
        "CREATE INDEX tickets_claimed ON tickets (first_claimed_at)",
        "CREATE INDEX tickets_resolved ON tickets (resolved_at)",
        # One topic per person per staff group (a group per language is possible).
        """CREATE TABLE person_topics (
            user_id TEXT NOT NULL,
            chat_id INTEGER NOT NULL,
            thread_id INTEGER NOT NULL,
            reference TEXT NOT NULL,
            closed INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            last_used_at TEXT NOT NULL,
            PRIMARY KEY (user_id, chat_id)
        )""",
        "CREATE UNIQUE INDEX person_topics_thread ON person_topics (chat_id, thread_id)",
        # Ids only. The source side is written when the message arrives, the other side once
        # its copy is delivered: an undelivered row is the relay's to-do list after a restart.
        """CREATE TABLE relay_pairs (
            id INTEGER PRIMARY KEY,
            ticket_id INTEGER NOT NULL,
            direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            person_message_id INTEGER,
            staff_message_id INTEGER,
            created_at TEXT NOT NULL,
            delivered_at TEXT,
            CHECK ((direction = 'in' AND person_message_id IS NOT NULL)
                OR (direction = 'out' AND staff_message_id IS NOT NULL))
        )""",
        # A message relayed once: Telegram delivering the same update again adds nothing.
        "CREATE UNIQUE INDEX relay_person ON relay_pairs (ticket_id, person_message_id)",
        "CREATE UNIQUE INDEX relay_staff ON relay_pairs (ticket_id, staff_message_id)",
        "CREATE INDEX relay_pending ON relay_pairs (delivered_at, ticket_id, id)",
        """CREATE TABLE staff (
            id INTEGER PRIMARY KEY,
            alias TEXT NOT NULL,
            language TEXT,
            on_duty INTEGER NOT NULL DEFAULT 0,
            duty_chat_id INTEGER,
            duty_since TEXT,
            updated_at TEXT NOT NULL
        )""",
        # An alias signs a counsellor's messages to people: two counsellors never share one.
        "CREATE UNIQUE INDEX staff_alias ON staff (alias COLLATE NOCASE)",
        """CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            staff_id INTEGER,
            alias TEXT,
            action TEXT NOT NULL CHECK (action IN
                ('claim', 'release', 'resolve', 'answer', 'duty_on', 'duty_off', 'forged_attempt')),
            ticket_id INTEGER,
            detail TEXT
        )""",
        "CREATE INDEX audit_at ON audit (at)",
        # Topics to delete in Telegram after /forget: no user id, only where the topic is.
        """CREATE TABLE topic_cleanups (
            id INTEGER PRIMARY KEY,
            chat_id INTEGER NOT NULL,
            thread_id INTEGER NOT NULL,
            ticket_ids TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL
        )""",
    ]
    for statement in statements:
        db.execute(statement)


@migrations()
def m002_relay_claims(db: Database) -> None:
    """Let one sender at a time take a relay pair (the live handler and the resume job never both send it)."""
    db.execute("ALTER TABLE relay_pairs ADD COLUMN sending_at TEXT")


@migrations()
def m003_relay_reply_to(db: Database) -> None:
    """Note which message a relayed one answers (an id on its own side), so the copy answers the copy."""
    db.execute("ALTER TABLE relay_pairs ADD COLUMN reply_to INTEGER")


@migrations()
def m004_cleanup_reason(db: Database) -> None:
    """Say why a topic is deleted (/forget, or retention of an inactive person): staff are told the truth."""
    db.execute(
        "ALTER TABLE topic_cleanups ADD COLUMN reason TEXT NOT NULL DEFAULT 'forget'"
        " CHECK (reason IN ('forget', 'retention'))"
    )


@migrations()
def m005_phone_cards(db: Database) -> None:
    """Note the cards in Telegram that show a phone number, to edit it out once the database erases it.

    A table rather than a column: a ticket can have several cards (a call-back, then a booking
    attached to the same ticket), and each one showing the number must lose it.
    """
    db.execute(
        """CREATE TABLE phone_cards (
            chat_id INTEGER NOT NULL,
            message_id INTEGER NOT NULL,
            ticket_id INTEGER NOT NULL,
            PRIMARY KEY (chat_id, message_id)
        )"""
    )
    db.execute("CREATE INDEX phone_cards_ticket ON phone_cards (ticket_id)")


def migrate(db: Database) -> None:
    """Bring the handoff tables to the latest schema."""
    migrations.apply(db)
