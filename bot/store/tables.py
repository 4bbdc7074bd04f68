"""What every domain's tables share on the users' database: times as UTC strings, rows as dicts.

Booking and the handoff each keep their own tables (their own migrations and queries) on the
one connection `bot.store.db.Store` opens. `DomainTables` gives them that connection, its
transaction and the three ways they run SQL; `iso`, `from_iso` and `from_iso_or_none` are how
every domain writes and reads a moment, so a time compared in SQL is always the same text.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from bot.store.db import Store


def iso(when: datetime) -> str:
    """Write an aware time as the stored UTC string."""
    if when.tzinfo is None:
        raise ValueError("times must be aware")
    return when.astimezone(UTC).isoformat(timespec="seconds")


def from_iso(text: str) -> datetime:
    """Read a stored time back as an aware datetime."""
    return datetime.fromisoformat(text)


def from_iso_or_none(text: str | None) -> datetime | None:
    """Read a stored time that may be missing (NULL)."""
    return None if text is None else datetime.fromisoformat(text)


def rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    """Return what a query found as one dict per row, keyed by column name."""
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class DomainTables:
    """A domain's tables on the users' database: the shared connection, its transaction, its queries."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.db: Database = store.db

    def transaction(self) -> AbstractContextManager[Any]:
        """One BEGIN IMMEDIATE transaction (a savepoint inside another): all of the block or none."""
        return self._store.transaction()

    def _query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return rows(self.db.execute(sql, params))

    def _one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        found = self._query(sql, params)
        return found[0] if found else None

    def _write(self, sql: str, params: Any = ()) -> int:
        """Run one statement; return how many rows it changed."""
        return self.db.execute(sql, params).rowcount
