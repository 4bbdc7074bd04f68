"""The handoff wired together: asking for a person, bookings as tickets, the mention job, housekeeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlite_utils import Database

from bot.booking.hours import OfficeHours
from bot.clock import FixedClock
from bot.handoff.service import Handoff
from bot.handoff.settings import HandoffSettings
from bot.store.db import Store

START = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)  # Monday 10:30 in Brussels
ENV = {"STAFF_CHAT_ID": "-1001234567890", "PSEUDONYM_KEY": "a-test-key-of-enough-length"}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def handoff(store: Store, clock: FixedClock) -> Handoff:
    hours = OfficeHours.parse("Mon-Fri 09:00-16:00")
    return Handoff(store, HandoffSettings.from_env(ENV), hours, clock)


def test_asking_for_a_person_with_nobody_on_duty_opens_no_ticket(handoff: Handoff) -> None:
    request = handoff.ask_for_person("1001", "fa", ["how_to_apply"])
    assert request.ticket is None and request.availability.why == "nobody_on_duty"
    assert handoff.tickets.open_ticket_of("1001") is None


def test_asking_for_a_person_on_duty_opens_a_live_ticket_once(handoff: Handoff) -> None:
    handoff.tickets.set_duty(501, "Maryam", True, -1001234567890)
    first = handoff.ask_for_person("1001", "fa", ["how_to_apply"])
    assert first.ticket is not None and first.created
    assert first.place is not None and (first.place.position, first.place.median_wait_seconds) == (1, None)
    again = handoff.ask_for_person("1001", "fa")
    assert again.ticket == first.ticket and not again.created


def test_a_booking_then_a_call_back_share_the_persons_ticket(handoff: Handoff) -> None:
    arrived = handoff.booking_arrived("1001", "fa", 42, ["family"])
    assert arrived is not None
    meeting, created = arrived
    assert created and meeting.kind == "meeting"
    attached = handoff.callback_arrived("1001", "fa", 7)
    assert attached is not None
    callback, created = attached
    assert not created and (callback.id, callback.booking_id, callback.callback_id) == (meeting.id, 42, 7)


def test_the_mention_job_returns_each_long_wait_once(handoff: Handoff, clock: FixedClock) -> None:
    handoff.tickets.set_duty(501, "Maryam", True, -1001234567890)
    request = handoff.ask_for_person("1001", "fa")
    clock.advance(timedelta(minutes=10))
    assert [t.id for t in handoff.overdue()] == [request.ticket.id]  # type: ignore[union-attr]
    assert handoff.overdue() == []


def test_housekeeping_uses_the_retention_setting(handoff: Handoff, clock: FixedClock) -> None:
    arrived = handoff.callback_arrived("1001", "fa", 7)
    assert arrived is not None
    ticket, _ = arrived
    handoff.tickets.save_topic("1001", -1001234567890, 77, ticket.reference)
    handoff.tickets.end_by_person("1001")
    clock.advance(timedelta(days=31))
    done = handoff.housekeeping()
    assert done.counts.tickets == 1
    assert [topic.thread_id for topic in done.stale_topics] == [77]


def test_without_a_staff_group_bookings_open_no_ticket(clock: FixedClock) -> None:
    store = Store(Database(memory=True), clock=clock)
    handoff = Handoff(store, HandoffSettings.from_env({}), OfficeHours.parse("Mon-Sun 00:00-24:00"), clock)
    assert handoff.booking_arrived("1001", "fa", 42) is None
    assert handoff.callback_arrived("1001", "fa", 7) is None
    assert handoff.ask_for_person("1001", "fa").availability.why == "no_staff_group"
    assert handoff.tickets.tickets(include_resolved=True) == []
    store.close()
