"""The booking store: slots, holds, bookings, reminders, notices, call-backs, drafts, retention, forget."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.booking.brussels import TimeError, format_brussels, parse_brussels
from bot.booking.models import Draft, HasBooking, NotFound, Refused, SlotUnavailable
from bot.booking.settings import BookingSettings
from bot.booking.staff import booking_card, pseudonym
from bot.booking.store import BookingStore
from bot.clock import FixedClock
from bot.settings import SettingsError
from bot.store.db import Store

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PHONE = "+32470123456"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def booking(store: Store) -> BookingStore:
    return BookingStore(store)


def _phone_slot(booking: BookingStore, when: str = "2026-12-10 14:00", capacity: int = 1) -> int:
    return booking.add_slot(parse_brussels(when), 45, "phone", ["fa", "en"], capacity=capacity).id


def _person(store: Store, user_id: str) -> None:
    store.save_user(store.load_user(user_id))


# -- Brussels time -------------------------------------------------------------------------


def test_parse_brussels_gives_utc() -> None:
    assert parse_brussels("2026-12-10 14:00") == datetime(2026, 12, 10, 13, 0, tzinfo=UTC)
    assert parse_brussels("2026-07-10 14:00") == datetime(2026, 7, 10, 12, 0, tzinfo=UTC)


def test_parse_brussels_refuses_a_time_skipped_when_clocks_go_forward() -> None:
    with pytest.raises(TimeError, match="2027-03-28 02:30 does not exist"):
        parse_brussels("2027-03-28 02:30")


def test_parse_brussels_refuses_a_time_that_occurs_twice_when_clocks_go_back() -> None:
    with pytest.raises(TimeError, match="2026-10-25 02:30 occurs twice"):
        parse_brussels("2026-10-25 02:30")


def test_parse_brussels_refuses_text_that_is_no_time() -> None:
    with pytest.raises(TimeError, match="YYYY-MM-DD HH:MM"):
        parse_brussels("next tuesday")


# -- slots ---------------------------------------------------------------------------------


def test_add_weekly_keeps_the_brussels_wall_time_across_the_clock_change(
    booking: BookingStore, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 10, 1, tzinfo=UTC))
    slots = booking.add_weekly(parse_brussels("2026-10-15 14:00"), date(2026, 11, 5), 30, "video", ["fr"])
    assert [format_brussels(slot.starts_at) for slot in slots] == [
        "2026-10-15 14:00", "2026-10-22 14:00", "2026-10-29 14:00", "2026-11-05 14:00",
    ]  # fmt: skip
    assert slots[0].starts_at.hour == 12 and slots[-1].starts_at.hour == 13  # UTC+2, then UTC+1


def test_add_weekly_refuses_all_when_one_week_falls_in_a_skipped_hour(
    booking: BookingStore, clock: FixedClock
) -> None:
    clock.set(datetime(2027, 3, 1, tzinfo=UTC))
    with pytest.raises(TimeError, match="does not exist"):
        booking.add_weekly(parse_brussels("2027-03-21 02:30"), date(2027, 4, 4), 30, "phone", ["fa"])
    assert booking.list_slots() == []


def test_add_slot_refuses_a_duplicate_a_past_start_and_a_desk_without_desk(booking: BookingStore) -> None:
    _phone_slot(booking)
    with pytest.raises(Refused) as duplicate:
        _phone_slot(booking)
    assert duplicate.value.reason == "duplicate"
    with pytest.raises(Refused) as past:
        booking.add_slot(NOW - timedelta(hours=1), 30, "phone", ["fa"])
    assert past.value.reason == "past"
    with pytest.raises(Refused, match="desk"):
        booking.add_slot(NOW + timedelta(days=1), 30, "desk", ["fa"])


def test_free_slots_match_mode_desk_and_language_and_leave_out_full_and_past(
    booking: BookingStore, clock: FixedClock
) -> None:
    phone = _phone_slot(booking, "2026-12-10 14:00")
    full = _phone_slot(booking, "2026-12-10 15:00")
    soon = _phone_slot(booking, "2026-12-01 10:30")
    booking.add_slot(parse_brussels("2026-12-10 14:00"), 45, "desk", ["fa"], desk="ghent")
    booking.add_slot(parse_brussels("2026-12-11 14:00"), 45, "phone", ["nl"])
    booking.book("someone", full, "fa", phone=PHONE)
    assert [slot.id for slot in booking.free_slots("phone", "fa")] == [soon, phone]
    assert [slot.desk for slot in booking.free_slots("desk", "fa", desk="ghent")] == ["ghent"]
    assert booking.free_slots("desk", "fa", desk="liege") == []
    clock.set(parse_brussels("2026-12-01 11:00"))
    assert [slot.id for slot in booking.free_slots("phone", "fa")] == [phone]


def test_free_slots_page_with_offset(booking: BookingStore) -> None:
    ids = [_phone_slot(booking, f"2026-12-1{day} 10:00") for day in range(7)]
    assert [s.id for s in booking.free_slots("phone", "en", limit=3, offset=3)] == ids[3:6]


def test_remove_slot_cancels_its_meetings_and_leaves_a_notice_for_the_person(booking: BookingStore) -> None:
    slot = _phone_slot(booking)
    made = booking.book("u1", slot, "fa", phone=PHONE)
    cancelled = booking.remove_slot(slot)
    assert [(b.id, b.status, b.cancelled_by) for b in cancelled] == [(made.id, "cancelled", "staff")]
    assert booking.list_slots() == []
    assert [(n.kind, n.user_id) for n in booking.due_notices()] == [("cancelled", "u1")]
    with pytest.raises(SlotUnavailable) as gone:
        booking.hold(slot, "u2")
    assert gone.value.reason == "gone"


# -- holds ---------------------------------------------------------------------------------


def test_a_hold_keeps_the_last_place_from_others_until_it_lapses(
    booking: BookingStore, clock: FixedClock
) -> None:
    slot = _phone_slot(booking)
    booking.hold(slot, "u1", minutes=10)
    assert booking.free_slots("phone", "fa", user_id="u2") == []
    assert [s.id for s in booking.free_slots("phone", "fa", user_id="u1")] == [slot]
    with pytest.raises(SlotUnavailable) as held:
        booking.book("u2", slot, "fa", phone=PHONE)
    assert held.value.reason == "held"
    clock.advance(timedelta(minutes=11))
    assert booking.book("u2", slot, "fa", phone=PHONE).slot.id == slot


def test_a_new_hold_replaces_the_persons_previous_one(booking: BookingStore) -> None:
    first, second = _phone_slot(booking, "2026-12-10 10:00"), _phone_slot(booking, "2026-12-10 11:00")
    booking.hold(first, "u1")
    booking.hold(second, "u1")
    assert [s.id for s in booking.free_slots("phone", "fa", user_id="u2")] == [first]


# -- bookings ------------------------------------------------------------------------------


def test_book_consumes_the_hold_and_schedules_reminders_24h_and_2h_before(
    booking: BookingStore, store: Store
) -> None:
    slot = _phone_slot(booking)
    booking.hold(slot, "u1")
    made = booking.book("u1", slot, "fa", phone=PHONE, topics=["documents", "journey"], note="my story")
    assert (made.status, made.phone, made.topics, made.sequence) == (
        "booked",
        PHONE,
        ("documents", "journey"),
        0,
    )
    assert booking.current_hold("u1") is None
    due = store.db.execute("SELECT kind, due_at FROM reminders ORDER BY due_at").fetchall()
    assert due == [("24h", "2026-12-09T13:00:00+00:00"), ("2h", "2026-12-10T11:00:00+00:00")]
    assert booking.upcoming_booking("u1") == made


def test_book_a_second_meeting_is_refused_and_names_the_first(booking: BookingStore) -> None:
    first = booking.book("u1", _phone_slot(booking, "2026-12-10 10:00"), "fa", phone=PHONE)
    with pytest.raises(HasBooking) as second:
        booking.book("u1", _phone_slot(booking, "2026-12-10 11:00"), "fa", phone=PHONE)
    assert second.value.reason == "has_booking" and second.value.booking.id == first.id


def test_book_refuses_a_full_slot_with_reason_taken(booking: BookingStore) -> None:
    slot = _phone_slot(booking)
    booking.book("u1", slot, "fa", phone=PHONE)
    with pytest.raises(SlotUnavailable) as taken:
        booking.book("u2", slot, "fa", phone=PHONE)
    assert taken.value.reason == "taken"


def test_book_keeps_the_phone_only_for_phone_meetings(booking: BookingStore) -> None:
    with pytest.raises(Refused) as needed:
        booking.book("u1", _phone_slot(booking), "fa")
    assert needed.value.reason == "phone_needed"
    video = booking.add_slot(parse_brussels("2026-12-10 16:00"), 30, "video", ["fa"])
    assert booking.book("u1", video.id, "fa", phone=PHONE).phone is None


def test_book_refuses_a_language_the_slot_does_not_offer_and_a_long_note(booking: BookingStore) -> None:
    slot = _phone_slot(booking)
    with pytest.raises(Refused) as language:
        booking.book("u1", slot, "nl", phone=PHONE)
    assert language.value.reason == "language"
    with pytest.raises(Refused) as note:
        booking.book("u1", slot, "fa", phone=PHONE, note="x" * 4096)
    assert note.value.reason == "note_too_long"


def test_a_meeting_whose_time_passed_unmarked_does_not_block_the_next(
    booking: BookingStore, clock: FixedClock
) -> None:
    booking.book("u1", _phone_slot(booking, "2026-12-02 10:00"), "fa", phone=PHONE)
    later = _phone_slot(booking, "2026-12-20 10:00")
    clock.set(parse_brussels("2026-12-03 10:00"))
    assert booking.upcoming_booking("u1") is None
    assert booking.book("u1", later, "fa", phone=PHONE).slot.id == later
    assert [b.status for b in booking.list_bookings()] == ["over", "booked"]


def test_change_takes_the_new_slot_frees_the_old_and_grows_the_sequence(
    booking: BookingStore, store: Store
) -> None:
    old, new = _phone_slot(booking, "2026-12-10 10:00"), _phone_slot(booking, "2026-12-12 10:00")
    made = booking.book("u1", old, "fa", phone=PHONE)
    booking.hold(new, "u1")
    moved = booking.change(made.id, new)
    assert (moved.id, moved.uid, moved.slot.id, moved.sequence, moved.phone) == (
        made.id,
        made.uid,
        new,
        1,
        PHONE,
    )
    assert booking.slot(old).booked == 0 and booking.slot(new).booked == 1
    assert booking.current_hold("u1") is None
    due = [row[0] for row in store.db.execute("SELECT due_at FROM reminders ORDER BY due_at")]
    assert due == ["2026-12-11T09:00:00+00:00", "2026-12-12T07:00:00+00:00"]
    assert booking.due_notices() == []  # the person changed it: nothing to tell them


def test_change_to_a_full_slot_keeps_the_old_meeting(booking: BookingStore) -> None:
    old, full = _phone_slot(booking, "2026-12-10 10:00"), _phone_slot(booking, "2026-12-12 10:00")
    made = booking.book("u1", old, "fa", phone=PHONE)
    booking.book("u2", full, "fa", phone=PHONE)
    with pytest.raises(SlotUnavailable) as taken:
        booking.change(made.id, full)
    assert taken.value.reason == "taken"
    assert booking.booking(made.id).slot.id == old and booking.slot(old).booked == 1


def test_change_by_staff_to_a_video_slot_erases_the_phone_and_tells_the_person(booking: BookingStore) -> None:
    made = booking.book("u1", _phone_slot(booking), "fa", phone=PHONE)
    video = booking.add_slot(parse_brussels("2026-12-11 10:00"), 30, "video", ["fa"]).id
    moved = booking.change(made.id, video, by="staff")
    assert (moved.mode, moved.phone) == ("video", None)
    assert [(n.kind, n.booking.slot.id) for n in booking.due_notices()] == [("moved", video)]


def test_cancel_frees_the_place_and_removes_pending_reminders(booking: BookingStore, store: Store) -> None:
    slot = _phone_slot(booking)
    made = booking.book("u1", slot, "fa", phone=PHONE)
    cancelled = booking.cancel(made.id)
    assert (cancelled.status, cancelled.cancelled_by, cancelled.sequence) == ("cancelled", "person", 1)
    assert booking.slot(slot).booked == 0 and booking.upcoming_booking("u1") is None
    assert store.db.execute("SELECT count(*) FROM reminders").fetchone() == (0,)
    with pytest.raises(Refused) as again:
        booking.cancel(made.id)
    assert again.value.reason == "not_booked"
    with pytest.raises(NotFound):
        booking.cancel(999)


def test_mark_attended_only_once_the_meeting_has_begun(booking: BookingStore, clock: FixedClock) -> None:
    made = booking.book("u1", _phone_slot(booking), "fa", phone=PHONE)
    with pytest.raises(Refused) as early:
        booking.mark(made.id, "attended")
    assert early.value.reason == "not_yet"
    clock.set(parse_brussels("2026-12-10 15:00"))
    assert booking.mark(made.id, "attended").status == "attended"


# -- reminders -----------------------------------------------------------------------------


def test_a_due_reminder_is_claimed_once(booking: BookingStore, store: Store, clock: FixedClock) -> None:
    _person(store, "u1")
    booking.book("u1", _phone_slot(booking), "fa", phone=PHONE)
    clock.set(parse_brussels("2026-12-09 14:00"))
    [due] = booking.due_reminders()
    assert (due.kind, due.booking.user_id) == ("24h", "u1")
    assert booking.claim_reminder(due.id) is True
    assert booking.claim_reminder(due.id) is False
    assert booking.due_reminders() == []
    booking.mark_reminder_sent(due.id)
    clock.advance(timedelta(hours=1))
    assert booking.due_reminders() == []


def test_a_reminder_claimed_by_a_run_that_crashed_is_sent_again(
    booking: BookingStore, store: Store, clock: FixedClock
) -> None:
    _person(store, "u1")
    booking.book("u1", _phone_slot(booking), "fa", phone=PHONE)
    clock.set(parse_brussels("2026-12-09 14:00"))
    [due] = booking.due_reminders()
    assert booking.claim_reminder(due.id)
    clock.advance(timedelta(minutes=2))
    assert booking.due_reminders() == []  # another run may still be sending it
    clock.advance(timedelta(minutes=4))
    assert [r.id for r in booking.due_reminders()] == [due.id]


def test_after_downtime_only_the_latest_reminder_goes_if_the_meeting_is_ahead(
    booking: BookingStore, store: Store, clock: FixedClock
) -> None:
    _person(store, "u1")
    booking.book("u1", _phone_slot(booking), "fa", phone=PHONE)
    clock.set(parse_brussels("2026-12-10 13:00"))  # both moments passed while down; meeting at 14:00
    assert [r.kind for r in booking.due_reminders()] == ["2h"]
    status = dict(store.db.execute("SELECT kind, dropped_because FROM reminders").fetchall())
    assert status == {"24h": "superseded", "2h": None}


def test_after_downtime_a_reminder_of_a_meeting_that_has_begun_is_dropped(
    booking: BookingStore, store: Store, clock: FixedClock
) -> None:
    _person(store, "u1")
    booking.book("u1", _phone_slot(booking), "fa", phone=PHONE)
    clock.set(parse_brussels("2026-12-10 14:10"))
    assert booking.due_reminders() == []
    assert store.db.execute("SELECT DISTINCT status FROM reminders").fetchall() == [("dropped",)]


def test_no_reminder_for_a_cancelled_meeting_or_a_person_who_blocked_us(
    booking: BookingStore, store: Store, clock: FixedClock
) -> None:
    for user_id in ("u1", "u2"):
        _person(store, user_id)
    cancelled = booking.book("u1", _phone_slot(booking, "2026-12-10 10:00"), "fa", phone=PHONE)
    booking.book("u2", _phone_slot(booking, "2026-12-10 11:00"), "fa", phone=PHONE)
    booking.cancel(cancelled.id)
    store.mark_inactive("u2")
    clock.set(parse_brussels("2026-12-09 12:00"))
    assert booking.due_reminders() == []


def test_staff_notices_are_claimed_once(booking: BookingStore, store: Store) -> None:
    _person(store, "u1")
    made = booking.book("u1", _phone_slot(booking), "fa", phone=PHONE)
    booking.cancel(made.id, by="staff")
    [notice] = booking.due_notices()
    assert booking.claim_notice(notice.id) and not booking.claim_notice(notice.id)
    booking.mark_notice_sent(notice.id)
    assert booking.due_notices() == []


# -- call-backs and drafts -----------------------------------------------------------------


def test_a_callback_request_is_one_at_a_time_and_done_erases_the_number(booking: BookingStore) -> None:
    request = booking.request_callback("u1", PHONE, "fa", "morning")
    assert (request.status, request.phone) == ("open", PHONE)
    with pytest.raises(Refused) as twice:
        booking.request_callback("u1", PHONE, "fa", "afternoon")
    assert twice.value.reason == "has_callback"
    done = booking.callback_done(request.id)
    assert (done.status, done.phone) == ("done", None)
    assert booking.list_callbacks() == [] and booking.open_callback("u1") is None


def test_a_draft_survives_as_stored_and_lapses_after_a_day(booking: BookingStore, clock: FixedClock) -> None:
    draft = Draft(
        user_id="u1", step="phone", mode="phone", slot_id=3, topics=("family",), extra={"back": "slot"}
    )
    booking.save_draft(draft)
    stored = booking.get_draft("u1")
    assert stored is not None and stored.but(updated_at=None) == draft
    clock.advance(timedelta(hours=25))
    assert booking.get_draft("u1") is None


# -- retention and forgetting --------------------------------------------------------------


def test_purge_erases_phone_and_note_once_the_meeting_is_over_and_the_row_after_retention(
    booking: BookingStore, store: Store
) -> None:
    made = booking.book("u1", _phone_slot(booking), "fa", phone=PHONE, note="about my papers")
    request = booking.request_callback("u2", PHONE, "fa", "morning")
    before = booking.purge(parse_brussels("2026-12-10 14:30"))  # the meeting is on
    assert (before.phones_erased, before.notes_erased) == (0, 0)
    after = booking.purge(parse_brussels("2026-12-10 15:00"))
    assert (after.phones_erased, after.notes_erased) == (1, 1)
    kept = booking.booking(made.id)
    assert (kept.phone, kept.note, kept.status) == (None, None, "over")
    booking.callback_done(request.id)
    late = booking.purge(parse_brussels("2027-01-10 15:00"), retention_days=30)
    assert (late.bookings, late.callbacks, late.slots) == (1, 1, 1)
    for table in ("bookings", "reminders", "callbacks", "slots"):
        assert store.db.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table


def test_purge_deletes_lapsed_holds_and_stale_drafts(booking: BookingStore) -> None:
    booking.hold(_phone_slot(booking), "u1")
    booking.save_draft(Draft(user_id="u1", step="time", phone=PHONE))
    counts = booking.purge(NOW + timedelta(days=2))
    assert (counts.holds, counts.drafts) == (1, 1)


def test_forget_cancels_upcoming_meetings_and_leaves_no_row_about_the_person(
    booking: BookingStore, store: Store
) -> None:
    user_id = "7001234567"
    _person(store, user_id)
    slot = _phone_slot(booking, "2026-12-10 10:00")
    booking.book(user_id, slot, "fa", phone=PHONE, note=f"call me, I am {user_id}")
    booking.hold(_phone_slot(booking, "2026-12-11 10:00"), user_id)
    booking.request_callback(user_id, PHONE, "fa", "morning")
    booking.save_draft(Draft(user_id=user_id, step="note"))
    other = booking.book("someone-else", _phone_slot(booking, "2026-12-12 10:00"), "en", phone=PHONE)
    booking.cancel(other.id, by="staff")

    cancelled = booking.forget(user_id)
    store.forget_user(user_id)

    assert [(b.status, b.cancelled_by) for b in cancelled] == [("cancelled", "forget")]
    assert booking.slot(slot).booked == 0
    leftovers = []
    for (table,) in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        for column in store.db[table].columns:  # every column of every table, not only the known ones
            found = store.db.execute(
                f"SELECT count(*) FROM [{table}] WHERE instr(CAST([{column.name}] AS TEXT), ?) > 0", [user_id]
            ).fetchone()[0]
            if found:
                leftovers.append(f"{table}.{column.name}")
    assert leftovers == []
    assert booking.booking(other.id).user_id == "someone-else"  # others' rows untouched


# -- staff cards and settings --------------------------------------------------------------


def test_pseudonym_is_stable_short_and_depends_on_the_key() -> None:
    first = pseudonym("7001234567", "k" * 16)
    assert first == pseudonym("7001234567", "k" * 16) and len(first) == 8
    assert first != pseudonym("7001234568", "k" * 16) != pseudonym("7001234567", "j" * 16)
    assert "7001234567" not in first


def test_a_staff_card_shows_the_phone_only_for_a_phone_meeting(booking: BookingStore) -> None:
    phone = booking_card("new", booking.book("u1", _phone_slot(booking), "fa", phone=PHONE), "k" * 16)
    video_slot = booking.add_slot(parse_brussels("2026-12-11 10:00"), 30, "video", ["fa"]).id
    video = booking_card("new", booking.book("u2", video_slot, "fa"), "k" * 16)
    assert (phone.phone, video.phone) == (PHONE, None)
    assert phone.reference == pseudonym("u1", "k" * 16)


def test_booking_settings_defaults() -> None:
    settings = BookingSettings.from_env({})
    assert (settings.reminder_hours, settings.hold_minutes, settings.retention_days) == ((24, 2), 10, 30)
    assert settings.staff_chat_id is None
    assert settings.office_hours.is_open(parse_brussels("2026-12-10 10:00"))


def test_booking_settings_read_every_variable() -> None:
    settings = BookingSettings.from_env({
        "OFFICE_HOURS": "Mon-Thu 09:00-16:00; Fri 09:00-12:00", "CLOSED_DAYS": "2026-12-25, 2027-01-01",
        "REMINDER_HOURS": "2,48", "HOLD_MINUTES": "5", "BOOKING_RETENTION_DAYS": "90",
        "STAFF_CHAT_ID": "-1001234567890", "PSEUDONYM_KEY": "a-long-enough-secret",
        "DESKS_FILE": "/x/desks.toml",
    })  # fmt: skip
    assert (settings.reminder_hours, settings.hold_minutes, settings.retention_days) == ((48, 2), 5, 90)
    assert settings.staff_chat_id == -1001234567890
    assert not settings.office_hours.is_open(parse_brussels("2026-12-25 10:00"))
    assert str(settings.desks_file) == "/x/desks.toml"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OFFICE_HOURS": "weekdays"}, "OFFICE_HOURS"),
        ({"CLOSED_DAYS": "25/12/2026"}, "CLOSED_DAYS"),
        ({"REMINDER_HOURS": "24,two"}, "REMINDER_HOURS"),
        ({"HOLD_MINUTES": "0"}, "HOLD_MINUTES"),
        ({"BOOKING_RETENTION_DAYS": "-3"}, "BOOKING_RETENTION_DAYS"),
        ({"STAFF_CHAT_ID": "@staff"}, "STAFF_CHAT_ID"),
        ({"STAFF_CHAT_ID": "-100123"}, "PSEUDONYM_KEY must be set"),
        ({"PSEUDONYM_KEY": "short"}, "at least 16"),
    ],
)
def test_booking_settings_reject_bad_values_with_a_clear_message(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        BookingSettings.from_env(env)
