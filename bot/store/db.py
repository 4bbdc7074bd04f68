"""The embedded SQLite store (sqlite-utils), with registered migrations.

It keeps the least it can: per user, the language, where the conversation stands (with
the names of the last few topics asked about, for the staff's ticket card) and when the
user was last seen. No message text and no phone numbers.

One connection serves every coroutine, so a transaction must never span an `await`:
an event reads the user, decides (awaiting what it must), then writes once. A version
number on each user makes that write a compare-and-set, so that another event saved in
between (a staff reply, a block) is merged with, never overwritten by, a stale copy.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from bot.clock import Clock, SystemClock

logger = logging.getLogger(__name__)

migrations = Migrations("assistant")

ASKED_TOPICS_KEPT: Final = 5
"""How many distinct topics of the conversation a user row remembers (the newest)."""
CONVERSATION_IDLE: Final = timedelta(hours=1)
"""After this long without a message, a new conversation starts: the topics asked are forgotten."""


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


@migrations()
def m002_user_version(db: Database) -> None:
    """Number each user's saves, so that a write can check nobody saved the user meanwhile."""
    db["users"].add_column("version", int, not_null_default=0)  # type: ignore[union-attr]
    db.execute("UPDATE users SET version = 1")  # version 0 means "never saved"


@migrations()
def m003_user_asked_topics(db: Database) -> None:
    """Remember the names of the topics asked about in the conversation (never the messages)."""
    db["users"].add_column("asked_topics", str, not_null_default="")  # type: ignore[union-attr]


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
    asked_topics: tuple[str, ...] = ()
    """Names of the topics answered in this conversation (intents, newest last), never a message."""
    created_at: str = ""
    last_seen_at: str = ""
    version: int = 0
    """How many times the user was saved; 0 for a user not stored yet."""

    @property
    def is_stored(self) -> bool:
        """Return whether the user was saved before (False for someone we know nothing of)."""
        return self.version > 0

    def but(self, **changes: Any) -> User:
        """Return a copy with `changes` applied."""
        return replace(self, **changes)

    def asking(self, topic: str) -> User:
        """Return a copy that remembers `topic` as the newest of the last few topics asked about."""
        if not topic or "," in topic:
            raise ValueError(f"{topic!r} is not a topic name")
        kept = (*(name for name in self.asked_topics if name != topic), topic)
        return self.but(asked_topics=kept[-ASKED_TOPICS_KEPT:])

    def topics_now(self, now: datetime, idle: timedelta = CONVERSATION_IDLE) -> tuple[str, ...]:
        """Return the topics of the conversation going on: none once the user was idle longer than `idle`."""
        if not self.asked_topics or not self.last_seen_at:
            return self.asked_topics
        last_seen = datetime.fromisoformat(self.last_seen_at)
        if last_seen.tzinfo is None:
            last_seen = last_seen.replace(tzinfo=UTC)
        return () if now - last_seen > idle else self.asked_topics


_FIELDS = tuple(field.name for field in fields(User))
_COLUMNS = ", ".join(_FIELDS)
# What an event decides; the rest is the store's bookkeeping.
_DECIDED = tuple(name for name in _FIELDS if name not in {"id", "created_at", "last_seen_at", "version"})
_INSERT = (
    f"INSERT INTO users ({_COLUMNS}) VALUES ({', '.join('?' for _ in _FIELDS)}) ON CONFLICT(id) DO NOTHING"
)
_UPDATE = (
    f"UPDATE users SET {', '.join(f'{name} = ?' for name in _FIELDS if name != 'id')}"
    " WHERE id = ? AND version = ?"
)


def _user(row: tuple[Any, ...]) -> User:
    values = dict(zip(_FIELDS, row, strict=True))
    return User(
        id=values["id"],
        language=values["language"],
        language_chosen=bool(values["language_chosen"]),
        privacy_shown=bool(values["privacy_shown"]),
        unsure_streak=values["unsure_streak"] or 0,
        foreign_language=values["foreign_language"],
        foreign_streak=values["foreign_streak"] or 0,
        pending=values["pending"],
        active=bool(values["active"]),
        asked_topics=tuple(name for name in (values["asked_topics"] or "").split(",") if name),
        created_at=values["created_at"],
        last_seen_at=values["last_seen_at"],
        version=values["version"],
    )


def _column_value(value: Any) -> Any:
    """A field as SQLite stores it: the topics asked as one short comma-separated string."""
    return ",".join(value) if isinstance(value, tuple) else value


class StaleUser(Exception):
    """The user was saved by someone else since this copy was read, and no merge was asked for."""


ForgetReason = Literal["forget", "retention"]
"""Why a user's rows go: they asked (/forget), or they were not seen for the retention period."""
ForgetHook = Callable[[Database, str, ForgetReason], object]
"""Deletes what one domain (bookings, tickets) keeps about a user, inside the store's transaction.

Called with the database, the user's id and why they are deleted (staff are told the truth).
"""


