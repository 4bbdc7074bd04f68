"""The handoff wired in one place: what the dialogue and the staff front-end call.

    handoff = Handoff(store, settings, office_hours)            # once, at start-up
    request = handoff.ask_for_person(user_id, "fa", ["how_to_apply"])
    if request.ticket is None: offer a meeting or a call-back, with request.availability.opens_at
    else: tell the person request.place (position, median wait or None)

Everything it returns is plain data; it never imports telegram.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.booking.hours import OfficeHours
from bot.clock import Clock, SystemClock
from bot.handoff.availability import Availability, LiveAvailability
from bot.handoff.models import PersonTopic, QueuePlace, RetentionCounts, Ticket
from bot.handoff.queue import HandoffQueue
from bot.handoff.settings import HandoffSettings
from bot.handoff.staff import IsMember, StaffDirectory
from bot.handoff.store import HandoffStore
from bot.store.db import Store


@dataclass(frozen=True, slots=True)
class LiveRequest:
    """The answer to a person asking to talk to someone now."""

    availability: Availability
    ticket: Ticket | None
    """Their open ticket (new or existing); None when no live conversation can be offered."""
    created: bool = False
    place: QueuePlace | None = None
    """Where they wait (None once a counsellor holds the ticket)."""


@dataclass(frozen=True, slots=True)
class Housekeeping:
    """What one retention run did, and the topics the front-end must delete in Telegram."""

    counts: RetentionCounts
    stale_topics: tuple[PersonTopic, ...]


class Handoff:
    """Tickets, the queue, live availability and (with `is_member`) the staff directory, on one store."""

    def __init__(
        self,
        store: Store,
        settings: HandoffSettings,
        office_hours: OfficeHours,
        clock: Clock | None = None,
        *,
        is_member: IsMember | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.tickets = HandoffStore(
            store, self.clock, routing=settings.routing, reference=settings.reference_maker()
        )
        self.queue = HandoffQueue(self.tickets)
        self.availability = LiveAvailability(office_hours, self.tickets)
        self.staff: StaffDirectory | None = (
            None
            if is_member is None
            else StaffDirectory(is_member, self.tickets, allowed_ids=settings.staff_user_ids)
        )

    def ask_for_person(self, user_id: str, language: str, asked_topics: Sequence[str] = ()) -> LiveRequest:
        """Open (or find) the person's live ticket when a counsellor can answer now; else say why not."""
        current = self.tickets.open_ticket_of(user_id)
        if current is not None and current.relays_person:
            return LiveRequest(self.availability.check(language), current, False, self.queue.place(current))
        availability = self.availability.check(language)
        if not availability.live:
            return LiveRequest(availability, None)
        ticket, created = self.tickets.open_ticket(user_id, "live", language, asked_topics)
        return LiveRequest(availability, ticket, created, self.queue.place(ticket))

    def booking_arrived(
        self, user_id: str, language: str, booking_id: int, asked_topics: Sequence[str] = ()
    ) -> tuple[Ticket, bool] | None:
        """Turn a new booking into a meeting ticket, or attach it to the person's open ticket.

        None without a staff group: staff then work from `bot bookings` alone.
        """
        if not self.settings.routing.enabled:
            return None
        return self.tickets.open_ticket(user_id, "meeting", language, asked_topics, booking_id=booking_id)

    def callback_arrived(
        self, user_id: str, language: str, callback_id: int, asked_topics: Sequence[str] = ()
    ) -> tuple[Ticket, bool] | None:
        """Turn a call-back request into a ticket or attach it to the open one (None: no staff group)."""
        if not self.settings.routing.enabled:
            return None
        return self.tickets.open_ticket(user_id, "callback", language, asked_topics, callback_id=callback_id)

    def asked_topics(self, user_id: str) -> tuple[str, ...]:
        """Return the names of the topics the person asked about in the conversation going on."""
        user = self.store.get_user(user_id)
        return () if user is None else user.topics_now(self.clock.now())

    def overdue(self) -> list[Ticket]:
        """Return waiting live tickets to mention once in the General topic (each already marked)."""
        due = self.queue.waiting_longer_than(self.settings.wait_mention_minutes)
        return [ticket for ticket in due if self.queue.mark_mentioned(ticket.id)]

    def housekeeping(self) -> Housekeeping:
        """Delete resolved tickets past retention; list the topics the front-end deletes."""
        counts = self.tickets.purge(self.settings.retention_days, self.settings.audit_retention_days)
        return Housekeeping(counts, tuple(self.tickets.stale_topics(self.settings.retention_days)))
