"""The .ics file: Brussels time with its VTIMEZONE, a stable UID, a growing SEQUENCE, no personal data."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Component

from bot.booking.calendar import ics_filename, meeting_ics
from bot.booking.desks import Desk
from bot.booking.models import Booking, Slot

CREATED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def booking(mode: str = "desk", *, starts_at: datetime | None = None, sequence: int = 0) -> Booking:
    """A booking of a 45-minute slot."""
    slot = Slot(7, starts_at or datetime(2026, 12, 10, 13, 0, tzinfo=UTC), 45, mode,  # type: ignore[arg-type]
                "brussels" if mode == "desk" else None, ("fa", "en"), 1)  # fmt: skip
    phone = "+32470123456" if mode == "phone" else None
    return Booking(3, "user-1", slot, "fa", None, phone, ("documents",), "my private note", "booked",
                   sequence, "b-5f1c2a", CREATED, CREATED)  # fmt: skip


DESK = Desk("brussels", "Return desk Brussels", "Rue Example 1, 1000 Brussels", None, None)


def event_of(data: bytes) -> tuple[Calendar, Component]:
    calendar = Calendar.from_ical(data)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return calendar, events[0]


def test_meeting_ics_is_in_brussels_time_with_a_vtimezone() -> None:
    calendar, event = event_of(
        meeting_ics(booking(), DESK, "Meeting", "Bring your papers", "Return counselling")
    )
    start = event.decoded("dtstart")
    assert start == datetime(2026, 12, 10, 14, 0, tzinfo=ZoneInfo("Europe/Brussels"))
    assert event["dtstart"].params["TZID"] == "Europe/Brussels"
    assert event.decoded("dtend") - start == (datetime(2026, 12, 10, 13, 45, tzinfo=UTC)
                                              - datetime(2026, 12, 10, 13, 0, tzinfo=UTC))  # fmt: skip
    timezones = calendar.walk("VTIMEZONE")
    assert [str(zone["tzid"]) for zone in timezones] == ["Europe/Brussels"]
    assert str(calendar["method"]) == "PUBLISH"


def test_meeting_ics_in_summer_time_keeps_the_wall_clock() -> None:
    summer = booking(starts_at=datetime(2027, 6, 1, 12, 0, tzinfo=UTC))
    _, event = event_of(meeting_ics(summer, DESK, "Meeting", "", "Return counselling"))
    assert event.decoded("dtstart").astimezone(ZoneInfo("Europe/Brussels")).hour == 14
    assert event.decoded("dtstart").astimezone(UTC) == datetime(2027, 6, 1, 12, 0, tzinfo=UTC)


def test_meeting_ics_uid_is_stable_and_sequence_grows() -> None:
    first = booking(sequence=0)
    moved = replace(first, slot=replace(first.slot, starts_at=datetime(2026, 12, 11, 9, 0, tzinfo=UTC)),
                    sequence=1)  # fmt: skip
    _, before = event_of(meeting_ics(first, DESK, "Meeting", "", "Return counselling"))
    _, after = event_of(meeting_ics(moved, DESK, "Meeting", "", "Return counselling"))
    assert str(before["uid"]) == str(after["uid"]) == "b-5f1c2a@return-assistant.invalid"
    assert (before.decoded("sequence"), after.decoded("sequence")) == (0, 1)


def test_meeting_ics_location_is_the_desk_address() -> None:
    _, event = event_of(meeting_ics(booking(), DESK, "Meeting", "", "Return counselling"))
    assert str(event["location"]) == "Return desk Brussels, Rue Example 1, 1000 Brussels"
    _, phone = event_of(meeting_ics(booking("phone"), None, "Phone call", "", "Return counselling"))
    assert "location" not in phone


def test_meeting_ics_holds_no_phone_number_note_or_user_id() -> None:
    data = meeting_ics(booking("phone"), None, "Phone call", "We call you", "Return counselling")
    text = data.decode()
    for private in ("+32470123456", "470123456", "my private note", "user-1", "documents"):
        assert private not in text


def test_meeting_ics_text_in_farsi_round_trips() -> None:
    data = meeting_ics(booking(), DESK, "دیدار با مشاور", "مدارک خود را بیاورید", "Return counselling")
    _, event = event_of(data)
    assert str(event["summary"]) == "دیدار با مشاور"
    assert str(event["description"]) == "مدارک خود را بیاورید"


def test_meeting_ics_for_a_cancelled_booking_cancels_the_same_event() -> None:
    cancelled = replace(booking(sequence=2), status="cancelled")
    calendar, event = event_of(meeting_ics(cancelled, DESK, "Meeting", "", "Return counselling"))
    assert str(calendar["method"]) == "CANCEL"
    assert str(event["status"]) == "CANCELLED"
    assert event.decoded("sequence") == 2


def test_ics_filename_names_the_brussels_time() -> None:
    assert ics_filename(booking()) == "meeting-20261210-1400.ics"
