"""The embedded SQLite store (sqlite-utils), with registered migrations.

It keeps the least it can: per user, the language, where the conversation stands and
when the user was last seen. No message text and no phone numbers.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from sqlite_utils.db import Table
from sqlite_utils.migrations import Migrations

migrations = Migrations("assistant")


@migrations()
def m001_users(db: Database) -> None:
    """Create the users table: preferences and where the conversation stands."""
    db["users"].create(  # type: ignore[union-attr]
        {
            "id": str,
            "language": str,
            "language_chosen": int,
            "privacy_shown": int,
            "unsure_streak": int,
            "foreign_language": str,
            "foreign_streak": int,
            "pending": str,
            "active": int,
            "created_at": str,
            "last_seen_at": str,
        },
        pk="id",
        not_null={"id", "created_at", "last_seen_at"},
        defaults={
            "language_chosen": 0,
            "privacy_shown": 0,
            "unsure_streak": 0,
            "foreign_streak": 0,
            "active": 1,
        },
    )
    db["users"].create_index(["last_seen_at"])  # type: ignore[union-attr]


def utcnow() -> datetime:
    """Return the current time in UTC (one place to read the clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class User:
    """What the assistant remembers of one person."""

    id: str
    language: str | None = None
    language_chosen: bool = False
    privacy_shown: bool = False
    unsure_streak: int = 0
    foreign_language: str | None = None
    foreign_streak: int = 0
    pending: str | None = None
    """A question the user has to answer first, e.g. "forget" (confirm deletion)."""
    active: bool = True
    created_at: str = ""
    last_seen_at: str = ""

    def but(self, **changes: Any) -> User:
        """Return a copy with `changes` applied."""
        return replace(self, **changes)


def _user(row: dict[str, Any]) -> User:
    return User(
        id=row["id"],
        language=row["language"],
        language_chosen=bool(row["language_chosen"]),
        privacy_shown=bool(row["privacy_shown"]),
        unsure_streak=row["unsure_streak"] or 0,
        foreign_language=row["foreign_language"],
        foreign_streak=row["foreign_streak"] or 0,
        pending=row["pending"],
        active=bool(row["active"]),
        created_at=row["created_at"],
        last_seen_at=row["last_seen_at"],
    )


_FIELDS = tuple(field.name for field in fields(User))
_COLUMNS = ", ".join(_FIELDS)
_UPSERT = (
    f"INSERT INTO users ({_COLUMNS}) VALUES ({', '.join('?' for _ in _FIELDS)}) "
    f"ON CONFLICT(id) DO UPDATE SET {', '.join(f'{n} = excluded.{n}' for n in _FIELDS if n != 'id')}"
)


class Store:
    """Users' preferences and conversation state in one SQLite file."""

    def __init__(self, db: Database) -> None:
        self.db = db
        migrations.apply(db)

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating if needed) the database at `path`, migrated to the latest schema."""
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, isolation_level=None)
        db = Database(connection)
        # WAL lets a staff CLI read while the assistant writes; NORMAL is durable enough
        # for preferences and keeps each write well under a millisecond.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        return cls(db)

    @property
    def _users(self) -> Table:
        return self.db.table("users")

    def get_user(self, user_id: str) -> User | None:
        """Return the stored user, or None if we know nothing of them."""
        cursor = self.db.execute(f"SELECT {_COLUMNS} FROM users WHERE id = ?", [user_id])
        row = cursor.fetchone()
        return None if row is None else _user(dict(zip(_FIELDS, row, strict=True)))

    def load_user(self, user_id: str) -> User:
        """Return the stored user, or a new one (not yet saved)."""
        now = utcnow().isoformat(timespec="seconds")
        return self.get_user(user_id) or User(id=user_id, created_at=now, last_seen_at=now)

    def save_user(self, user: User) -> User:
        """Store `user`, stamping when they were last seen."""
        user = user.but(last_seen_at=utcnow().isoformat(timespec="seconds"))
        # One prepared statement: sqlite-utils' upsert inspects the table on every call,
        # which cost more than the write itself on each message. (sqlite3 stores bools as 0/1.)
        self.db.execute(_UPSERT, [getattr(user, name) for name in _FIELDS])
        return user

    def forget_user(self, user_id: str) -> bool:
        """Delete everything stored about a user; return whether there was anything."""
        existed = self.get_user(user_id) is not None
        # Later tables (bookings, tickets) add their own deletes here, in one transaction.
        with self.db.conn:
            self._users.delete_where("id = ?", [user_id])
        return existed

    def mark_inactive(self, user_id: str) -> None:
        """Remember that a user blocked the assistant: nothing more is sent to them."""
        if self.get_user(user_id) is not None:
            self._users.update(user_id, {"active": 0})

    def purge_inactive(self, older_than: timedelta) -> int:
        """Delete users not seen for `older_than`; return how many were deleted."""
        cutoff = (utcnow() - older_than).isoformat(timespec="seconds")
        before = self._users.count
        self._users.delete_where("last_seen_at < ?", [cutoff])
        return before - self._users.count

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()
