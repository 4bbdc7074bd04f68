"""The return desks (in-person meetings), read from a file staff edit: desks.toml.

An editor can break the file; the error names the file, the desk and the key, so that the
assistant refuses to start with a message that says what to fix.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.booking.hours import OfficeHours, OfficeHoursError
from bot.booking.phone import PhoneError, parse_phone
from bot.content.topics import N_
from bot.settings import PROJECT_ROOT

DEFAULT_DESKS_FILE = PROJECT_ROOT / "desks.toml"

# The desks' names as msgids, so that `bot content extract` puts them in the catalogs.
# A desk staff add later is shown under the English name in desks.toml until this list
# and the catalogs have it.
DESK_NAMES = (
    N_("Return desk Brussels"),
    N_("Return desk Antwerp"),
    N_("Return desk Ghent"),
    N_("Return desk Liège"),
    N_("Return desk Charleroi"),
)

_ID = re.compile(r"^[a-z][a-z0-9_]{0,19}$")
_KEYS = {"id", "name", "address", "hours", "phone"}


class DeskFileError(ValueError):
    """desks.toml cannot be used; the message names the file, the desk and the key."""


@dataclass(frozen=True, slots=True)
class Desk:
    """A return desk: its id in slots, English name (a msgid), and what is known of it."""

    id: str
    name: str
    address: str | None
    hours: OfficeHours | None
    phone: str | None
    """E.164, or None while unknown."""


class Desks:
    """The desks of desks.toml, in the file's order."""

    def __init__(self, desks: list[Desk]) -> None:
        self._desks = {desk.id: desk for desk in desks}

    def __iter__(self) -> Iterator[Desk]:
        return iter(self._desks.values())

    def __len__(self) -> int:
        return len(self._desks)

    def __contains__(self, desk_id: object) -> bool:
        return desk_id in self._desks

    def get(self, desk_id: str | None) -> Desk | None:
        """Return the desk with `desk_id`, or None."""
        return self._desks.get(desk_id) if desk_id is not None else None

    @property
    def ids(self) -> tuple[str, ...]:
        """Return the desk ids in the file's order."""
        return tuple(self._desks)


def load_desks(path: Path = DEFAULT_DESKS_FILE) -> Desks:
    """Read and check desks.toml; raise DeskFileError naming the file and key on any mistake."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeskFileError(f"{path}: file not found (set DESKS_FILE or restore desks.toml)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise DeskFileError(f"{path}: not valid TOML: {error}") from None
    return parse_desks(data, str(path))


def parse_desks(data: dict[str, Any], where: str) -> Desks:
    """Check the parsed TOML of a desks file (`where` names it in errors)."""
    extra = set(data) - {"desk"}
    if extra:
        raise DeskFileError(f"{where}: unknown section {sorted(extra)[0]!r}; each desk is a [[desk]] table")
    entries = data.get("desk")
    if not isinstance(entries, list) or not entries:
        raise DeskFileError(f"{where}: no desks; each desk is a [[desk]] table with id, name, address, hours")
    desks: list[Desk] = []
    for number, entry in enumerate(entries, 1):
        label = f"{where}: desk {number}"
        if not isinstance(entry, dict):
            raise DeskFileError(f"{label}: must be a [[desk]] table")
        desk = _desk(entry, label)
        if any(known.id == desk.id for known in desks):
            raise DeskFileError(f"{label}: key 'id': {desk.id!r} is used twice")
        desks.append(desk)
    return Desks(desks)


def _desk(entry: dict[str, Any], label: str) -> Desk:
    unknown = set(entry) - _KEYS
    if unknown:
        raise DeskFileError(f"{label}: unknown key {sorted(unknown)[0]!r} (keys: {', '.join(sorted(_KEYS))})")
    for key in _KEYS:
        if key in entry and not isinstance(entry[key], str):
            raise DeskFileError(f"{label}: key {key!r} must be text in quotes")
    desk_id = entry.get("id", "")
    if not _ID.match(desk_id):
        raise DeskFileError(
            f"{label}: key 'id' must be a short lowercase name like 'brussels', got {desk_id!r}"
        )
    label = f"{label} ({desk_id})"
    name = entry.get("name", "").strip()
    if not name:
        raise DeskFileError(f"{label}: key 'name' is missing (e.g. 'Return desk Brussels')")
    hours_text = entry.get("hours", "").strip()
    try:
        hours = OfficeHours.parse(hours_text) if hours_text else None
    except OfficeHoursError as error:
        raise DeskFileError(f"{label}: key 'hours': {error}") from None
    phone_text = entry.get("phone", "").strip()
    try:
        phone = parse_phone(phone_text).e164 if phone_text else None
    except PhoneError:
        raise DeskFileError(f"{label}: key 'phone': {phone_text!r} is not a valid phone number") from None
    address = " ".join(entry.get("address", "").split()) or None
    return Desk(desk_id, name, address, hours, phone)