class Store:
    """Users' preferences and conversation state in one SQLite file."""

    def __init__(self, db: Database, *, clock: Clock | None = None) -> None:
        self.db = db
        self.clock: Clock = clock or SystemClock()
        if not db.conn.in_transaction:
            # No transactions opened behind our back: `transaction()` says where they are.
            db.conn.isolation_level = None
        self._forget_hooks: list[ForgetHook] = []
        self._savepoints = 0
        migrations.apply(db)

    @classmethod
    def open(cls, path: Path, *, clock: Clock | None = None) -> Store:
        """Open (creating if needed) the database at `path`, migrated to the latest schema."""
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, isolation_level=None)
        db = Database(connection)
        # WAL lets a staff CLI read while the assistant writes; NORMAL is durable enough
        # for preferences and keeps each write well under a millisecond.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        return cls(db, clock=clock)

    # -- transactions ----------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        """Run the block as one transaction: all of it is written, or none of it.

        The outermost block takes the write lock at once (BEGIN IMMEDIATE), so that another
        process waits for it (busy_timeout) instead of failing half-way; a nested block is a
        savepoint inside it. Never `await` inside the block: the connection is shared.
        """
        conn = self.db.conn
        if conn.in_transaction:
            self._savepoints += 1
            savepoint = f"store_{self._savepoints}"
            conn.execute(f"SAVEPOINT {savepoint}")
            try:
                yield self.db
            except BaseException:
                if conn.in_transaction:  # an error may already have ended the transaction
                    conn.execute(f"ROLLBACK TO SAVEPOINT {savepoint}")
                    conn.execute(f"RELEASE SAVEPOINT {savepoint}")
                raise
            conn.execute(f"RELEASE SAVEPOINT {savepoint}")
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def on_forget(self, hook: ForgetHook) -> None:
        """Register `hook` to delete a domain's rows whenever a user is forgotten or purged."""
        self._forget_hooks.append(hook)

    # -- users -----------------------------------------------------------------------------

    def _now(self) -> str:
        return self.clock.now().isoformat(timespec="seconds")

    def get_user(self, user_id: str) -> User | None:
        """Return the stored user, or None if we know nothing of them."""
        row = self.db.execute(f"SELECT {_COLUMNS} FROM users WHERE id = ?", [user_id]).fetchone()
        return None if row is None else _user(row)

    def load_user(self, user_id: str) -> User:
        """Return the stored user, or a new one (version 0, not yet saved)."""
        now = self._now()
        return self.get_user(user_id) or User(id=user_id, created_at=now, last_seen_at=now)

    def save_user(self, user: User, *, loaded: User | None = None) -> User | None:
        """Store `user` as changed from `loaded`, the copy this event read; return what was stored.

        One write in one transaction when nobody saved the user since `loaded` was read.
        Otherwise the fields this event changed are applied to the newer copy, and the
        fields it left alone keep the other writer's values. A user deleted meanwhile
        (/forget, retention) stays deleted: nothing is written and None is returned.
        Without `loaded`, `user` itself is taken as read, and a conflict raises `StaleUser`.
        """
        base = loaded if loaded is not None else user
        now = self._now()
        with self.transaction():
            stored = user.but(last_seen_at=now, version=base.version + 1)
            if self._write(stored, expected_version=base.version):
                return stored
            current = self.get_user(user.id)
            if current is None:
                logger.info("A user was deleted while an event for them ran; not saved again")
                return None
            if loaded is None:
                raise StaleUser(f"user saved since version {base.version}")
            changes = {name: getattr(user, name) for name in _DECIDED
                       if getattr(user, name) != getattr(loaded, name)}  # fmt: skip
            merged = current.but(**changes, last_seen_at=now, version=current.version + 1)
            if not self._write(merged, expected_version=current.version):
                raise StaleUser("user changed inside a transaction")  # cannot happen: we hold the lock
            return merged

    def _write(self, user: User, *, expected_version: int) -> bool:
        """Write `user` if the stored version is still `expected_version` (0: not stored yet)."""
        # Prepared statements: sqlite-utils' upsert inspects the table on every call, which
        # cost more than the write itself on each message. (sqlite3 stores bools as 0/1.)
        values = [_column_value(getattr(user, name)) for name in _FIELDS]
        if expected_version == 0:
            cursor = self.db.execute(_INSERT, values)
        else:
            cursor = self.db.execute(_UPDATE, [*values[1:], user.id, expected_version])
        return cursor.rowcount == 1

    def forget_user(self, user_id: str) -> bool:
        """Delete everything stored about a user, every domain's rows included, in one transaction.

        Return whether the user was stored. If any delete fails, nothing is deleted.
        """
        with self.transaction():
            existed = self.db.execute("DELETE FROM users WHERE id = ?", [user_id]).rowcount > 0
            for hook in self._forget_hooks:
                hook(self.db, user_id, "forget")
        return existed

    def mark_inactive(self, user_id: str) -> None:
        """Remember that a user blocked the assistant: nothing more is sent to them."""
        self.db.execute(
            "UPDATE users SET active = 0, version = version + 1 WHERE id = ? AND active = 1", [user_id]
        )

    def purge_inactive(self, older_than: timedelta) -> int:
        """Delete users not seen for `older_than`, with every domain's rows; return how many."""
        cutoff = (self.clock.now() - older_than).isoformat(timespec="seconds")
        with self.transaction():
            ids = [row[0] for row in self.db.execute("SELECT id FROM users WHERE last_seen_at < ?", [cutoff])]
            self.db.execute("DELETE FROM users WHERE last_seen_at < ?", [cutoff])
            for user_id in ids:
                for hook in self._forget_hooks:
                    hook(self.db, user_id, "retention")
        return len(ids)

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()
