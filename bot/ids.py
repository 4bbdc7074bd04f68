"""Numbers typed by people or carried in callback data: ticket, slot and meeting ids, CSV counts."""

from __future__ import annotations

import re
from typing import Final

# ASCII digits only ("²".isdigit() is True, but int("²") fails) and at most 18 of them, so
# the number always fits a SQLite INTEGER (a 20-digit id would overflow it).
_ID: Final = re.compile(r"[1-9][0-9]{0,17}", re.ASCII)


def parse_id(text: str) -> int | None:
    """Return the positive number `text` spells in ASCII digits; None for anything else (stale, forged)."""
    return int(text) if _ID.fullmatch(text) else None
