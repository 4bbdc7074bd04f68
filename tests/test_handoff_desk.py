"""The person's side of the handoff on its own: the HandoffDesk in front of the real booking desk.

A real BookingDesk and BookingStore, a real Handoff on SQLite, the repository's catalogs and a
fixed clock; the staff front-end is a recorder (the forum itself is tested end to end).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlite_utils import Database

from bot.booking.desks import load_desks
from bot.booking.display import format_when
from bot.booking.flow import BookingDesk
from bot.booking.hours import OfficeHours
from bot.booking.staff import RecordingStaffBoard, StaffCard, booking_card
from bot.booking.store import BookingStore
from bot.clock import FixedClock
from bot.content.library import ContentLibrary
from bot.handoff.desk import LIVE, HandoffDesk, TicketBoard
from bot.handoff.models import Ticket
from bot.handoff.service import Handoff
from bot.handoff.settings import HandoffSettings
from bot.store.db import Store, User

OPEN = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)  # Monday 10:30 in Brussels
EVENING = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)  # Monday 19:00 in Brussels: closed
STAFF_CHAT = -1001234567890
KEY = "a-test-key-of-enough-length"
WITH_GROUP = {"STAFF_CHAT_ID": str(STAFF_CHAT), "PSEUDONYM_KEY": KEY}
HOURS = "Mon-Fri 09:00-12:30,13:30-16:00"
NOBODY_CAN_WRITE = "No counsellor can write with you right now"


@dataclass
class RecordingNotifier:
    """What the desk told staff."""

    told: list[tuple[str, Any]] = field(default_factory=list)

    async def ticket_opened(self, ticket: Ticket, *, created: bool, card: StaffCard | None = None) -> None:
        self.told.append(("opened", ticket))

    async def ticket_ended_by_person(self, ticket: Ticket) -> None:
        self.told.append(("ended", ticket))

    async def card_without_ticket(self, card: StaffCard) -> None:
        self.told.append(("card", card))

    async def person_forgotten(self) -> None:
        self.told.append(("forgotten", None))


@dataclass
class Desk:
    desk: HandoffDesk
    handoff: Handoff
    bookings: BookingStore
    store: Store
    notifier: RecordingNotifier
    clock: FixedClock


def make_desk(library: ContentLibrary, env: dict[str, str], now: datetime) -> Desk:
    clock = FixedClock(now)
    store = Store(Database(memory=True), clock=clock)
    hours = OfficeHours.parse(HOURS)
    bookings = BookingStore(store, clock)
    inner = BookingDesk(library, bookings, load_desks(), hours, hold_minutes=10, board=RecordingStaffBoard(),
                        pseudonym_key=KEY, clock=clock)  # fmt: skip
    handoff = Handoff(store, HandoffSettings.from_env(env), hours, clock)
    notifier = RecordingNotifier()
    return Desk(HandoffDesk(library, handoff, inner, notifier), handoff, bookings, store, notifier, clock)


@pytest.fixture
def desk(library: ContentLibrary) -> Iterator[Desk]:
    made = make_desk(library, WITH_GROUP, OPEN)
    yield made
    made.store.close()


def person(language: str = "en", topics: tuple[str, ...] = ()) -> User:
    return User(id="tg:4001", language=language, asked_topics=topics)


def data(replies: list[Any]) -> list[str]:
    return [button.data for reply in replies for button in reply.choices]


async def test_handoff_desk_offers_talking_now_when_a_counsellor_is_on_duty(desk: Desk) -> None:
    desk.handoff.tickets.set_duty(501, "Maryam", True, STAFF_CHAT)
    replies = await desk.desk.offer(person(), "en") or []
    assert [reply.key for reply in replies] == ["handoff_offer", "talk_to_counsellor"]
    assert data(replies)[0] == LIVE and {"b:book", "b:call"} <= set(data(replies))
    assert NOBODY_CAN_WRITE not in replies[0].text


async def test_handoff_desk_when_closed_says_when_the_office_opens(library: ContentLibrary) -> None:
    made = make_desk(library, WITH_GROUP, EVENING)
    made.handoff.tickets.set_duty(501, "Maryam", True, STAFF_CHAT)  # on duty, but the office is closed
    replies = await made.desk.offer(person("fr"), "fr") or []
    tr = library.translator("fr")
    opens = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)  # Tuesday 09:00 in Brussels
    assert replies[0].key == "handoff_unavailable"
    assert replies[0].text == tr.gettext(
        "No counsellor can write with you right now. The office opens {when} (Brussels time)."
        " You can book a meeting or ask to be called back:",
        when=format_when(opens, "fr"),
    )
    assert LIVE not in data(replies) and {"b:book", "b:call"} <= set(data(replies))
    made.store.close()


@pytest.mark.parametrize("now", [OPEN, EVENING], ids=["office-hours", "closed"])
async def test_handoff_desk_without_a_staff_group_goes_straight_to_the_booking_options(
    library: ContentLibrary, now: datetime
) -> None:
    """The console and `make chat`: no live conversation exists, so none is spoken of."""
    made = make_desk(library, {}, now)
    replies = await made.desk.offer(person(), "en") or []
    inner = await made.desk.inner.offer(person(), "en") or []
    assert [reply.key for reply in replies] == ["talk_to_counsellor"]
    assert [reply.text for reply in replies] == [reply.text for reply in inner]
    assert not any(NOBODY_CAN_WRITE in reply.text or "office opens" in reply.text for reply in replies)
    assert LIVE not in data(replies)
    made.store.close()


async def test_handoff_desk_live_request_carries_the_topics_asked(desk: Desk) -> None:
    desk.handoff.tickets.set_duty(501, "Maryam", True, STAFF_CHAT)
    [waiting] = await desk.desk.button(person(topics=("costs", "how_to_apply")), LIVE, "en") or []
    assert waiting.key == "handoff_waiting"
    ticket = desk.handoff.tickets.open_ticket_of("tg:4001")
    assert ticket is not None and ticket.asked_topics == ("costs", "how_to_apply")
    assert desk.notifier.told == [("opened", ticket)]


async def test_handoff_desk_end_closes_a_live_conversation_but_not_a_meeting_ticket(desk: Desk) -> None:
    desk.handoff.booking_arrived("tg:4001", "en", 42)
    [not_open] = await desk.desk.command(person(), "end", "en") or []
    assert not_open.key == "handoff_not_open"
    meeting = desk.handoff.tickets.open_ticket_of("tg:4001")
    assert meeting is not None and meeting.state == "waiting"  # still with staff
    desk.handoff.tickets.set_duty(501, "Maryam", True, STAFF_CHAT)
    await desk.desk.button(person(), LIVE, "en")  # the meeting ticket turns live
    [ended] = await desk.desk.command(person(), "end", "en") or []
    assert ended.key == "handoff_ended"
    assert desk.handoff.tickets.open_ticket_of("tg:4001") is None
    assert [what for what, _ in desk.notifier.told] == ["opened", "ended"]


async def test_ticket_board_gives_a_booking_ticket_the_topics_of_the_conversation(desk: Desk) -> None:
    desk.store.save_user(person("fa", ("travel_documents", "costs")))
    slot = desk.bookings.add_slot(OPEN + timedelta(days=2), 30, "phone", ("fa",))
    booking = desk.bookings.book("tg:4001", slot.id, "fa", phone="+32470123456", topics=("documents",))
    board = TicketBoard(desk.handoff, desk.bookings, desk.notifier)
    await board.post(booking_card("new", booking, KEY))
    ticket = desk.handoff.tickets.open_ticket_of("tg:4001")
    assert ticket is not None and ticket.kind == "meeting"
    assert ticket.asked_topics == ("travel_documents", "costs")
    desk.clock.advance(timedelta(hours=3))  # a later conversation: those topics are not its own
    assert desk.handoff.asked_topics("tg:4001") == ()
