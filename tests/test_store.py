"""The SQLite store: users, migrations, one-transaction deletes, compare-and-set saves, its clock."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from bot.clock import FixedClock
from bot.store.db import ForgetHook, ForgetReason, StaleUser, Store, migrations

START = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def with_notes(store: Store) -> None:
    """A stand-in for another domain's table (bookings, tickets): one note per user."""
    store.db.execute("CREATE TABLE notes (user_id TEXT NOT NULL, note TEXT)")


def test_store_migrations_are_recorded_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    Store.open(path).close()
    store = Store.open(path)  # opening again applies nothing twice
    assert [m.name for m in migrations.applied(store.db)] == [m.name for m in migrations._migrations]
    assert migrations.pending(store.db) == []
    store.close()


def test_store_survives_a_restart(tmp_path: Path, clock: FixedClock) -> None:
    path = tmp_path / "a.db"
    store = Store.open(path, clock=clock)
    store.save_user(store.load_user("tg:1").but(language="fa", language_chosen=True))
    store.close()
    reopened = Store.open(path, clock=clock)
    user = reopened.get_user("tg:1")
    assert user is not None and user.language == "fa" and user.language_chosen
    reopened.close()


def test_store_keeps_wal_and_a_busy_timeout(file_store: Store) -> None:
    assert file_store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert file_store.db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


def test_store_stamps_times_from_its_clock(store: Store, clock: FixedClock) -> None:
    store.save_user(store.load_user("tg:1"))
    clock.advance(timedelta(hours=2))
    loaded = store.load_user("tg:1")
    store.save_user(loaded, loaded=loaded)
    user = store.get_user("tg:1")
    assert user is not None
    assert user.created_at == "2025-03-01T09:30:00+00:00"
    assert user.last_seen_at == "2025-03-01T11:30:00+00:00"


def test_store_new_user_is_not_stored_until_saved(store: Store) -> None:
    user = store.load_user("tg:1")
    assert not user.is_stored and store.get_user("tg:1") is None
    saved = store.save_user(user)
    assert saved is not None and saved.is_stored and saved.version == 1


def test_store_save_counts_versions(store: Store) -> None:
    first = store.save_user(store.load_user("tg:1"))
    loaded = store.load_user("tg:1")
    second = store.save_user(loaded.but(language="nl"), loaded=loaded)
    assert first is not None and second is not None
    assert (first.version, second.version) == (1, 2)


def test_store_stale_copy_does_not_overwrite_a_newer_save(store: Store) -> None:
    """Two events read the same user; the later save keeps what the earlier one changed."""
    store.save_user(store.load_user("tg:1").but(language="en"))
    event_a = store.load_user("tg:1")  # e.g. a message waiting on the NLU
    event_b = store.load_user("tg:1")  # e.g. a staff reply, handled meanwhile
    store.save_user(event_b.but(pending="forget", language="fr"), loaded=event_b)
    store.save_user(event_a.but(unsure_streak=1), loaded=event_a)
    user = store.get_user("tg:1")
    assert user is not None
    assert (user.language, user.pending, user.unsure_streak) == ("fr", "forget", 1)
    assert user.version == 3


def test_store_same_field_changed_twice_keeps_the_later_save(store: Store) -> None:
    store.save_user(store.load_user("tg:1").but(language="en"))
    event_a = store.load_user("tg:1")
    event_b = store.load_user("tg:1")
    store.save_user(event_a.but(language="nl"), loaded=event_a)
    store.save_user(event_b.but(language="fa"), loaded=event_b)
    user = store.get_user("tg:1")
    assert user is not None and user.language == "fa"


def test_store_two_first_contacts_at_once_both_count(store: Store) -> None:
    """Two events of a new user both find nobody stored; the second merges into the first."""
    event_a = store.load_user("tg:1")
    event_b = store.load_user("tg:1")
    store.save_user(event_a.but(language="fa"), loaded=event_a)
    store.save_user(event_b.but(privacy_shown=True), loaded=event_b)
    user = store.get_user("tg:1")
    assert user is not None and user.language == "fa" and user.privacy_shown


def test_store_save_without_the_loaded_copy_refuses_to_overwrite(store: Store) -> None:
    stale = store.save_user(store.load_user("tg:1"))
    assert stale is not None
    store.mark_inactive("tg:1")  # another writer
    with pytest.raises(StaleUser):
        store.save_user(stale.but(language="nl"))
    user = store.get_user("tg:1")
    assert user is not None and not user.active and user.language is None


