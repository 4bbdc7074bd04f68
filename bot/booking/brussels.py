"""Brussels wall-clock time for staff input and output; UTC for storage.

A wall-clock time that does not exist (the hour skipped when clocks go forward) or that
occurs twice (the hour repeated when they go back) is refused: guessing would put a
meeting an hour away from where staff meant it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from bot.clock import BRUSSELS

_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


class TimeError(ValueError):
    """A time or date staff typed cannot be used; the message says why and what to write."""


def brussels_to_utc(wall: datetime) -> datetime:
    """Return the UTC time of a naive Brussels wall-clock time; refuse a skipped or repeated one."""
    if wall.tzinfo is not None:
        raise TimeError("expected a Brussels wall-clock time without a zone")
    text = wall.strftime("%Y-%m-%d %H:%M")
    first = wall.replace(tzinfo=BRUSSELS, fold=0)
    second = wall.replace(tzinfo=BRUSSELS, fold=1)
    if first.astimezone(UTC).astimezone(BRUSSELS).replace(tzinfo=None) != wall:
        raise TimeError(
            f"{text} does not exist in Brussels (the clocks go forward that night); choose another time"
        )
    if first.utcoffset() != second.utcoffset():
        raise TimeError(
            f"{text} occurs twice in Brussels (the clocks go back that night); choose another time"
        )
    return first.astimezone(UTC)


def parse_brussels(text: str) -> datetime:
    """Read "YYYY-MM-DD HH:MM" in Brussels time; return it in UTC."""
    cleaned = " ".join(text.split())
    for pattern in _FORMATS:
        try:
            wall = datetime.strptime(cleaned, pattern)
        except ValueError:
            continue
        return brussels_to_utc(wall)
    raise TimeError(
        f"{text!r} is not a time; write it as YYYY-MM-DD HH:MM in Brussels time, e.g. 2026-12-10 14:00"
    )


def parse_date(text: str) -> date:
    """Read "YYYY-MM-DD"."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise TimeError(f"{text!r} is not a date; write it as YYYY-MM-DD, e.g. 2027-01-31") from None


def at_brussels(day: date, wall: time) -> datetime:
    """Return the UTC time of `wall` on `day` in Brussels (refusing skipped or repeated times)."""
    return brussels_to_utc(datetime.combine(day, wall))


def start_of_brussels_day(day: date) -> datetime:
    """Return the UTC time at which `day` begins in Brussels."""
    return datetime.combine(day, time(0, 0), tzinfo=BRUSSELS).astimezone(UTC)


def format_brussels(when: datetime) -> str:
    """Show an aware time as "YYYY-MM-DD HH:MM" in Brussels time (the staff format)."""
    return when.astimezone(BRUSSELS).strftime("%Y-%m-%d %H:%M")
