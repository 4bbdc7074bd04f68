"""Office hours: parsing, opening times across daylight-saving changes, honest call-back windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.booking.hours import OfficeHours, OfficeHoursError
from bot.clock import BRUSSELS

WEEKDAYS = "Mon-Fri 09:00-12:30,13:30-16:00"


def brussels(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A Brussels wall-clock time, as an aware datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=BRUSSELS)


def test_hours_parse_reads_days_and_intervals() -> None:
    hours = OfficeHours.parse("Mon-Thu 09:00-16:00; Fri 09:00-12:00")
    assert hours.week[0] == ((540, 960),)
    assert hours.week[4] == ((540, 720),)
    assert hours.week[5] == () and hours.week[6] == ()


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("", "empty"),
        ("Mon-Fri", "no opening times"),
        ("Mon-Fry 09:00-12:00", "days must be like"),
        ("Fri-Mon 09:00-12:00", "runs forward"),
        ("Mon 9h-12h", "not a time of day"),
        ("Mon 12:00-09:00", "ends before it starts"),
        ("Mon 09:00-25:00", "not a time of day"),
        ("Mon 09:00", "not a time range"),
        ("Mon-Fri 09:00-12:00; Wed 11:00-13:00", "Wed: opening times overlap"),
    ],
)
def test_hours_parse_refuses_bad_text_with_a_clear_message(spec: str, fragment: str) -> None:
    with pytest.raises(OfficeHoursError, match=fragment):
        OfficeHours.parse(spec)


def test_hours_is_open_in_brussels_time() -> None:
    hours = OfficeHours.parse(WEEKDAYS)
    assert hours.is_open(brussels(2026, 12, 10, 9, 0))
    assert not hours.is_open(brussels(2026, 12, 10, 8, 59))
    assert not hours.is_open(brussels(2026, 12, 10, 12, 30))  # lunch
    assert not hours.is_open(brussels(2026, 12, 12, 10, 0))  # Saturday
    # 08:30 UTC is 09:30 in Brussels in winter.
    assert hours.is_open(datetime(2026, 12, 10, 8, 30, tzinfo=UTC))


def test_hours_always_open() -> None:
    hours = OfficeHours.parse("Mon-Sun 00:00-24:00")
    assert hours.is_open(brussels(2026, 12, 13, 23, 59))
    assert hours.is_open(brussels(2026, 12, 14, 0, 0))


def test_hours_closed_days_are_closed() -> None:
    hours = OfficeHours.parse(WEEKDAYS, closed_days=[date(2026, 12, 25)])
    assert not hours.is_open(brussels(2026, 12, 25, 10, 0))
    assert hours.next_opening(brussels(2026, 12, 24, 16, 0)) == brussels(2026, 12, 28, 9, 0)


def test_hours_next_opening_across_the_spring_daylight_saving_change() -> None:
    hours = OfficeHours.parse(WEEKDAYS)
    # Clocks go forward on Sunday 29 March 2026: Monday 09:00 is 07:00 UTC, Friday's was 08:00.
    opening = hours.next_opening(brussels(2026, 3, 27, 16, 30))
    assert opening == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert opening.tzinfo is UTC


def test_hours_next_opening_across_the_autumn_daylight_saving_change() -> None:
    hours = OfficeHours.parse(WEEKDAYS)
    # Clocks go back on Sunday 25 October 2026: Monday 09:00 is 08:00 UTC.
    assert hours.next_opening(brussels(2026, 10, 23, 17, 0)) == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)


def test_hours_next_opening_is_now_when_open() -> None:
    hours = OfficeHours.parse(WEEKDAYS)
    now = brussels(2026, 12, 10, 10, 15)
    assert hours.next_opening(now) == now


def test_hours_next_opening_after_lunch() -> None:
    hours = OfficeHours.parse(WEEKDAYS)
    assert hours.next_opening(brussels(2026, 12, 10, 12, 45)) == brussels(2026, 12, 10, 13, 30)


def test_callback_window_later_today_when_there_is_time() -> None:
    hours = OfficeHours.parse(WEEKDAYS)
    now = brussels(2026, 12, 10, 10, 0)
    start, end = hours.callback_window(now, "afternoon")
    assert (start, end) == (brussels(2026, 12, 10, 13, 30), brussels(2026, 12, 10, 16, 0))
    # The morning window has begun: from now until the morning closes.
    assert hours.callback_window(now, "morning") == (now, brussels(2026, 12, 10, 12, 30))


def test_callback_window_never_promises_a_closing_window() -> None:
    hours = OfficeHours.parse(WEEKDAYS)
    # 15:30: half an hour left this afternoon is too little to promise a call.
    start, end = hours.callback_window(brussels(2026, 12, 10, 15, 30), "afternoon")
    assert (start, end) == (brussels(2026, 12, 11, 13, 30), brussels(2026, 12, 11, 16, 0))


def test_callback_window_skips_weekends_and_closed_days() -> None:
    hours = OfficeHours.parse(WEEKDAYS, closed_days=[date(2026, 12, 25), date(2026, 12, 28)])
    start, end = hours.callback_window(brussels(2026, 12, 24, 16, 30), "morning")
    assert (start, end) == (brussels(2026, 12, 29, 9, 0), brussels(2026, 12, 29, 12, 30))
    for moment in (start, end - timedelta(minutes=1)):
        assert hours.is_open(moment)


def test_callback_window_splits_a_long_opening_at_noon() -> None:
    hours = OfficeHours.parse("Mon-Fri 09:00-16:00")
    day = brussels(2026, 12, 10, 7, 0)
    assert hours.callback_window(day, "morning") == (
        brussels(2026, 12, 10, 9, 0),
        brussels(2026, 12, 10, 12, 0),
    )
    assert hours.callback_window(day, "afternoon") == (
        brussels(2026, 12, 10, 12, 0),
        brussels(2026, 12, 10, 16, 0),
    )


def test_callback_window_with_no_afternoon_opening_says_so() -> None:
    hours = OfficeHours.parse("Mon-Fri 09:00-11:00")
    with pytest.raises(OfficeHoursError, match="no afternoon opening"):
        hours.callback_window(brussels(2026, 12, 10, 7, 0), "afternoon")


def test_callback_window_across_daylight_saving() -> None:
    hours = OfficeHours.parse(WEEKDAYS)
    start, end = hours.callback_window(brussels(2026, 3, 27, 15, 30), "morning")
    assert start == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 30, 10, 30, tzinfo=UTC)
