"""The handoff store: tickets, staff topics, relay pairs, staff on duty and the audit log in SQLite.

The database decides. One open ticket per person is a unique index; a claim is a conditional
`UPDATE ... WHERE state = 'waiting'` whose changed-row count says who won; every staff action
and its audit row are one `BEGIN IMMEDIATE` transaction. Nothing relies on a Python lock, so
the assistant and a staff command on the command line can share the file.

Bookings and call-backs attach to the person's open ticket, if any, instead of opening a
second one: the card in their topic is updated, and a live request turns the ticket live.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlite_utils import Database

from bot.clock import BRUSSELS, Clock, SystemClock
from bot.handoff.audit import read_audit, write_audit
from bot.handoff.models import (
    TICKET_KINDS,
    Actor,
    AliasTaken,
    AlreadyClaimed,
    AuditEntry,
    Direction,
    EndedBy,
    ForgetPlan,
    HandoffError,
    NotHolder,
    PersonTopic,
    PhoneCard,
    RelayPair,
    RetentionCounts,
    StaffMember,
    Ticket,
    TicketKind,
    TicketNotFound,
    TicketResolved,
    TopicCleanup,
)
from bot.handoff.schema import migrate
from bot.handoff.settings import DEFAULT_AUDIT_RETENTION_DAYS, DEFAULT_RETENTION_DAYS, StaffRouting
from bot.store.db import ForgetReason, Store
from bot.store.tables import DomainTables, from_iso, from_iso_or_none, iso, rows

log = logging.getLogger(__name__)

ALIAS_MAX_CHARS: Final = 32
RELAY_STALE_AFTER: Final = timedelta(minutes=2)
"""A relay pair taken for sending this long ago and not delivered is taken to be abandoned."""
TICKET_COLUMNS: Final = (
    "id, user_id, reference, kind, language, state, chat_id, claimed_by, claimed_alias, opened_at,"
    " waiting_since, claimed_at, first_claimed_at, wait_seconds, resolved_at, ended_by, mentioned_at,"
    " booking_id, callback_id, asked_topics, blocked, forgotten"
)
_TOPIC_COLUMNS: Final = "user_id, chat_id, thread_id, reference, closed, created_at, last_used_at"
_PAIR_COLUMNS: Final = (
    "id, ticket_id, direction, person_message_id, staff_message_id, created_at, delivered_at, reply_to"
)
_STAFF_COLUMNS: Final = "id, alias, language, on_duty, duty_chat_id, duty_since"


def ticket_from_row(row: dict[str, Any]) -> Ticket:
    """Build a Ticket from a row of `tickets` (all columns)."""
    opened_at = from_iso(row["opened_at"])
    return Ticket(
        id=row["id"],
        user_id=row["user_id"],
        reference=row["reference"],
        kind=row["kind"],
        language=row["language"],
        state=row["state"],
        chat_id=row["chat_id"],
        opened_at=opened_at,
        waiting_since=from_iso(row["waiting_since"]),
        claimed_by=row["claimed_by"],
        claimed_alias=row["claimed_alias"],
        claimed_at=from_iso_or_none(row["claimed_at"]),
        first_claimed_at=from_iso_or_none(row["first_claimed_at"]),
        wait_seconds=row["wait_seconds"],
        resolved_at=from_iso_or_none(row["resolved_at"]),
        ended_by=row["ended_by"],
        mentioned_at=from_iso_or_none(row["mentioned_at"]),
        booking_id=row["booking_id"],
        callback_id=row["callback_id"],
        asked_topics=tuple(json.loads(row["asked_topics"])),
        blocked=bool(row["blocked"]),
        forgotten=bool(row["forgotten"]),
    )


def _topic(row: dict[str, Any]) -> PersonTopic:
    return PersonTopic(
        user_id=row["user_id"],
        chat_id=row["chat_id"],
        thread_id=row["thread_id"],
        reference=row["reference"],
        closed=bool(row["closed"]),
        created_at=from_iso(row["created_at"]),
        last_used_at=from_iso(row["last_used_at"]),
    )


def _pair(row: dict[str, Any]) -> RelayPair:
    return RelayPair(
        id=row["id"],
        ticket_id=row["ticket_id"],
        direction=row["direction"],
        person_message_id=row["person_message_id"],
        staff_message_id=row["staff_message_id"],
        created_at=from_iso(row["created_at"]),
        delivered_at=from_iso_or_none(row["delivered_at"]),
        reply_to=row["reply_to"],
    )


def _staff(row: dict[str, Any]) -> StaffMember:
    return StaffMember(
        id=row["id"],
        alias=row["alias"],
        language=row["language"],
        on_duty=bool(row["on_duty"]),
        duty_chat_id=row["duty_chat_id"],
        duty_since=from_iso_or_none(row["duty_since"]),
    )


def _topic_names(topics: Iterable[str]) -> list[str]:
    """Keep topic names only (short identifiers), in the order first asked, once each."""
    names: list[str] = []
    for topic in topics:
        name = topic.strip()
        if not name or len(name) > 64 or any(char.isspace() for char in name):
            raise ValueError(f"{topic!r} is not a topic name (topic names only, never a message)")
        if name not in names:
            names.append(name)
    return names


def _clean_alias(alias: str) -> str:
    alias = " ".join(alias.split())
    if not alias or len(alias) > ALIAS_MAX_CHARS:
        raise HandoffError(f"an alias has 1 to {ALIAS_MAX_CHARS} characters", "bad_alias")
    if alias.lower().startswith("cli:"):
        raise HandoffError(
            "an alias cannot start with 'cli:' (the audit log's mark of the command line)", "bad_alias"
        )
    return alias


class HandoffStore(DomainTables):
    """Tickets and what staff need to work them, on the users' SQLite database."""

    def __init__(
        self,
        store: Store,
        clock: Clock | None = None,
        *,
        routing: StaffRouting | None = None,
        reference: Callable[[str], str] | None = None,
    ) -> None:
        """`reference` makes a person's pseudonymous reference (a keyed hash; see settings' PSEUDONYM_KEY)."""
        super().__init__(store)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.routing = routing if routing is not None else StaffRouting()
        self._reference = reference
        with store.transaction():  # under the write lock: two processes starting at once migrate once
            migrate(self.db)
        store.on_forget(self._delete_user_rows)

    # -- plumbing ----------------------------------------------------------------------------

    def _now(self) -> str:
        return iso(self.clock.now())

    def reference_of(self, user_id: str) -> str:
        """Return the person's pseudonymous reference (stable, not reversible)."""
        if self._reference is None:
            raise HandoffError("no reference maker: the handoff needs PSEUDONYM_KEY", "no_key")
        return self._reference(user_id)

    # -- tickets -----------------------------------------------------------------------------

    def open_ticket(
        self,
        user_id: str,
        kind: TicketKind,
        language: str,
        asked_topics: Sequence[str] = (),
        booking_id: int | None = None,
        callback_id: int | None = None,
    ) -> tuple[Ticket, bool]:
        """Open a ticket for the person, or attach to their open one; return it and whether it is new.

        Attaching merges the asked topics, records the booking or call-back (the newest one
        replaces an older reference), and turns a call-back or meeting ticket live when the
        person asks to talk now (back to the end of the queue if nobody holds it). The
        ticket keeps its staff group and language: the person's topic stays where it is.
        """
        if kind not in TICKET_KINDS:
            raise ValueError(f"unknown ticket kind {kind!r}")
        topics = _topic_names(asked_topics)
        now = self._now()
        with self.transaction():
            current = self._open_row(user_id)
            if current is not None:
                return self._attach(current, kind, topics, booking_id, callback_id, now), False
            reference = self.reference_of(user_id)
            cursor = self.db.execute(
                """INSERT INTO tickets (user_id, reference, kind, language, state, chat_id, opened_at,
                       waiting_since, booking_id, callback_id, asked_topics)
                   VALUES (?, ?, ?, ?, 'waiting', ?, ?, ?, ?, ?, ?)""",
                [user_id, reference, kind, language, self.routing.chat_for(language), now, now,
                 booking_id, callback_id, json.dumps(topics)],
            )  # fmt: skip
            ticket_id = cursor.lastrowid
            assert ticket_id is not None
            self._touch_topic(user_id, self.routing.chat_for(language), now)
            return self.ticket(ticket_id), True

    def _attach(
        self,
        current: dict[str, Any],
        kind: TicketKind,
        topics: list[str],
        booking_id: int | None,
        callback_id: int | None,
        now: str,
    ) -> Ticket:
        merged = _topic_names([*json.loads(current["asked_topics"]), *topics])
        becomes_live = kind == "live" and current["kind"] != "live"
        self.db.execute(
            """UPDATE tickets SET asked_topics = ?, booking_id = coalesce(?, booking_id),
                   callback_id = coalesce(?, callback_id), kind = ?,
                   waiting_since = CASE WHEN ? AND state = 'waiting' THEN ? ELSE waiting_since END,
                   mentioned_at = CASE WHEN ? AND state = 'waiting' THEN NULL ELSE mentioned_at END
               WHERE id = ?""",
            [json.dumps(merged), booking_id, callback_id, "live" if becomes_live else current["kind"],
             becomes_live, now, becomes_live, current["id"]],
        )  # fmt: skip
        self._touch_topic(current["user_id"], current["chat_id"], now)
        return self.ticket(current["id"])

    def _open_row(self, user_id: str) -> dict[str, Any] | None:
        return self._one(
            f"SELECT {TICKET_COLUMNS} FROM tickets WHERE user_id = ? AND state != 'resolved'", [user_id]
        )

    def ticket(self, ticket_id: int) -> Ticket:
        """Return the ticket; raise TicketNotFound if there is none with that number."""
        row = self._one(f"SELECT {TICKET_COLUMNS} FROM tickets WHERE id = ?", [ticket_id])
        if row is None:
            raise TicketNotFound(f"there is no ticket {ticket_id}")
        return ticket_from_row(row)

    def open_ticket_of(self, user_id: str) -> Ticket | None:
        """Return the person's waiting or claimed ticket, if any."""
        row = self._open_row(user_id)
        return None if row is None else ticket_from_row(row)

    def tickets(self, *, include_resolved: bool = False, chat_id: int | None = None) -> list[Ticket]:
        """Return tickets oldest first: the open ones, or every stored one."""
        clauses = [] if include_resolved else ["state != 'resolved'"]
        params: list[Any] = []
        if chat_id is not None:
            clauses.append("chat_id = ?")
            params.append(chat_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(f"SELECT {TICKET_COLUMNS} FROM tickets {where} ORDER BY opened_at, id", params)
        return [ticket_from_row(row) for row in rows]

    def claim(self, ticket_id: int, actor: Actor) -> Ticket:
        """Give the waiting ticket to `actor`; the loser of a race gets AlreadyClaimed naming the winner.

        Claiming a ticket one already holds (a double tap) returns it unchanged.
        """
        now = self._now()
        with self.transaction():
            actor = self._register(actor, now)
            changed = self._write(
                """UPDATE tickets SET state = 'claimed', claimed_by = ?, claimed_alias = ?, claimed_at = ?,
                       first_claimed_at = coalesce(first_claimed_at, ?),
                       wait_seconds = coalesce(wait_seconds,
                           CAST(round((julianday(?) - julianday(waiting_since)) * 86400) AS INTEGER))
                   WHERE id = ? AND state = 'waiting' AND forgotten = 0""",
                [actor.staff_id, actor.alias, now, now, now, ticket_id],
            )
            ticket = self.ticket(ticket_id)
            if changed == 1:
                write_audit(self.db, self.clock.now(), "claim", actor=actor, ticket_id=ticket_id)
                return ticket
        if ticket.state == "resolved" or ticket.forgotten:
            raise TicketResolved(f"ticket {ticket_id} is resolved; nothing to claim")
        if self._holds(ticket, actor):
            return ticket
        assert ticket.claimed_alias is not None  # claimed: the schema requires a holder
        raise AlreadyClaimed(ticket_id, ticket.claimed_alias, ticket.claimed_by)

    @staticmethod
    def _holds(ticket: Ticket, actor: Actor) -> bool:
        if ticket.state != "claimed":
            return False
        if actor.staff_id is not None:
            return ticket.claimed_by == actor.staff_id
        return ticket.claimed_by is None and (ticket.claimed_alias or "").lower() == actor.alias.lower()

    def release(self, ticket_id: int, actor: Actor) -> Ticket:
        """Put the claimed ticket back in the queue; only its holder can."""
        now = self._now()
        holder = (
            "claimed_by = ?"
            if actor.staff_id is not None
            else "claimed_by IS NULL AND claimed_alias = ? COLLATE NOCASE"
        )
        with self.transaction():
            changed = self._write(
                f"""UPDATE tickets SET state = 'waiting', claimed_by = NULL, claimed_alias = NULL,
                        claimed_at = NULL, waiting_since = ?, mentioned_at = NULL
                    WHERE id = ? AND state = 'claimed' AND {holder}""",
                [now, ticket_id, actor.staff_id if actor.staff_id is not None else actor.alias],
            )
            ticket = self.ticket(ticket_id)
            if changed == 1:
                write_audit(self.db, self.clock.now(), "release", actor=actor, ticket_id=ticket_id)
                return ticket
        if ticket.state == "resolved":
            raise TicketResolved(f"ticket {ticket_id} is resolved; nothing to release")
        raise NotHolder(ticket_id, ticket.claimed_alias)

    def resolve(self, ticket_id: int, actor: Actor) -> Ticket:
        """Close the waiting or claimed ticket (any counsellor can: a holder may be away)."""
        now = self._now()
        with self.transaction():
            if not self._end(ticket_id, "staff", now):
                self.ticket(ticket_id)  # TicketNotFound when it is gone
                raise TicketResolved(f"ticket {ticket_id} is already resolved")
            write_audit(self.db, self.clock.now(), "resolve", actor=actor, ticket_id=ticket_id)
            ticket = self.ticket(ticket_id)
            self._touch_topic(ticket.user_id, ticket.chat_id, now)
            return ticket

    def end_by_person(self, user_id: str) -> Ticket | None:
        """Close the person's open ticket because they left (/end); return it, or None if none was open."""
        now = self._now()
        with self.transaction():
            row = self._open_row(user_id)
            if row is None or not self._end(row["id"], "person", now):
                return None
            self._touch_topic(user_id, row["chat_id"], now)
            return self.ticket(row["id"])

    def _end(self, ticket_id: int, by: EndedBy, now: str) -> bool:
        changed = self._write(
            "UPDATE tickets SET state = 'resolved', resolved_at = ?, ended_by = ?"
            " WHERE id = ? AND state != 'resolved'",
            [now, by, ticket_id],
        )
        return changed == 1

    def mark_blocked(self, user_id: str) -> Ticket | None:
        """Mark the person's open ticket: they blocked the assistant (staff are told); return it."""
        with self.transaction():
            row = self._open_row(user_id)
            if row is None:
                return None
            self._write("UPDATE tickets SET blocked = 1 WHERE id = ?", [row["id"]])
            return self.ticket(row["id"])

    # -- staff topics ------------------------------------------------------------------------

    def topic_of(self, user_id: str, chat_id: int) -> PersonTopic | None:
        """Return the person's topic in that staff group, if one was created."""
        row = self._one(
            f"SELECT {_TOPIC_COLUMNS} FROM person_topics WHERE user_id = ? AND chat_id = ?",
            [user_id, chat_id],
        )
        return None if row is None else _topic(row)

    def topic_by_thread(self, chat_id: int, thread_id: int) -> PersonTopic | None:
        """Return the person topic with that thread id in that group (None: General or an unknown topic)."""
        row = self._one(
            f"SELECT {_TOPIC_COLUMNS} FROM person_topics WHERE chat_id = ? AND thread_id = ?",
            [chat_id, thread_id],
        )
        return None if row is None else _topic(row)

    def ticket_for_thread(self, chat_id: int, thread_id: int) -> Ticket | None:
        """Return the open ticket a staff message in that topic belongs to (None: nothing to relay to)."""
        row = self._one(
            f"""SELECT {", ".join("t." + name.strip() for name in TICKET_COLUMNS.split(","))}
                FROM tickets t JOIN person_topics p ON p.user_id = t.user_id AND p.chat_id = t.chat_id
                WHERE p.chat_id = ? AND p.thread_id = ? AND t.state != 'resolved'""",
            [chat_id, thread_id],
        )
        return None if row is None else ticket_from_row(row)

    def save_topic(self, user_id: str, chat_id: int, thread_id: int, reference: str) -> PersonTopic:
        """Record the person's topic in that group (replacing one deleted by hand), open."""
        now = self._now()
        with self.transaction():
            self.db.execute(
                """INSERT INTO person_topics
                       (user_id, chat_id, thread_id, reference, closed, created_at, last_used_at)
                   VALUES (?, ?, ?, ?, 0, ?, ?)
                   ON CONFLICT (user_id, chat_id) DO UPDATE SET thread_id = excluded.thread_id,
                       reference = excluded.reference, closed = 0, created_at = excluded.created_at,
                       last_used_at = excluded.last_used_at""",
                [user_id, chat_id, thread_id, reference, now, now],
            )
        topic = self.topic_of(user_id, chat_id)
        assert topic is not None
        return topic

    def set_topic_closed(self, chat_id: int, thread_id: int, closed: bool) -> None:
        """Record that the front-end closed (resolve) or reopened (new ticket) the topic in Telegram."""
        with self.transaction():
            self._write(
                "UPDATE person_topics SET closed = ?, last_used_at = ? WHERE chat_id = ? AND thread_id = ?",
                [int(closed), self._now(), chat_id, thread_id],
            )

    def topic_deleted(self, chat_id: int, thread_id: int) -> bool:
        """Forget a topic gone from Telegram (deleted by hand or by retention); return whether it was known.

        The next ticket of that person creates a new one.
        """
        with self.transaction():
            return (
                self._write(
                    "DELETE FROM person_topics WHERE chat_id = ? AND thread_id = ?", [chat_id, thread_id]
                )
                > 0
            )

    def _touch_topic(self, user_id: str, chat_id: int | None, now: str) -> None:
        if chat_id is not None:
            self.db.execute(
                "UPDATE person_topics SET last_used_at = ? WHERE user_id = ? AND chat_id = ?",
                [now, user_id, chat_id],
            )

    def stale_topics(self, retention_days: int = DEFAULT_RETENTION_DAYS) -> list[PersonTopic]:
        """Return topics unused for the retention period whose person has no ticket left in that group.

        The front-end deletes each in Telegram, then calls `topic_deleted`.
        """
        cutoff = iso(self.clock.now() - timedelta(days=retention_days))
        rows = self._query(
            f"""SELECT {_TOPIC_COLUMNS} FROM person_topics p WHERE last_used_at < ?
                AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.user_id = p.user_id AND t.chat_id = p.chat_id)
                ORDER BY last_used_at""",
            [cutoff],
        )
        return [_topic(row) for row in rows]

    # -- cards showing a phone number --------------------------------------------------------

    def card_shows_phone(self, ticket_id: int, chat_id: int, message_id: int) -> None:
        """Note that a card posted for the ticket shows a phone number (to edit it out later)."""
        with self.transaction():
            self.db.execute(
                "INSERT OR IGNORE INTO phone_cards (chat_id, message_id, ticket_id) VALUES (?, ?, ?)",
                [chat_id, message_id, ticket_id],
            )

    def phone_cards(self) -> list[PhoneCard]:
        """Return the cards noted as showing a phone number, oldest first."""
        rows = self._query("SELECT ticket_id, chat_id, message_id FROM phone_cards ORDER BY rowid")
        return [PhoneCard(row["ticket_id"], row["chat_id"], row["message_id"]) for row in rows]

    def phone_card_cleared(self, card: PhoneCard) -> None:
        """Record that the card no longer shows a phone number (edited, or it cannot be edited)."""
        with self.transaction():
            self._write(
                "DELETE FROM phone_cards WHERE chat_id = ? AND message_id = ?",
                [card.chat_id, card.message_id],
            )

    # -- relay -------------------------------------------------------------------------------

    def record_relay(
        self, ticket_id: int, direction: Direction, source_message_id: int, reply_to: int | None = None
    ) -> RelayPair | None:
        """Note a message to copy across before copying it; None if it was noted before (a repeated update).

        `reply_to` is the message it answers, on the same side (the copy then answers its copy).

        Raises TicketResolved when the ticket is no longer open (relay nothing; tell the
        counsellor) and TicketNotFound when it is gone.
        """
        column = "person_message_id" if direction == "in" else "staff_message_id"
        with self.transaction():
            ticket = self.ticket(ticket_id)
            if not ticket.is_open or ticket.forgotten:
                raise TicketResolved(f"ticket {ticket_id} is resolved; nothing is relayed")
            cursor = self.db.execute(
                f"INSERT OR IGNORE INTO relay_pairs (ticket_id, direction, {column}, created_at, reply_to)"
                " VALUES (?, ?, ?, ?, ?)",
                [ticket_id, direction, source_message_id, self._now(), reply_to],
            )
            if cursor.rowcount == 0:
                return None
            return self._pair_by_id(cursor.lastrowid)

    def _pair_by_id(self, pair_id: int | None) -> RelayPair:
        row = self._one(f"SELECT {_PAIR_COLUMNS} FROM relay_pairs WHERE id = ?", [pair_id])
        assert row is not None
        return _pair(row)

    def claim_relay(self, pair_id: int, *, stale_after: timedelta = RELAY_STALE_AFTER) -> bool:
        """Take a noted copy for sending; False if it is delivered, gone, or another sender has it.

        A claim older than `stale_after` (the sender died between taking it and recording the
        delivery) can be taken again: the copy is then sent at least once. That window is one
        Bot API call; Telegram offers no way to ask whether a copy already arrived.
        """
        now = self.clock.now()
        with self.transaction():
            changed = self._write(
                """UPDATE relay_pairs SET sending_at = ? WHERE id = ? AND delivered_at IS NULL
                   AND (sending_at IS NULL OR sending_at < ?)""",
                [iso(now), pair_id, iso(now - stale_after)],
            )
            return changed == 1

    def relay_delivered(self, pair_id: int, target_message_id: int) -> bool:
        """Record the id of the delivered copy; False if it was recorded before (or the pair is gone)."""
        with self.transaction():
            row = self._one("SELECT direction FROM relay_pairs WHERE id = ?", [pair_id])
            if row is None:
                return False
            column = "staff_message_id" if row["direction"] == "in" else "person_message_id"
            return (
                self._write(
                    f"UPDATE relay_pairs SET {column} = ?, delivered_at = ?"
                    " WHERE id = ? AND delivered_at IS NULL",
                    [target_message_id, self._now(), pair_id],
                )
                == 1
            )

    def release_relay(self, pair_id: int) -> None:
        """Give back a copy taken for sending that failed for now (Telegram asked to wait): retry soon."""
        with self.transaction():
            self._write(
                "UPDATE relay_pairs SET sending_at = NULL WHERE id = ? AND delivered_at IS NULL", [pair_id]
            )

    def release_abandoned_relays(self, started_at: datetime) -> int:
        """At start-up: give back copies a previous process took and never marked delivered; return how many.

        Only one assistant process sends relays (Telegram gives updates to one), so a claim older
        than this process's start belongs to a process that is gone (killed with kill -9, say):
        waiting `RELAY_STALE_AFTER` for it would only delay the conversation. A copy that process
        sent just before it died is then sent again (the window is one Bot API call).
        """
        with self.transaction():
            return self._write(
                "UPDATE relay_pairs SET sending_at = NULL WHERE delivered_at IS NULL AND sending_at < ?",
                [iso(started_at)],
            )

    def drop_relay(self, pair_id: int) -> None:
        """Give up a copy that cannot be delivered (the person blocked the assistant, the message is gone)."""
        with self.transaction():
            self._write("DELETE FROM relay_pairs WHERE id = ? AND delivered_at IS NULL", [pair_id])

    def pending_relays(self, ticket_id: int | None = None) -> list[RelayPair]:
        """Return copies noted but not delivered, in the order they arrived (send them in this order)."""
        where, params = ("AND ticket_id = ?", [ticket_id]) if ticket_id is not None else ("", [])
        rows = self._query(
            f"SELECT {_PAIR_COLUMNS} FROM relay_pairs WHERE delivered_at IS NULL {where} ORDER BY id", params
        )
        return [_pair(row) for row in rows]

    def find_pair(
        self, ticket_id: int, *, person_message_id: int | None = None, staff_message_id: int | None = None
    ) -> RelayPair | None:
        """Return the pair holding a message id on either side (for edits and replies)."""
        if (person_message_id is None) == (staff_message_id is None):
            raise ValueError("give exactly one of person_message_id and staff_message_id")
        column, value = (
            ("person_message_id", person_message_id)
            if person_message_id is not None
            else ("staff_message_id", staff_message_id)
        )
        row = self._one(
            f"SELECT {_PAIR_COLUMNS} FROM relay_pairs WHERE ticket_id = ? AND {column} = ?",
            [ticket_id, value],
        )
        return None if row is None else _pair(row)

    def reply_target(self, pair: RelayPair) -> int | None:
        """Return the id, on the copy's side, of the message the copy answers (None: not a reply, or gone).

        A person answering the counsellor's copy gets the counsellor's message answered in the
        topic, and the other way round; answering one's own relayed message works the same.
        """
        if pair.reply_to is None:
            return None
        if pair.direction == "in":
            found = self.find_pair(pair.ticket_id, person_message_id=pair.reply_to)
            return None if found is None else found.staff_message_id
        found = self.find_pair(pair.ticket_id, staff_message_id=pair.reply_to)
        return None if found is None else found.person_message_id

    # -- staff -------------------------------------------------------------------------------

    def staff_member(self, staff_id: int) -> StaffMember | None:
        """Return the counsellor with that Telegram user id, if known."""
        row = self._one(f"SELECT {_STAFF_COLUMNS} FROM staff WHERE id = ?", [staff_id])
        return None if row is None else _staff(row)

    def staff_by_alias(self, alias: str) -> StaffMember | None:
        """Return the counsellor using that alias (case does not matter), if any."""
        row = self._one(f"SELECT {_STAFF_COLUMNS} FROM staff WHERE alias = ? COLLATE NOCASE", [alias.strip()])
        return None if row is None else _staff(row)

    def cli_actor(self, alias: str) -> Actor:
        """Return the actor for `--as ALIAS` on the command line: the counsellor with that alias, if any."""
        member = self.staff_by_alias(alias)
        if member is not None:
            return Actor(member.id, member.alias, "cli")
        return Actor(None, _clean_alias(alias), "cli")

    def set_alias(self, staff_id: int, alias: str, language: str | None = None) -> StaffMember:
        """Record or change the alias signing a counsellor's messages; AliasTaken if another uses it."""
        with self.transaction():
            self._register(Actor(staff_id, alias), self._now(), language=language, rename=True)
        member = self.staff_member(staff_id)
        assert member is not None
        return member

    def _register(
        self, actor: Actor, now: str, *, language: str | None = None, rename: bool = False
    ) -> Actor:
        """Make sure a Telegram counsellor has a staff row (inside the caller's transaction); return them.

        A known counsellor keeps the alias on record (`set_alias` changes it), so that the
        name signing their messages and in the audit log is always the same.
        """
        if actor.staff_id is None:
            return actor
        alias = _clean_alias(actor.alias)
        owner = self._one("SELECT id FROM staff WHERE alias = ? COLLATE NOCASE", [alias])
        if owner is not None and owner["id"] != actor.staff_id:
            raise AliasTaken(f"the alias {alias!r} is already used by another counsellor")
        update = "alias = excluded.alias," if rename else ""
        self.db.execute(
            f"""INSERT INTO staff (id, alias, language, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET {update} language = coalesce(excluded.language, language),
                    updated_at = excluded.updated_at""",
            [actor.staff_id, alias, language, now],
        )
        stored = self._one("SELECT alias FROM staff WHERE id = ?", [actor.staff_id])
        assert stored is not None
        return Actor(actor.staff_id, stored["alias"], actor.channel)

    def set_duty(self, staff_id: int, alias: str, on: bool, chat_id: int | None = None) -> StaffMember:
        """Put a counsellor on or off duty in a staff group (audited); duty ends with the Brussels day."""
        now = self._now()
        with self.transaction():
            self._register(Actor(staff_id, alias), now)
            self._write(
                "UPDATE staff SET on_duty = ?, duty_chat_id = ?, duty_since = ?, updated_at = ? WHERE id = ?",
                [int(on), chat_id if on else None, now if on else None, now, staff_id],
            )
            member = self.staff_member(staff_id)
            assert member is not None
            write_audit(
                self.db,
                self.clock.now(),
                "duty_on" if on else "duty_off",
                staff_id=staff_id,
                alias=member.alias,
            )
        return member

    def on_duty(self, chat_id: int | None = None) -> list[StaffMember]:
        """Return counsellors on duty today (Brussels), in that staff group if one is given."""
        today = self.clock.now().astimezone(BRUSSELS).date()
        where, params = ("AND duty_chat_id IS ?", [chat_id]) if chat_id is not None else ("", [])
        rows = self._query(
            f"SELECT {_STAFF_COLUMNS} FROM staff WHERE on_duty = 1 {where} ORDER BY alias", params
        )
        members = [_staff(row) for row in rows]
        # A counsellor who forgot `/duty off` is not left "on duty" overnight for people to wait on.
        return [
            m
            for m in members
            if m.duty_since is not None and m.duty_since.astimezone(BRUSSELS).date() == today
        ]

    # -- audit -------------------------------------------------------------------------------

    def record_answer(self, actor: Actor, ticket_id: int, topic: str) -> None:
        """Audit a vetted answer sent with /answer (the topic's name, never the text)."""
        (name,) = _topic_names([topic])
        with self.transaction():
            write_audit(self.db, self.clock.now(), "answer", actor=actor, ticket_id=ticket_id, detail=name)

    def record_forged(
        self, user_id: int, action: str, ticket_id: int | None = None, where: str | None = None
    ) -> None:
        """Audit a staff action attempted by someone who is not staff; nothing was done."""
        detail = action if where is None else f"{action} in {where}"
        with self.transaction():
            write_audit(
                self.db,
                self.clock.now(),
                "forged_attempt",
                staff_id=user_id,
                ticket_id=ticket_id,
                detail=detail,
            )

    def audit(self, *, since: datetime | None = None, ticket_id: int | None = None) -> list[AuditEntry]:
        """Return audit entries, oldest first."""
        return read_audit(self.db, since=since, ticket_id=ticket_id)

    # -- forgetting and retention ------------------------------------------------------------

    def prepare_forget(self, user_id: str) -> ForgetPlan:
        """Stop relaying for a person about to be forgotten; return their open tickets and topics.

        Call it right before `Store.forget_user`: the forget hook then deletes every row
        about the person and queues their topics for deletion in Telegram (`pending_cleanups`).
        """
        with self.transaction():
            self._write(
                "UPDATE tickets SET forgotten = 1 WHERE user_id = ? AND state != 'resolved'", [user_id]
            )
            tickets = self._query(
                f"SELECT {TICKET_COLUMNS} FROM tickets WHERE user_id = ? AND state != 'resolved' ORDER BY id",
                [user_id],
            )
            topics = self._query(
                f"SELECT {_TOPIC_COLUMNS} FROM person_topics WHERE user_id = ? ORDER BY chat_id", [user_id]
            )
        return ForgetPlan(
            tuple(ticket_from_row(row) for row in tickets), tuple(_topic(row) for row in topics)
        )

    def _delete_user_rows(self, db: Database, user_id: str, reason: ForgetReason) -> None:
        """Delete every handoff row about a person (inside `Store.forget_user`'s transaction).

        Their topics are queued for deletion in Telegram with the numbers of their tickets in
        each group and the `reason`, so staff are told "ticket N: the person deleted their data"
        or "ticket N: removed after the retention period", whichever is true.
        """
        now = self._now()
        for topic in rows(
            db.execute("SELECT chat_id, thread_id FROM person_topics WHERE user_id = ?", [user_id])
        ):
            cursor = db.execute(
                "SELECT id FROM tickets WHERE user_id = ? AND chat_id = ? ORDER BY id",
                [user_id, topic["chat_id"]],
            )
            ids = [row[0] for row in cursor.fetchall()]
            db.execute(
                "INSERT INTO topic_cleanups (chat_id, thread_id, ticket_ids, created_at, reason)"
                " VALUES (?, ?, ?, ?, ?)",
                [topic["chat_id"], topic["thread_id"], json.dumps(ids), now, reason],
            )
        for table in ("relay_pairs", "phone_cards"):  # their topic, cards included, is deleted in Telegram
            db.execute(
                f"DELETE FROM {table} WHERE ticket_id IN (SELECT id FROM tickets WHERE user_id = ?)",
                [user_id],
            )
        db.execute("DELETE FROM tickets WHERE user_id = ?", [user_id])
        db.execute("DELETE FROM person_topics WHERE user_id = ?", [user_id])
        # A staff button or command the person tried (forged or guessed) was audited under their
        # Telegram id; staff's own actions stay, the person's attempts go with them.
        prefix, _, number = user_id.partition(":")
        if prefix == "tg" and number.lstrip("-").isdigit() and number.isascii():
            db.execute("DELETE FROM audit WHERE action = 'forged_attempt' AND staff_id = ?", [int(number)])

    def pending_cleanups(self) -> list[TopicCleanup]:
        """Return topics of forgotten people still to delete in Telegram, oldest first."""
        rows = self._query(
            "SELECT id, chat_id, thread_id, ticket_ids, created_at, reason FROM topic_cleanups ORDER BY id"
        )
        return [
            TopicCleanup(
                id=row["id"],
                chat_id=row["chat_id"],
                thread_id=row["thread_id"],
                ticket_ids=tuple(json.loads(row["ticket_ids"])),
                created_at=from_iso(row["created_at"]),
                reason=row["reason"],
            )
            for row in rows
        ]

    def cleanup_done(self, cleanup_id: int) -> None:
        """Record that the topic was deleted in Telegram (or was already gone)."""
        with self.transaction():
            self._write("DELETE FROM topic_cleanups WHERE id = ?", [cleanup_id])

    def purge(
        self,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        audit_retention_days: int = DEFAULT_AUDIT_RETENTION_DAYS,
    ) -> RetentionCounts:
        """Delete tickets resolved before the retention period with their relay pairs, and old audit rows."""
        cutoff = iso(self.clock.now() - timedelta(days=retention_days))
        audit_cutoff = iso(self.clock.now() - timedelta(days=audit_retention_days))
        old = "SELECT id FROM tickets WHERE state = 'resolved' AND resolved_at < ?"
        with self.transaction():
            pairs = self._write(f"DELETE FROM relay_pairs WHERE ticket_id IN ({old})", [cutoff])
            self._write(f"DELETE FROM phone_cards WHERE ticket_id IN ({old})", [cutoff])
            tickets = self._write(
                "DELETE FROM tickets WHERE state = 'resolved' AND resolved_at < ?", [cutoff]
            )
            audit_rows = self._write("DELETE FROM audit WHERE at < ?", [audit_cutoff])
        counts = RetentionCounts(tickets=tickets, relay_pairs=pairs, audit_rows=audit_rows)
        log.info(
            "Handoff retention: %d tickets, %d relay pairs and %d audit rows deleted",
            counts.tickets,
            counts.relay_pairs,
            counts.audit_rows,
        )
        return counts