def test_store_save_does_not_bring_back_a_user_deleted_meanwhile(store: Store) -> None:
    store.save_user(store.load_user("tg:1"))
    loaded = store.load_user("tg:1")
    store.forget_user("tg:1")
    assert store.save_user(loaded.but(language="fr"), loaded=loaded) is None
    assert store.get_user("tg:1") is None


def test_store_blocked_user_stays_inactive_after_a_stale_save(store: Store) -> None:
    store.save_user(store.load_user("tg:1"))
    loaded = store.load_user("tg:1")
    store.mark_inactive("tg:1")
    store.save_user(loaded.but(unsure_streak=1), loaded=loaded)
    user = store.get_user("tg:1")
    assert user is not None and not user.active and user.unsure_streak == 1


def test_store_marks_blocked_users_inactive(store: Store) -> None:
    store.save_user(store.load_user("tg:1"))
    store.mark_inactive("tg:1")
    store.mark_inactive("tg:unknown")  # nothing to mark, nothing stored
    user = store.get_user("tg:1")
    assert user is not None and not user.active
    assert store.get_user("tg:unknown") is None


def test_store_forget_deletes_the_user_and_only_them(file_store: Store) -> None:
    file_store.save_user(file_store.load_user("tg:1"))
    file_store.save_user(file_store.load_user("tg:2"))
    assert file_store.forget_user("tg:1") is True
    assert file_store.get_user("tg:1") is None and file_store.get_user("tg:2") is not None
    assert file_store.forget_user("tg:1") is False


def delete_notes_noting(reasons: list[ForgetReason]) -> ForgetHook:
    """A domain's forget hook: deletes the user's notes and notes why it was called."""

    def delete_notes(db: Database, user_id: str, reason: ForgetReason) -> None:
        reasons.append(reason)
        db.execute("DELETE FROM notes WHERE user_id = ?", [user_id])

    return delete_notes


def test_store_forget_runs_every_registered_hook_with_the_reason_forget(file_store: Store) -> None:
    with_notes(file_store)
    reasons: list[ForgetReason] = []
    file_store.on_forget(delete_notes_noting(reasons))
    file_store.save_user(file_store.load_user("tg:1"))
    file_store.db.execute("INSERT INTO notes VALUES ('tg:1', 'a'), ('tg:2', 'b')")
    assert file_store.forget_user("tg:1")
    assert file_store.db.execute("SELECT user_id FROM notes").fetchall() == [("tg:2",)]
    assert reasons == ["forget"]


def test_store_forget_failing_half_way_leaves_the_data_whole(tmp_path: Path, file_store: Store) -> None:
    """The users row and a domain's rows are deleted, then a later delete fails: nothing is lost."""
    with_notes(file_store)
    file_store.save_user(file_store.load_user("tg:1").but(language="fa"))
    file_store.db.execute("INSERT INTO notes VALUES ('tg:1', 'booking')")

    def delete_notes(db: Database, user_id: str, reason: ForgetReason) -> None:
        db.execute("DELETE FROM notes WHERE user_id = ?", [user_id])

    def fail(db: Database, user_id: str, reason: ForgetReason) -> None:
        assert db.execute("SELECT count(*) FROM users WHERE id = ?", [user_id]).fetchone() == (0,)
        raise sqlite3.OperationalError("disk I/O error")  # after the first deletes ran

    file_store.on_forget(delete_notes)
    file_store.on_forget(fail)
    with pytest.raises(sqlite3.OperationalError):
        file_store.forget_user("tg:1")
    # Seen through another connection, as a staff tool or a restarted assistant would.
    other = sqlite3.connect(tmp_path / "assistant.db")
    try:
        assert other.execute("SELECT language FROM users WHERE id = 'tg:1'").fetchall() == [("fa",)]
        assert other.execute("SELECT note FROM notes WHERE user_id = 'tg:1'").fetchall() == [("booking",)]
    finally:
        other.close()
    user = file_store.get_user("tg:1")
    assert user is not None and user.language == "fa"
    assert not file_store.db.conn.in_transaction


def test_store_transaction_rolls_back_everything_on_error(store: Store) -> None:
    store.save_user(store.load_user("tg:1"))
    with pytest.raises(RuntimeError), store.transaction() as db:
        db.execute("DELETE FROM users")
        raise RuntimeError("half-way")
    assert store.get_user("tg:1") is not None


