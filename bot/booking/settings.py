"""The booking's settings, read once from the environment and validated (folded into Settings later)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bot.booking.hours import OfficeHours, OfficeHoursError
from bot.settings import PROJECT_ROOT, SettingsError

DEFAULT_OFFICE_HOURS = "Mon-Fri 09:00-12:30,13:30-16:00"
DEFAULT_DESKS_FILE = PROJECT_ROOT / "desks.toml"
_CHAT_ID = re.compile(r"^-?\d{1,20}$")
MIN_KEY_LENGTH = 16


def _whole(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"\d+", raw) or not low <= int(raw) <= high:
        raise SettingsError(f"{name} must be a whole number from {low} to {high}, not {raw!r}")
    return int(raw)


def _closed_days(raw: str) -> frozenset[date]:
    days: set[date] = set()
    for part in raw.split(","):
        if not part.strip():
            continue
        try:
            days.add(date.fromisoformat(part.strip()))
        except ValueError:
            raise SettingsError(
                f"CLOSED_DAYS: {part.strip()!r} is not a date; list dates as YYYY-MM-DD separated by"
                " commas, e.g. 2026-12-25,2027-01-01"
            ) from None
    return frozenset(days)


def _reminder_hours(raw: str) -> tuple[int, ...]:
    hours: list[int] = []
    for part in raw.split(","):
        text = part.strip()
        if not re.fullmatch(r"\d{1,3}", text) or not 1 <= int(text) <= 336:
            raise SettingsError(
                f"REMINDER_HOURS: {text!r} is not a number of hours from 1 to 336; write e.g. 24,2"
            )
        hours.append(int(text))
    if len(set(hours)) != len(hours):
        raise SettingsError("REMINDER_HOURS lists the same hour twice")
    return tuple(sorted(hours, reverse=True))


@dataclass(frozen=True, slots=True)
class BookingSettings:
    """Office hours, reminders, holds, retention, the staff chat and the desks file."""

    office_hours: OfficeHours
    reminder_hours: tuple[int, ...] = (24, 2)
    hold_minutes: int = 10
    retention_days: int = 30
    staff_chat_id: int | None = None
    pseudonym_key: str | None = None
    desks_file: Path = DEFAULT_DESKS_FILE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BookingSettings:
        """Read and validate the booking settings from `env` (the process environment by default)."""
        env = os.environ if env is None else env
        closed = _closed_days(env.get("CLOSED_DAYS", ""))
        spec = env.get("OFFICE_HOURS", "").strip() or DEFAULT_OFFICE_HOURS
        try:
            office_hours = OfficeHours.parse(spec, closed)
        except OfficeHoursError as error:
            raise SettingsError(f"OFFICE_HOURS: {error}") from None
        reminders = env.get("REMINDER_HOURS", "").strip()
        chat = env.get("STAFF_CHAT_ID", "").strip()
        if chat and not _CHAT_ID.match(chat):
            raise SettingsError(
                f"STAFF_CHAT_ID must be a chat id (a number, e.g. -1001234567890), not {chat!r}"
            )
        key = env.get("PSEUDONYM_KEY", "").strip() or None
        if key is not None and len(key) < MIN_KEY_LENGTH:
            raise SettingsError(f"PSEUDONYM_KEY must be at least {MIN_KEY_LENGTH} characters long")
        if chat and key is None:
            raise SettingsError(
                "PSEUDONYM_KEY must be set with STAFF_CHAT_ID: staff see a keyed reference, never a"
                " user id; generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return cls(
            office_hours=office_hours,
            reminder_hours=_reminder_hours(reminders) if reminders else (24, 2),
            hold_minutes=_whole(env, "HOLD_MINUTES", 10, 1, 60),
            retention_days=_whole(env, "BOOKING_RETENTION_DAYS", 30, 1, 3650),
            staff_chat_id=int(chat) if chat else None,
            pseudonym_key=key,
            desks_file=Path(env.get("DESKS_FILE", "").strip() or DEFAULT_DESKS_FILE),
        )
