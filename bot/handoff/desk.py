"""The person's side of the handoff: "talk to someone now", the queue, leaving, and bookings as tickets.

`HandoffDesk` is the dialogue's counsellor desk (`bot.dialogue.desk.CounsellorDesk`). It
wraps the booking desk: "talk to a counsellor" offers a live conversation when a counsellor
can answer now (office hours, someone on duty), and the booking desk's meeting and call-back
always; when nobody can answer now, it says when the office opens. Its buttons are "h:…".

`TicketBoard` is the booking desk's staff board when a staff forum is set up: a booking or a
call-back becomes a ticket (or attaches to the person's open one) and is shown in the
person's topic. Both tell staff through a `StaffNotifier` (the Telegram forum front-end);
nothing here imports telegram.
"""

from __future__ import annotations

import logging
from typing import Final, Protocol

from bot.booking.display import format_when
from bot.booking.staff import StaffCard
from bot.booking.store import BookingStore
from bot.content.library import ContentLibrary, Translator
from bot.dialogue.desk import AfterForget, CounsellorDesk
from bot.dialogue.replies import MENU, Button, Reply
from bot.handoff.models import QueuePlace, Ticket
from bot.handoff.service import Handoff, LiveRequest
from bot.store.db import User

logger = logging.getLogger(__name__)

PREFIX: Final = "h:"
LIVE: Final = "h:live"
END: Final = "h:end"


class StaffNotifier(Protocol):
    """What the staff front-end does when the person side changes a ticket."""

    async def ticket_opened(self, ticket: Ticket, *, created: bool, card: StaffCard | None = None) -> None:
        """Show a new ticket (or a booking attached to an open one) in the person's topic."""
        ...

    async def ticket_ended_by_person(self, ticket: Ticket) -> None:
        """The person left the conversation (/end): tell staff, close the topic."""
        ...

    async def card_without_ticket(self, card: StaffCard) -> None:
        """A booking card that opens no ticket (cancelled, forgotten): show it to staff."""
        ...

    async def person_forgotten(self) -> None:
        """A person deleted their data: delete their topics, tell staff only the ticket numbers."""
        ...


class NullNotifier:
    """No staff forum: nobody to tell (the command line still lists every ticket)."""

    async def ticket_opened(self, ticket: Ticket, *, created: bool, card: StaffCard | None = None) -> None:
        """Do nothing."""

    async def ticket_ended_by_person(self, ticket: Ticket) -> None:
        """Do nothing."""

    async def card_without_ticket(self, card: StaffCard) -> None:
        """Do nothing."""

    async def person_forgotten(self) -> None:
        """Do nothing."""


def _minutes(seconds: float) -> int:
    return max(1, round(seconds / 60))


