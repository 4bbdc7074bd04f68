"""The queue as people and staff see it: place, honest median wait, one mention, the day, availability."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlite_utils import Database

from bot.booking.hours import OfficeHours
from bot.clock import FixedClock
from bot.handoff.availability import LiveAvailability
from bot.handoff.models import Actor
from bot.handoff.queue import HandoffQueue
from bot.handoff.settings import StaffRouting
from bot.handoff.store import HandoffStore
from bot.store.db import Store

START = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)  # Monday 10:30 in Brussels
STAFF_CHAT = -1001234567890
MARYAM = Actor(501, "Maryam")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def handoff(store: Store, clock: FixedClock) -> HandoffStore:
    return HandoffStore(
        store, clock, routing=StaffRouting(STAFF_CHAT), reference=lambda user_id: f"R{user_id}"
    )


@pytest.fixture
def queue(handoff: HandoffStore) -> HandoffQueue:
    return HandoffQueue(handoff)


def _claimed_after(handoff: HandoffStore, clock: FixedClock, user_id: str, minutes: int) -> None:
    ticket, _ = handoff.open_ticket(user_id, "live", "fa")
    clock.advance(timedelta(minutes=minutes))
    handoff.claim(ticket.id, MARYAM)
    handoff.resolve(ticket.id, MARYAM)


def test_queue_place_counts_the_live_tickets_waiting_ahead(
    handoff: HandoffStore, queue: HandoffQueue, clock: FixedClock
) -> None:
    first, _ = handoff.open_ticket("1", "live", "fa")
    clock.advance(timedelta(minutes=1))
    handoff.open_ticket("2", "meeting", "fa", booking_id=9)  # a booking does not queue for a live chat
    second, _ = handoff.open_ticket("3", "live", "fr")
    third, _ = handoff.open_ticket("4", "live", "nl")  # same second as the second: order by number
    assert [queue.place(t).position for t in (first, second, third)] == [1, 2, 3]  # type: ignore[union-attr]
    handoff.claim(first.id, MARYAM)
    assert queue.place(handoff.ticket(first.id)) is None
    assert queue.place(handoff.ticket(third.id)).position == 2  # type: ignore[union-attr]


def test_median_wait_is_none_until_five_recent_tickets_were_claimed(
    handoff: HandoffStore, queue: HandoffQueue, clock: FixedClock
) -> None:
    for n, minutes in enumerate([2, 4, 6, 8]):
        _claimed_after(handoff, clock, f"u{n}", minutes)
    waiting, _ = handoff.open_ticket("w", "live", "fa")
    place = queue.place(waiting)
    assert place is not None and place.median_wait_seconds is None
    handoff.end_by_person("w")
    _claimed_after(handoff, clock, "u5", 20)
    assert queue.median_wait(STAFF_CHAT) == 6 * 60.0


def test_median_wait_forgets_tickets_older_than_two_weeks(
    handoff: HandoffStore, queue: HandoffQueue, clock: FixedClock
) -> None:
    for n in range(5):
        _claimed_after(handoff, clock, f"u{n}", 3)
    assert queue.median_wait(STAFF_CHAT) == 180.0
    clock.advance(timedelta(days=14, minutes=1))
    assert queue.median_wait(STAFF_CHAT) is None


def test_median_wait_leaves_out_meetings_and_call_backs(
    handoff: HandoffStore, queue: HandoffQueue, clock: FixedClock
) -> None:
    for n in range(5):
        ticket, _ = handoff.open_ticket(f"u{n}", "callback", "fa", callback_id=n)
        clock.advance(timedelta(hours=3))
        handoff.claim(ticket.id, MARYAM)
    assert queue.median_wait(STAFF_CHAT) is None


def test_a_long_wait_is_mentioned_once(handoff: HandoffStore, queue: HandoffQueue, clock: FixedClock) -> None:
    ticket, _ = handoff.open_ticket("1", "live", "fa")
    handoff.open_ticket("2", "callback", "fa", callback_id=1)
    clock.advance(timedelta(minutes=9, seconds=59))
    assert queue.waiting_longer_than(10) == []
    clock.advance(timedelta(seconds=1))
    assert [t.id for t in queue.waiting_longer_than(10)] == [ticket.id]
    assert queue.mark_mentioned(ticket.id)
    assert not queue.mark_mentioned(ticket.id)  # a second run of the job does not mention it again
    assert queue.waiting_longer_than(10) == []


def test_a_released_ticket_can_be_mentioned_again_after_a_new_long_wait(
    handoff: HandoffStore, queue: HandoffQueue, clock: FixedClock
) -> None:
    ticket, _ = handoff.open_ticket("1", "live", "fa")
    clock.advance(timedelta(minutes=10))
    assert queue.mark_mentioned(ticket.id)
    handoff.claim(ticket.id, MARYAM)
    handoff.release(ticket.id, MARYAM)
    assert queue.waiting_longer_than(10) == []
    clock.advance(timedelta(minutes=10))
    assert [t.id for t in queue.waiting_longer_than(10)] == [ticket.id]


def test_stats_count_one_brussels_day(handoff: HandoffStore, queue: HandoffQueue, clock: FixedClock) -> None:
    clock.set(datetime(2026, 12, 6, 22, 30, tzinfo=UTC))  # Sunday 23:30 in Brussels: the day before
    handoff.open_ticket("0", "live", "fa")
    clock.set(START)
    one, _ = handoff.open_ticket("1", "live", "fa")
    handoff.open_ticket("2", "meeting", "fr", booking_id=4)
    clock.advance(timedelta(minutes=4))
    handoff.claim(one.id, MARYAM)
    clock.advance(timedelta(minutes=30))
    handoff.resolve(one.id, MARYAM)
    today = queue.stats(date(2026, 12, 7))
    assert (today.opened, today.claimed, today.resolved, today.meetings) == (2, 1, 1, 1)
    assert today.median_wait_seconds == 240.0
    yesterday = queue.stats(date(2026, 12, 6))
    assert (yesterday.opened, yesterday.median_wait_seconds) == (1, None)


def test_open_tickets_are_listed_oldest_first(
    handoff: HandoffStore, queue: HandoffQueue, clock: FixedClock
) -> None:
    first, _ = handoff.open_ticket("1", "live", "fa")
    clock.advance(timedelta(minutes=1))
    second, _ = handoff.open_ticket("2", "callback", "fa", callback_id=1)
    handoff.claim(first.id, MARYAM)
    assert [t.id for t in queue.open_tickets()] == [first.id, second.id]


# -- availability ------------------------------------------------------------------------------

HOURS = OfficeHours.parse("Mon-Fri 09:00-12:30,13:30-16:00")


def test_live_conversation_is_offered_in_office_hours_with_someone_on_duty(
    handoff: HandoffStore, clock: FixedClock
) -> None:
    availability = LiveAvailability(HOURS, handoff)
    assert availability.check("fa").why == "nobody_on_duty"
    handoff.set_duty(501, "Maryam", True, STAFF_CHAT)
    assert availability.check("fa").live


def test_outside_office_hours_availability_says_when_the_office_opens(
    handoff: HandoffStore, clock: FixedClock
) -> None:
    handoff.set_duty(501, "Maryam", True, STAFF_CHAT)
    clock.set(datetime(2026, 12, 7, 11, 45, tzinfo=UTC))  # 12:45 in Brussels: lunch
    answer = LiveAvailability(HOURS, handoff).check("fa")
    assert (answer.live, answer.why) == (False, "closed")
    assert answer.opens_at == datetime(2026, 12, 7, 12, 30, tzinfo=UTC)  # 13:30 in Brussels


def test_duty_in_another_group_does_not_make_a_language_available(clock: FixedClock) -> None:
    farsi_group = -1009999999999
    store = Store(Database(memory=True), clock=clock)
    handoff = HandoffStore(store, clock, routing=StaffRouting(STAFF_CHAT, {"fa": farsi_group}))
    handoff.set_duty(501, "Maryam", True, STAFF_CHAT)
    availability = LiveAvailability(HOURS, handoff)
    assert availability.check("fr").live
    assert availability.check("fa").why == "nobody_on_duty"
    store.close()


def test_without_a_staff_group_no_live_conversation_is_offered(clock: FixedClock) -> None:
    store = Store(Database(memory=True), clock=clock)
    answer = LiveAvailability(HOURS, HandoffStore(store, clock)).check("fa")
    assert (answer.live, answer.why) == (False, "no_staff_group")
    store.close()
