"""What the queue looks like: a person's place, the honest median wait, overdue tickets, the day's figures.

Only figures the database can back are given: the median wait is None until enough recent
tickets were claimed, never an estimate made up to reassure.
"""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from bot.clock import BRUSSELS
from bot.handoff.models import DayStats, QueuePlace, Ticket, TicketKind
from bot.handoff.store import TICKET_COLUMNS, HandoffStore, ticket_from_row
from bot.store.tables import iso

MEDIAN_MIN_TICKETS: Final = 5
"""Below this many claimed live tickets in the window, no median is given."""
MEDIAN_WINDOW: Final = timedelta(days=14)


class HandoffQueue:
    """Reads about the queue, for the person waiting and for staff (`/queue`, `/stats`, the mention job)."""

    def __init__(
        self,
        handoff: HandoffStore,
        *,
        median_min_tickets: int = MEDIAN_MIN_TICKETS,
        median_window: timedelta = MEDIAN_WINDOW,
    ) -> None:
        self.handoff = handoff
        self.db = handoff.db
        self.clock = handoff.clock
        self.median_min_tickets = median_min_tickets
        self.median_window = median_window

    def place(self, ticket: Ticket) -> QueuePlace | None:
        """Return where a waiting live ticket stands in its staff group's queue (None: not waiting live).

        Only live tickets queue: call-backs and meetings wait for staff, not a person in the chat.
        """
        if ticket.state != "waiting" or ticket.kind != "live":
            return None
        ahead = self.db.execute(
            """SELECT count(*) FROM tickets WHERE state = 'waiting' AND kind = 'live' AND forgotten = 0
               AND chat_id IS ? AND (waiting_since < ? OR (waiting_since = ? AND id < ?))""",
            [ticket.chat_id, iso(ticket.waiting_since), iso(ticket.waiting_since), ticket.id],
        ).fetchone()[0]
        return QueuePlace(position=ahead + 1, median_wait_seconds=self.median_wait(ticket.chat_id))

    def median_wait(self, chat_id: int | None = None) -> float | None:
        """Return the median wait until claimed of the group's recent live tickets; None if too few."""
        since = iso(self.clock.now() - self.median_window)
        waits = [
            row[0]
            for row in self.db.execute(
                """SELECT wait_seconds FROM tickets WHERE kind = 'live' AND wait_seconds IS NOT NULL
                   AND first_claimed_at >= ? AND chat_id IS ?""",
                [since, chat_id],
            )
        ]
        if len(waits) < self.median_min_tickets:
            return None
        return float(statistics.median(waits))

    def open_tickets(self, chat_id: int | None = None) -> list[Ticket]:
        """Return waiting and claimed tickets, oldest first (all groups when `chat_id` is None)."""
        return self.handoff.tickets(chat_id=chat_id)

    def waiting_longer_than(
        self, minutes: int, *, kinds: tuple[TicketKind, ...] = ("live",), chat_id: int | None = None
    ) -> list[Ticket]:
        """Return tickets waiting at least `minutes` and not mentioned to staff yet, oldest first.

        Mention each with `mark_mentioned` first: it says whether this run is the one to.
        """
        cutoff = iso(self.clock.now() - timedelta(minutes=minutes))
        marks = ", ".join("?" for _ in kinds)
        where, params = ("AND chat_id = ?", [chat_id]) if chat_id is not None else ("", [])
        cursor = self.db.execute(
            f"""SELECT {TICKET_COLUMNS} FROM tickets WHERE state = 'waiting' AND forgotten = 0
                AND mentioned_at IS NULL AND waiting_since <= ? AND kind IN ({marks}) {where}
                ORDER BY waiting_since, id""",
            [cutoff, *kinds, *params],
        )
        names = [column[0] for column in cursor.description]
        return [ticket_from_row(dict(zip(names, row, strict=True))) for row in cursor.fetchall()]

    def mark_mentioned(self, ticket_id: int) -> bool:
        """Claim the one mention of a long wait; False if it was made already or the ticket moved on."""
        with self.handoff.transaction():
            cursor = self.db.execute(
                "UPDATE tickets SET mentioned_at = ? WHERE id = ? AND mentioned_at IS NULL"
                " AND state = 'waiting'",
                [iso(self.clock.now()), ticket_id],
            )
            return cursor.rowcount == 1

    def stats(self, day: date, chat_id: int | None = None) -> DayStats:
        """Return one Brussels day's figures: tickets opened, claimed, resolved, meetings, median wait."""
        start = datetime.combine(day, time(0), tzinfo=BRUSSELS).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=BRUSSELS).astimezone(UTC)
        bounds = [iso(start), iso(end)]
        where, extra = ("AND chat_id = ?", [chat_id]) if chat_id is not None else ("", [])

        def count(condition: str) -> int:
            value: int = self.db.execute(
                f"SELECT count(*) FROM tickets WHERE {condition} {where}", [*bounds, *extra]
            ).fetchone()[0]
            return value

        waits = [
            row[0]
            for row in self.db.execute(
                f"""SELECT wait_seconds FROM tickets WHERE first_claimed_at >= ? AND first_claimed_at < ?
                    AND wait_seconds IS NOT NULL {where}""",
                [*bounds, *extra],
            )
        ]
        return DayStats(
            opened=count("opened_at >= ? AND opened_at < ?"),
            claimed=len(waits),
            resolved=count("resolved_at >= ? AND resolved_at < ?"),
            meetings=count(
                "opened_at >= ? AND opened_at < ? AND (kind = 'meeting' OR booking_id IS NOT NULL)"
            ),
            median_wait_seconds=float(statistics.median(waits)) if waits else None,
        )