class HandoffDesk:
    """The counsellor desk with live conversations in front of the booking desk."""

    def __init__(
        self,
        library: ContentLibrary,
        handoff: Handoff,
        inner: CounsellorDesk,
        notifier: StaffNotifier | None = None,
    ) -> None:
        self.library = library
        self.handoff = handoff
        self.inner = inner
        self.notifier: StaffNotifier = notifier if notifier is not None else NullNotifier()

    # -- the CounsellorDesk protocol -------------------------------------------------------

    async def offer(self, user: User, language: str) -> list[Reply] | None:
        """Offer to talk now when a counsellor can answer, with the booking desk's options."""
        ticket = self.handoff.tickets.open_ticket_of(user.id)
        if ticket is not None and ticket.relays_person:
            place = self.handoff.queue.place(ticket)
            request = LiveRequest(self.handoff.availability.check(language), ticket, False, place)
            return [self._waiting_reply(request, language)]
        inner = await self.inner.offer(user, language) or []
        availability = self.handoff.availability.check(language)
        tr = self._tr(language)
        if availability.live:
            text = tr.gettext("A counsellor can write with you here now.")
            now = Reply(text, ((Button(tr.gettext("Talk to someone now"), LIVE),),), key="handoff_offer")
            return [now, *inner]
        if availability.why == "no_staff_group":
            return inner or None
        if availability.why == "closed" and availability.opens_at is not None:
            text = tr.gettext(
                "No counsellor can write with you right now. The office opens {when} (Brussels time)."
                " You can book a meeting or ask to be called back:",
                when=format_when(availability.opens_at, language),
            )
        else:
            text = tr.gettext(
                "No counsellor can write with you right now. You can book a meeting or ask to be called back:"
            )
        return [Reply(text, key="handoff_unavailable"), *inner]

    async def intercept(self, user: User, text: str) -> list[Reply] | None:
        """While a counsellor has the conversation, the assistant stays silent; else the booking desk."""
        ticket = self.handoff.tickets.open_ticket_of(user.id)
        if ticket is not None and ticket.relays_person:
            return []  # the front-end relays the message to staff before the dialogue sees it
        return await self.inner.intercept(user, text)

    async def button(self, user: User, data: str, language: str) -> list[Reply] | None:
        """ "Talk to someone now" and "End the conversation"; other buttons go to the booking desk."""
        if data == LIVE:
            return await self._ask_now(user, language)
        if data == END:
            return await self.end(user, language)
        return await self.inner.button(user, data, language)

    async def command(self, user: User, name: str, language: str) -> list[Reply] | None:
        """`/end` leaves a conversation with a counsellor; other commands go to the booking desk."""
        if name == "end":
            return await self.end(user, language)
        return await self.inner.command(user, name, language)

    async def contact(self, user: User, phone_number: str, language: str) -> list[Reply] | None:
        """A shared phone number is the booking desk's."""
        return await self.inner.contact(user, phone_number, language)

    def forget(self, user_id: str, language: str) -> AfterForget:
        """Stop relaying at once (inside the deletion's transaction); afterwards, clear the staff topics.

        The handoff store's forget hook deletes the person's tickets, pairs and topics in the
        same transaction and queues their topics for deletion in Telegram.
        """
        self.handoff.tickets.prepare_forget(user_id)
        inner_after = self.inner.forget(user_id, language)

        async def after() -> None:
            await inner_after()
            await self.notifier.person_forgotten()

        return after

    # -- steps -------------------------------------------------------------------------------

    async def _ask_now(self, user: User, language: str) -> list[Reply]:
        before = self.handoff.tickets.open_ticket_of(user.id)
        request = self.handoff.ask_for_person(user.id, language, user.asked_topics)
        if request.ticket is None:  # the last counsellor went off duty, or the office closed
            return await self.offer(user, language) or []
        if before is None or not before.relays_person:  # new, or a meeting/call-back ticket turned live
            await self.notifier.ticket_opened(request.ticket, created=request.created)
        return [self._waiting_reply(request, language)]

    async def end(self, user: User, language: str) -> list[Reply]:
        """The person leaves: close their ticket, tell staff, and say the assistant answers again.

        Only a conversation with a counsellor ends here: a meeting or call-back ticket nobody
        has taken up yet stays with staff (the booking's own buttons cancel a meeting).
        """
        current = self.handoff.tickets.open_ticket_of(user.id)
        ticket = None
        if current is not None and current.relays_person:
            ticket = self.handoff.tickets.end_by_person(user.id)
        tr = self._tr(language)
        if ticket is None:
            text = tr.gettext("You are not talking with a counsellor at the moment.")
            return [Reply(text, ((Button(tr.gettext("Menu"), MENU),),), key="handoff_not_open")]
        await self.notifier.ticket_ended_by_person(ticket)
        return [ended_reply(tr)]

    # -- replies -----------------------------------------------------------------------------

    def _waiting_reply(self, request: LiveRequest, language: str) -> Reply:
        tr = self._tr(language)
        ticket = request.ticket
        assert ticket is not None
        end = ((Button(tr.gettext("End the conversation"), END),),)
        if ticket.state == "claimed":
            text = tr.gettext("A counsellor is with you. Write your message here.")
            return Reply(text, end, key="handoff_claimed")
        lines = [
            tr.gettext("You are waiting for a counsellor. Write your messages here: they will read them.")
        ]
        lines.extend(place_lines(tr, request.place))
        return Reply("\n".join(lines), end, key="handoff_waiting")

    def _tr(self, language: str) -> Translator:
        return self.library.translator(language)


def place_lines(tr: Translator, place: QueuePlace | None) -> list[str]:
    """Where the person waits, and the median wait only when the queue's history backs one."""
    if place is None:
        return []
    lines = [tr.gettext("Your place in the queue: {position}.", position=place.position)]
    if place.median_wait_seconds is not None:
        lines.append(
            tr.gettext(
                "Recently, people waited about {minutes} minutes.",
                minutes=_minutes(place.median_wait_seconds),
            )
        )
    return lines


def ended_reply(tr: Translator) -> Reply:
    """Told to the person, in their language, when a conversation with a counsellor ends."""
    text = tr.gettext("The conversation with the counsellor has ended. I answer your questions again.")
    return Reply(text, ((Button(tr.gettext("Menu"), MENU),),), key="handoff_ended")


class TicketBoard:
    """The booking desk's staff board with a forum: bookings and call-backs become tickets in their topic."""

    def __init__(self, handoff: Handoff, bookings: BookingStore, notifier: StaffNotifier) -> None:
        self.handoff = handoff
        self.bookings = bookings
        self.notifier = notifier

    async def post(self, card: StaffCard) -> None:
        """Open or attach the ticket of a new or moved booking or a call-back; show other cards as is."""
        opened: tuple[Ticket, bool] | None = None
        if card.kind in ("new", "changed") and card.booking_id is not None:
            booking = self.bookings.booking(card.booking_id)
            topics = self.handoff.asked_topics(booking.user_id)
            opened = self.handoff.booking_arrived(booking.user_id, booking.language, booking.id, topics)
        elif card.kind == "callback" and card.callback_id is not None:
            callback = self.bookings.callback(card.callback_id)
            topics = self.handoff.asked_topics(callback.user_id)
            opened = self.handoff.callback_arrived(callback.user_id, callback.language, callback.id, topics)
        if opened is None:
            await self.notifier.card_without_ticket(card)
            return
        ticket, created = opened
        await self.notifier.ticket_opened(ticket, created=created, card=card)