def test_store_nested_transaction_is_a_savepoint_of_the_outer_one(store: Store) -> None:
    store.save_user(store.load_user("tg:1"))
    store.save_user(store.load_user("tg:2"))
    with store.transaction() as db:
        db.execute("DELETE FROM users WHERE id = 'tg:1'")
        with pytest.raises(RuntimeError), store.transaction():
            db.execute("DELETE FROM users WHERE id = 'tg:2'")
            raise RuntimeError("inner fails")
    assert store.get_user("tg:1") is None  # the outer block's delete is committed
    assert store.get_user("tg:2") is not None  # the inner block's delete is undone


def test_store_transaction_takes_the_write_lock_at_once(tmp_path: Path, file_store: Store) -> None:
    """BEGIN IMMEDIATE: another connection cannot start writing while the transaction is open."""
    other = sqlite3.connect(tmp_path / "assistant.db", timeout=0, isolation_level=None)
    try:
        with file_store.transaction(), pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_store_purges_users_not_seen_within_retention_with_the_reason_retention(
    store: Store, clock: FixedClock
) -> None:
    with_notes(store)
    reasons: list[ForgetReason] = []
    store.on_forget(delete_notes_noting(reasons))
    store.save_user(store.load_user("tg:old"))
    store.db.execute("INSERT INTO notes VALUES ('tg:old', 'x'), ('tg:new', 'y')")
    clock.advance(timedelta(days=100))
    store.save_user(store.load_user("tg:new"))
    clock.advance(timedelta(days=81))  # tg:old last seen 181 days ago, tg:new 81
    assert store.purge_inactive(timedelta(days=180)) == 1
    assert store.get_user("tg:old") is None and store.get_user("tg:new") is not None
    assert store.db.execute("SELECT user_id FROM notes").fetchall() == [("tg:new",)]
    assert reasons == ["retention"]  # domains tell staff the truth: not "the person deleted their data"


def test_store_keeps_no_message_text(store: Store) -> None:
    columns = {column.name for column in store.db.table("users").columns}
    assert not columns & {"text", "message", "phone", "phone_number", "username", "first_name"}


def test_store_migration_numbers_users_stored_before_versions(tmp_path: Path) -> None:
    """Rows written before the version column existed count as stored (version 1)."""
    path = tmp_path / "old.db"
    with Database(path) as db:
        migrations.apply(db, stop_before="m002_user_version")
        with db.atomic():
            db.execute("INSERT INTO users (id, created_at, last_seen_at) VALUES ('tg:1', 'a', 'a')")
    store = Store.open(path)
    user = store.get_user("tg:1")
    assert user is not None and user.is_stored and user.version == 1
    store.close()


def test_store_keeps_the_last_five_distinct_topics_asked_newest_last(store: Store) -> None:
    user = store.load_user("tg:1")
    for topic in ("costs", "timeline", "costs", "eligibility", "how_to_apply", "family_children",
                  "travel_documents"):  # fmt: skip
        user = user.asking(topic)
    assert user.asked_topics == (
        "costs",
        "eligibility",
        "how_to_apply",
        "family_children",
        "travel_documents",
    )
    store.save_user(user)
    stored = store.get_user("tg:1")
    assert stored is not None and stored.asked_topics == user.asked_topics
    raw = store.db.execute("SELECT asked_topics FROM users WHERE id = 'tg:1'").fetchone()[0]
    assert raw == "costs,eligibility,how_to_apply,family_children,travel_documents"
    with pytest.raises(ValueError):
        user.asking("a, b")


def test_store_topics_asked_belong_to_the_conversation_going_on(store: Store, clock: FixedClock) -> None:
    store.save_user(store.load_user("tg:1").asking("costs"))
    user = store.get_user("tg:1")
    assert user is not None
    assert user.topics_now(clock.now() + timedelta(minutes=59)) == ("costs",)
    assert user.topics_now(clock.now() + timedelta(minutes=61)) == ()
    assert user.topics_now(clock.now() + timedelta(minutes=10), timedelta(minutes=5)) == ()


def test_store_migration_gives_users_stored_before_no_topics(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with Database(path) as db:
        migrations.apply(db, stop_before="m003_user_asked_topics")
        with db.atomic():
            db.execute("INSERT INTO users (id, created_at, last_seen_at) VALUES ('tg:1', 'a', 'a')")
    store = Store.open(path)
    user = store.get_user("tg:1")
    assert user is not None and user.asked_topics == ()
    store.close()
