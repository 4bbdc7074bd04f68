"""The calendar file (.ics) sent with a booking confirmation, built with `icalendar`.

One VEVENT in Europe/Brussels (with its VTIMEZONE), a UID that stays the same for the life
of the booking and a SEQUENCE that grows when it changes, so that a calendar app updates
the meeting instead of adding a second one. It holds only what the person needs: when,
how, where, and the text they were shown; never their phone number or note.
"""

from __future__ import annotations

from datetime import date, datetime

from icalendar import Calendar, Event, vCalAddress, vText

from bot.booking.desks import Desk
from bot.booking.models import Booking
from bot.clock import BRUSSELS

PRODUCT_ID = "-//Return assistant//Counsellor meetings//EN"
UID_DOMAIN = "return-assistant.invalid"


def meeting_ics(
    booking: Booking,
    desk: Desk | None,
    summary: str,
    description: str,
    organizer_name: str,
    *,
    location: str | None = None,
    stamp: datetime | None = None,
) -> bytes:
    """Return the .ics file of `booking` (cancelled bookings give a CANCEL for the same UID).

    `location` overrides the desk's (e.g. its translated name and address); `stamp` is the
    DTSTAMP (defaults to when the booking last changed, so that the file is reproducible).
    """
    cancelled = booking.status == "cancelled"
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "CANCEL" if cancelled else "PUBLISH")

    event = Event()
    event.add("uid", booking.uid if "@" in booking.uid else f"{booking.uid}@{UID_DOMAIN}")
    event.add("sequence", booking.sequence)
    event.add("dtstamp", stamp or booking.updated_at)
    event.add("dtstart", booking.slot.starts_at.astimezone(BRUSSELS))
    event.add("dtend", booking.slot.ends_at.astimezone(BRUSSELS))
    event.add("summary", summary)
    event.add("description", description)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    place = location if location is not None else _desk_location(desk)
    if place:
        event.add("location", place)
    organizer = vCalAddress(f"mailto:noreply@{UID_DOMAIN}")
    organizer.params["cn"] = vText(organizer_name)
    event.add("organizer", organizer)
    calendar.add_component(event)
    # VTIMEZONE for every TZID used, built from the zoneinfo data, around the meeting's year only.
    year = booking.slot.starts_at.year
    calendar.add_missing_timezones(first_date=date(year - 1, 1, 1), last_date=date(year + 2, 1, 1))
    data: bytes = calendar.to_ical()
    return data


def _desk_location(desk: Desk | None) -> str | None:
    if desk is None:
        return None
    return f"{desk.name}, {desk.address}" if desk.address else desk.name


def ics_filename(booking: Booking) -> str:
    """Return the attachment's file name."""
    return f"meeting-{booking.slot.starts_at.astimezone(BRUSSELS):%Y%m%d-%H%M}.ics"
