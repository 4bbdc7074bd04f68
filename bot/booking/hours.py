"""Office hours in Brussels time: when the office is open, and when a call-back can honestly happen.

The format staff write (`OFFICE_HOURS`, and each desk's hours in desks.toml) is one or more
groups separated by ";", each a day or a day range and one or more time ranges:

    Mon-Fri 09:00-12:30,13:30-16:00
    Mon-Thu 09:00-16:00; Fri 09:00-12:00
    Mon-Sun 00:00-24:00                     (always open)

Times are wall-clock times in Brussels; every datetime going in or out is aware (UTC out).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Literal

from bot.clock import BRUSSELS

PartOfDay = Literal["morning", "afternoon"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_SPEC = re.compile(r"^([a-z]{3})(?:\s*-\s*([a-z]{3}))?$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_NOON = 12 * 60
_END_OF_DAY = 24 * 60
# How far ahead to look for an opening before deciding there is none.
_HORIZON_DAYS = 400
# A call-back window must leave staff at least this long to call.
MIN_NOTICE = timedelta(hours=1)


class OfficeHoursError(ValueError):
    """The office hours text cannot be read; the message says where and how to fix it."""


@dataclass(frozen=True, slots=True)
class OfficeHours:
    """Opening intervals per weekday (minutes since midnight, Brussels time) and closed dates."""

    week: tuple[tuple[tuple[int, int], ...], ...]
    """Seven entries, Monday first: the day's (start, end) intervals in minutes, sorted."""
    closed_days: frozenset[date] = frozenset()

    @classmethod
    def parse(cls, spec: str, closed_days: Iterable[date] = ()) -> OfficeHours:
        """Read `spec` (e.g. "Mon-Fri 09:00-12:30,13:30-16:00"); raise OfficeHoursError if it is wrong."""
        week: list[list[tuple[int, int]]] = [[] for _ in DAYS]
        groups = [group.strip() for group in spec.split(";")]
        if not any(groups):
            raise OfficeHoursError("office hours are empty; write e.g. 'Mon-Fri 09:00-12:30,13:30-16:00'")
        for group in groups:
            if not group:
                continue
            days_text, _, times_text = group.partition(" ")
            days = _days(days_text, group)
            intervals = [_interval(part.strip(), group) for part in times_text.split(",") if part.strip()]
            if not intervals:
                raise OfficeHoursError(
                    f"{group!r}: no opening times after the days; write e.g. 'Mon-Fri 09:00-16:00'"
                )
            for day in days:
                week[day].extend(intervals)
        for index, intervals in enumerate(week):
            intervals.sort()
            for (_, end), (start, _) in pairwise(intervals):
                if start < end:
                    raise OfficeHoursError(f"{DAYS[index].title()}: opening times overlap in {spec!r}")
        return cls(tuple(tuple(intervals) for intervals in week), frozenset(closed_days))

    # -- questions -------------------------------------------------------------------------

    def is_open(self, when: datetime) -> bool:
        """Return whether the office is open at `when` (aware)."""
        local = _local(when)
        if local.date() in self.closed_days:
            return False
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.week[local.weekday()])

    def next_opening(self, when: datetime) -> datetime:
        """Return the first moment at or after `when` at which the office is open (UTC)."""
        if self.is_open(when):
            return when.astimezone(UTC)
        for start, _ in self._intervals_from(when):
            return start
        raise OfficeHoursError("the office never opens in the next year (check OFFICE_HOURS and CLOSED_DAYS)")

    def callback_window(
        self, now: datetime, part_of_day: PartOfDay, *, notice: timedelta = MIN_NOTICE
    ) -> tuple[datetime, datetime]:
        """Return the earliest (start, end), UTC, in which a morning or afternoon call-back can happen.

        The window lies inside office hours on an open day, in the chosen half of the day
        (before or after noon, Brussels time), and leaves at least `notice` from `now`.
        """
        now = now.astimezone(UTC)
        for day in self._open_days(now):
            clipped = (_clip(piece, day, part_of_day) for piece in self._day_intervals(day))
            pieces = [piece for piece in clipped if piece and piece[1] - max(piece[0], now) >= notice]
            if pieces:
                return max(pieces[0][0], now), pieces[-1][1]
        raise OfficeHoursError(
            f"no {part_of_day} opening in the next year (check OFFICE_HOURS and CLOSED_DAYS)"
        )

    # -- walking the calendar --------------------------------------------------------------

    def _open_days(self, when: datetime) -> Iterable[date]:
        first = _local(when).date()
        for offset in range(_HORIZON_DAYS):
            day = first + timedelta(days=offset)
            if day not in self.closed_days and self.week[day.weekday()]:
                yield day

    def _day_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        return [(_at(day, start), _at(day, end)) for start, end in self.week[day.weekday()]]

    def _intervals_from(self, when: datetime) -> Iterable[tuple[datetime, datetime]]:
        for day in self._open_days(when):
            for start, end in self._day_intervals(day):
                if end > when:
                    yield max(start, when.astimezone(UTC)), end


def _days(text: str, group: str) -> list[int]:
    match = _DAY_SPEC.match(text.strip().lower())
    if match is None or match.group(1) not in DAYS or (match.group(2) or "mon") not in DAYS:
        raise OfficeHoursError(
            f"{group!r}: days must be like 'Mon-Fri' or 'Sat' (Mon Tue Wed Thu Fri Sat Sun)"
        )
    first = DAYS.index(match.group(1))
    last = DAYS.index(match.group(2)) if match.group(2) else first
    if last < first:
        raise OfficeHoursError(f"{group!r}: a day range runs forward, e.g. 'Mon-Fri', not 'Fri-Mon'")
    return list(range(first, last + 1))


def _interval(text: str, group: str) -> tuple[int, int]:
    start_text, dash, end_text = text.partition("-")
    if not dash:
        raise OfficeHoursError(f"{group!r}: {text!r} is not a time range like '09:00-12:30'")
    start, end = _minutes(start_text.strip(), group), _minutes(end_text.strip(), group)
    if start >= end:
        raise OfficeHoursError(f"{group!r}: {text!r} ends before it starts")
    return start, end


def _minutes(text: str, group: str) -> int:
    match = _TIME.match(text)
    hours, minutes = (int(match.group(1)), int(match.group(2))) if match else (-1, -1)
    if not match or minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise OfficeHoursError(f"{group!r}: {text!r} is not a time of day like '09:00' (24:00 ends a day)")
    return hours * 60 + minutes


def _local(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("office hours need an aware datetime")
    return when.astimezone(BRUSSELS)


def _at(day: date, minute: int) -> datetime:
    """Return the UTC moment of `minute` past midnight on `day` in Brussels (24:00 is the next midnight)."""
    if minute >= _END_OF_DAY:
        return _at(day + timedelta(days=1), minute - _END_OF_DAY)
    # A wall time in the spring-forward gap maps to just after it (zoneinfo's fold=0).
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=BRUSSELS)
    return local.astimezone(UTC)


def _clip(
    piece: tuple[datetime, datetime], day: date, part_of_day: PartOfDay
) -> tuple[datetime, datetime] | None:
    """Return the morning or afternoon part of an opening interval.

    The day splits at noon, but a morning opening that runs a little past noon (to 13:00
    at most, e.g. 09:00-12:30) stays whole in the morning, as people read it.
    """
    start, end = piece
    noon, one = _at(day, _NOON), _at(day, _NOON + 60)
    split = end if end <= one else max(start, noon)
    start, end = (start, split) if part_of_day == "morning" else (split, end)
    return (start, end) if start < end else None
