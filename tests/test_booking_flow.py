"""The booking conversation: a real BookingStore on a SQLite file, the real catalogs, a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar

from bot.booking.desks import load_desks
from bot.booking.flow import NOTE_KEPT_CHARS, BookingDesk
from bot.booking.hours import OfficeHours
from bot.booking.models import Slot
from bot.booking.staff import RecordingStaffBoard
from bot.booking.store import BookingStore
from bot.clock import FixedClock
from bot.content.library import FREE_PHONE_LINE, ContentLibrary
from bot.dialogue.replies import Reply
from bot.store.db import Store, User

# Monday 7 December 2026, 10:00 in Brussels.
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
# Thursday 10 December 2026, 14:00 in Brussels: 19 Azar 1405.
THURSDAY_2PM = datetime(2026, 12, 10, 13, 0, tzinfo=UTC)


@dataclass
class World:
    """A desk wired to a real store, with the staff cards it posted."""

    desk: BookingDesk
    bookings: BookingStore
    board: RecordingStaffBoard
    clock: FixedClock

    def slot(
        self, starts_at: datetime, mode: str, languages: tuple[str, ...], desk: str | None = None
    ) -> Slot:
        return self.bookings.add_slot(starts_at, 45, mode, languages, desk=desk)  # type: ignore[arg-type]


@pytest.fixture
def world(tmp_path: Path, library: ContentLibrary) -> Iterator[World]:
    clock = FixedClock(NOW)
    store = Store.open(tmp_path / "assistant.db", clock=clock)
    bookings = BookingStore(store, clock)
    board = RecordingStaffBoard()
    desk = BookingDesk(
        library, bookings, load_desks(), OfficeHours.parse("Mon-Fri 09:00-12:30,13:30-16:00"),
        hold_minutes=10, board=board, pseudonym_key="k" * 32, clock=clock,
    )  # fmt: skip
    yield World(desk, bookings, board, clock)
    store.close()


def user(user_id: str = "u1", language: str = "en") -> User:
    return User(id=user_id, language=language)


def data_of(reply: Reply) -> list[str]:
    return [button.data for button in reply.choices]


def label_of(reply: Reply, data: str) -> str:
    return next(button.label for button in reply.choices if button.data == data)


def slot_buttons(reply: Reply) -> list[str]:
    return [data for data in data_of(reply) if data.startswith("b:s:")]


async def tap(world: World, who: User, data: str, language: str) -> list[Reply]:
    replies = await world.desk.button(who, data, language)
    assert replies is not None, f"{data} was not taken"
    for reply in replies:
        for button in reply.choices:
            assert len(button.data.encode()) <= 64
    return replies


async def say(world: World, who: User, text: str) -> list[Reply]:
    replies = await world.desk.intercept(who, text)
    assert replies is not None
    return replies


def ics_event(reply: Reply) -> tuple[str, Calendar]:
    assert reply.attachment is not None
    name, data = reply.attachment
    calendar = Calendar.from_ical(data)
    return name, calendar


# -- whole bookings -------------------------------------------------------------------------


async def test_flow_farsi_phone_booking_end_to_end(world: World) -> None:
    slot = world.slot(THURSDAY_2PM, "phone", ("fa", "en"))
    world.slot(THURSDAY_2PM + timedelta(days=1), "phone", ("fa",))
    person = user("fa-person", "fa")

    [offer] = await world.desk.offer(person, "fa") or []
    assert {"b:book", "b:call"} <= set(data_of(offer))
    assert "0800 32 745" in offer.text  # the vetted contact details, as before
    [modes] = await tap(world, person, "b:book", "fa")
    assert {"b:m:phone", "b:m:video", "b:m:desk", "b:back", "b:x"} <= set(data_of(modes))
    [languages] = await tap(world, person, "b:m:phone", "fa")
    assert data_of(languages)[0] == "b:l:fa" and label_of(languages, "b:l:fa").startswith("✓")
    [times] = await tap(world, person, "b:l:fa", "fa")
    assert "۱۹ آذر ۱۴۰۵" in times.text and "10 December 2026" in times.text and "۱۴:۰۰" in times.text
    assert slot_buttons(times)[0] == f"b:s:{slot.id}"
    assert "آذر" in label_of(times, f"b:s:{slot.id}")

    [phone_question] = await tap(world, person, f"b:s:{slot.id}", "fa")
    assert phone_question.contact_request
    assert world.bookings.current_hold(person.id) is not None
    read_back, topics = await say(world, person, "۰۴۷۰ ۱۲ ۳۴ ۵۶")
    assert "+32 470 12 34 56" in read_back.text
    [topics] = await tap(world, person, "b:t:documents", "fa")
    [topics] = await tap(world, person, "b:t:family", "fa")
    assert label_of(topics, "b:t:documents").startswith("✓")
    [summary] = await tap(world, person, "b:tdone", "fa")
    assert "+32 470 12 34 56" in summary.text and "۱۹ آذر ۱۴۰۵" in summary.text
    [confirmed] = await tap(world, person, "b:ok", "fa")

    booking = world.bookings.upcoming_booking(person.id)
    assert booking is not None
    assert (booking.slot.id, booking.language, booking.phone) == (slot.id, "fa", "+32470123456")
    assert booking.topics == ("documents", "family")
    assert "۱۹ آذر ۱۴۰۵" in confirmed.text and "/appointment" in confirmed.text
    name, calendar = ics_event(confirmed)
    assert name == "meeting-20261210-1400.ics"
    [event] = calendar.walk("VEVENT")
    assert str(event["uid"]) == booking.uid and event.decoded("sequence") == 0
    assert b"+32470123456" not in confirmed.attachment[1]  # type: ignore[index]
    assert [card.kind for card in world.board.cards] == ["new"]
    assert world.board.cards[0].phone == "+32470123456" and world.board.cards[0].reference != person.id
    assert world.bookings.get_draft(person.id) is None


async def test_flow_desk_meeting_in_french(world: World) -> None:
    slot = world.slot(THURSDAY_2PM, "desk", ("fr", "nl"), desk="brussels")
    world.slot(THURSDAY_2PM, "desk", ("fr",), desk="ghent")
    person = user("fr-person", "fr")
    await tap(world, person, "b:book", "fr")
    [desks] = await tap(world, person, "b:m:desk", "fr")
    assert [d for d in data_of(desks) if d.startswith("b:d:")] == [
        "b:d:brussels", "b:d:antwerp", "b:d:ghent", "b:d:liege", "b:d:charleroi"]  # fmt: skip
    await tap(world, person, "b:d:brussels", "fr")
    [times] = await tap(world, person, "b:l:fr", "fr")
    assert "jeudi 10 décembre 2026, 14:00" in times.text
    assert slot_buttons(times) == [f"b:s:{slot.id}"]  # not Ghent's
    [topics] = await tap(world, person, f"b:s:{slot.id}", "fr")  # no phone step for a desk
    assert not topics.contact_request and "b:t:whether" in data_of(topics)
    await tap(world, person, "b:note", "fr")
    await say(world, person, "Je voudrais parler de mon fils.")
    [summary] = await tap(world, person, "b:tdone", "fr")
    assert "Je voudrais parler de mon fils." in summary.text
    [confirmed] = await tap(world, person, "b:ok", "fr")
    booking = world.bookings.upcoming_booking(person.id)
    assert booking is not None and booking.note == "Je voudrais parler de mon fils." and booking.phone is None
    _, calendar = ics_event(confirmed)
    [event] = calendar.walk("VEVENT")
    assert "Brussels" in str(event["location"]) or "Bruxelles" in str(event["location"])
    assert "fils" not in confirmed.attachment[1].decode()  # type: ignore[index]  # the note stays out


async def test_flow_video_meeting_in_dutch(world: World) -> None:
    slot = world.slot(THURSDAY_2PM, "video", ("nl",))
    person = user("nl-person", "nl")
    await tap(world, person, "b:book", "nl")
    await tap(world, person, "b:m:video", "nl")
    [times] = await tap(world, person, "b:l:nl", "nl")
    assert "donderdag 10 december 2026, 14:00" in times.text
    await tap(world, person, f"b:s:{slot.id}", "nl")
    await tap(world, person, "b:tdone", "nl")
    [confirmed] = await tap(world, person, "b:ok", "nl")
    assert confirmed.key == "meeting_confirmed" and confirmed.attachment is not None
    booking = world.bookings.upcoming_booking(person.id)
    assert booking is not None and booking.mode == "video" and booking.language == "nl"


async def test_flow_english_with_an_interpreter(world: World) -> None:
    slot = world.slot(THURSDAY_2PM, "phone", ("fr", "en"))
    person = user("ti-person", "en")
    await tap(world, person, "b:book", "en")
    await tap(world, person, "b:m:phone", "en")
    [question] = await tap(world, person, "b:l:other", "en")
    assert question.key == "booking_interpreter"
    [again] = await say(world, person, "🙂🙂")
    assert again.key == "booking_interpreter_again"
    [times] = await say(world, person, "Tigrinya")
    assert slot_buttons(times) == [f"b:s:{slot.id}"]
    await tap(world, person, f"b:s:{slot.id}", "en")
    await say(world, person, "+32 470 12 34 56")
    [summary] = await tap(world, person, "b:tdone", "en")
    assert "with an interpreter for" in summary.text and "Tigrinya" in summary.text
    await tap(world, person, "b:ok", "en")
    booking = world.bookings.upcoming_booking(person.id)
    assert booking is not None
    assert (booking.language, booking.interpreter_language) == ("en", "Tigrinya")
    assert world.board.cards[-1].interpreter_language == "Tigrinya"


# -- a way back, and out --------------------------------------------------------------------


async def test_flow_back_steps(world: World) -> None:
    slot = world.slot(THURSDAY_2PM, "desk", ("en",), desk="antwerp")
    person = user()
    await tap(world, person, "b:book", "en")
    await tap(world, person, "b:m:desk", "en")
    [mode] = await tap(world, person, "b:back", "en")
    assert mode.key == "booking_mode"
    await tap(world, person, "b:m:desk", "en")
    await tap(world, person, "b:d:antwerp", "en")
    await tap(world, person, "b:l:en", "en")
    [topics] = await tap(world, person, f"b:s:{slot.id}", "en")
    assert topics.key == "booking_topics"
    [times] = await tap(world, person, "b:back", "en")
    assert times.key == "booking_time" and world.bookings.current_hold(person.id) is not None
    [languages] = await tap(world, person, "b:back", "en")
    assert languages.key == "booking_language"
    assert world.bookings.current_hold(person.id) is None  # going back past the time lets it go
    [desks] = await tap(world, person, "b:back", "en")
    assert desks.key == "booking_desk"
    await tap(world, person, "b:back", "en")
    [offer] = await tap(world, person, "b:back", "en")  # back from the first step: the counsellor offer
    assert "b:book" in data_of(offer) and world.bookings.get_draft(person.id) is None


async def test_flow_cancel_command_stops_and_frees_the_hold(world: World) -> None:
    slot = world.slot(THURSDAY_2PM, "video", ("en",))
    person = user()
    await tap(world, person, "b:book", "en")
    await tap(world, person, "b:m:video", "en")
    await tap(world, person, "b:l:en", "en")
    await tap(world, person, f"b:s:{slot.id}", "en")
    [stopped] = await world.desk.command(person, "cancel", "en") or []
    assert stopped.key == "booking_stopped"
    assert world.bookings.get_draft(person.id) is None and world.bookings.current_hold(person.id) is None
    assert await world.desk.command(person, "cancel", "en") is None  # nothing of ours to cancel
    said, _ = await tap(world, person, "b:x", "en")  # the Cancel button of the stopped booking
    assert said.key == "booking_stale_button"


# -- bad and stale input --------------------------------------------------------------------


async def test_flow_slot_held_by_another_shows_the_next_times(world: World) -> None:
    first = world.slot(THURSDAY_2PM, "phone", ("en",))
    second = world.slot(THURSDAY_2PM + timedelta(hours=1), "phone", ("en",))
    person, other = user("a"), user("b")
    for who in (person, other):
        await tap(world, who, "b:book", "en")
        await tap(world, who, "b:m:phone", "en")
        await tap(world, who, "b:l:en", "en")
    await tap(world, other, f"b:s:{first.id}", "en")
    said, times = await tap(world, person, f"b:s:{first.id}", "en")
    assert said.key == "booking_slot_unavailable" and "someone else" in said.text
    assert slot_buttons(times) == [f"b:s:{second.id}"]


async def test_flow_slot_removed_or_past_is_refused_clearly(world: World) -> None:
    gone = world.slot(NOW + timedelta(hours=2), "phone", ("en",))
    later = world.slot(NOW + timedelta(hours=3), "phone", ("en",))
    person = user()
    await tap(world, person, "b:book", "en")
    await tap(world, person, "b:m:phone", "en")
    await tap(world, person, "b:l:en", "en")
    world.bookings.remove_slot(gone.id)
    said, times = await tap(world, person, f"b:s:{gone.id}", "en")
    assert "no longer offered" in said.text
    assert slot_buttons(times) == [f"b:s:{later.id}"]
    world.clock.set(later.starts_at + timedelta(minutes=1))
    past = await tap(world, person, f"b:s:{later.id}", "en")
    assert "passed" in past[0].text
    assert past[-1].key == "booking_no_time" and "b:call" in data_of(past[-1])


async def test_flow_forged_and_old_buttons_get_a_clear_answer(world: World) -> None:
    world.slot(THURSDAY_2PM, "phone", ("en",))
    person = user()
    [said, offer] = await tap(world, person, "b:zz:1", "en")
    assert said.key == "booking_stale_button" and "b:book" in data_of(offer)
    await tap(world, person, "b:book", "en")
    [said, mode] = await tap(world, person, "b:s:99999", "en")  # a time button, but we are at the mode step
    assert said.key == "booking_stale_button" and mode.key == "booking_mode"
    [said, _] = await tap(world, person, "b:m:plane", "en")
    assert said.key == "booking_stale_button"
    [said, _] = await tap(world, person, "b:cxy:1", "en")  # someone else's (or no) meeting
    assert said.key == "booking_stale_button"
    assert await world.desk.button(person, "t:eligibility", "en") is None  # not ours


async def test_flow_phone_number_three_failures_offer_the_phone_line(world: World) -> None:
    slot = world.slot(THURSDAY_2PM, "phone", ("en",))
    person = user()
    for data in ("b:book", "b:m:phone", "b:l:en", f"b:s:{slot.id}"):
        await tap(world, person, data, "en")
    [first] = await say(world, person, "call me")
    assert "0470 12 34 56" in first.text and FREE_PHONE_LINE not in first.text and first.contact_request
    await say(world, person, "12345")
    [third] = await say(world, person, "0470 12")
    assert FREE_PHONE_LINE in third.text
    [shared, topics] = await world.desk.contact(person, "32470123456", "en") or []
    assert "+32 470 12 34 56" in shared.text and topics.key == "booking_topics"


async def test_flow_long_note_is_cut_and_emoji_only_note_is_asked_again(world: World) -> None:
    slot = world.slot(THURSDAY_2PM, "video", ("en",))
    person = user()
    for data in ("b:book", "b:m:video", "b:l:en", f"b:s:{slot.id}", "b:note"):
        await tap(world, person, data, "en")
    [again] = await say(world, person, "🙏🙏🙏")
    assert again.key == "booking_note_empty"
    cut, topics = await say(world, person, "a" * 4096)
    assert topics.key == "booking_topics"
    assert cut.key == "booking_note_cut" and str(NOTE_KEPT_CHARS) in cut.text
    draft = world.bookings.get_draft(person.id)
    assert draft is not None and draft.note == "a" * NOTE_KEPT_CHARS


async def test_flow_text_at_a_button_step_goes_to_the_assistant(world: World) -> None:
    world.slot(THURSDAY_2PM, "video", ("en",))
    person = user()
    await tap(world, person, "b:book", "en")
    assert await world.desk.intercept(person, "how much money do I get?") is None
    assert await world.desk.contact(person, "+32470123456", "en") is None


# -- no times, call-backs -------------------------------------------------------------------


async def test_flow_no_slots_at_all_offers_a_call_back(world: World) -> None:
    person = user()
    [reply] = await tap(world, person, "b:book", "en")
    assert reply.key == "booking_no_time" and "b:call" in data_of(reply)
    assert FREE_PHONE_LINE in reply.text


async def test_flow_no_slot_for_that_language_offers_a_call_back(world: World) -> None:
    world.slot(THURSDAY_2PM, "phone", ("fr",))
    person = user("x", "fa")
    await tap(world, person, "b:book", "fa")
    await tap(world, person, "b:m:phone", "fa")
    [reply] = await tap(world, person, "b:l:fa", "fa")
    assert reply.key == "booking_no_time" and {"b:call", "b:back", "b:x"} <= set(data_of(reply))


async def test_flow_call_back_says_when_to_expect_the_call(world: World) -> None:
    person = user("cb", "fa")
    [question] = await tap(world, person, "b:call", "fa")
    assert question.contact_request
    read_back, languages = await say(world, person, "0470 12 34 56")
    assert "+32 470 12 34 56" in read_back.text and data_of(languages)[0] == "b:cl:fa"
    [parts] = await tap(world, person, "b:cl:fa", "fa")
    assert {"b:p:morning", "b:p:afternoon"} <= set(data_of(parts))
    [done] = await tap(world, person, "b:p:afternoon", "fa")
    # Monday 10:00: this afternoon's opening, 13:30-16:00, in Persian digits.
    assert "۱۳:۳۰" in done.text and "۱۶:۰۰" in done.text and "۱۶ آذر ۱۴۰۵" in done.text
    callback = world.bookings.open_callback(person.id)
    assert callback is not None and (callback.phone, callback.language, callback.part_of_day) == (
        "+32470123456", "fa", "afternoon")  # fmt: skip
    assert world.board.cards[-1].kind == "callback"
    [waiting] = await tap(world, person, "b:call", "fa")
    assert waiting.key == "callback_waiting"


# -- the meeting afterwards -----------------------------------------------------------------


async def book(world: World, who: User, slot: Slot) -> None:
    desk = [f"b:d:{slot.desk}"] if slot.desk else []
    for data in ("b:book", f"b:m:{slot.mode}", *desk, "b:l:en", f"b:s:{slot.id}"):
        await tap(world, who, data, "en")
    if slot.mode == "phone":
        await say(world, who, "0470 12 34 56")
    await tap(world, who, "b:tdone", "en")
    await tap(world, who, "b:ok", "en")


async def test_flow_appointment_change_takes_the_new_time(world: World) -> None:
    first = world.slot(THURSDAY_2PM, "phone", ("en",))
    later = world.slot(THURSDAY_2PM + timedelta(days=1), "phone", ("en",))
    person = user()
    await book(world, person, first)
    [meeting] = await world.desk.command(person, "appointment", "en") or []
    booking = world.bookings.upcoming_booking(person.id)
    assert booking is not None
    assert {f"b:chg:{booking.id}", f"b:cxl:{booking.id}"} <= set(data_of(meeting))
    [times] = await tap(world, person, f"b:chg:{booking.id}", "en")
    assert slot_buttons(times) == [f"b:s:{later.id}"]
    [summary] = await tap(world, person, f"b:s:{later.id}", "en")
    assert summary.key == "booking_summary" and "Move your meeting" in summary.text
    [moved] = await tap(world, person, "b:ok", "en")
    changed = world.bookings.upcoming_booking(person.id)
    assert changed is not None and changed.slot.id == later.id and changed.sequence == 1
    assert changed.phone == "+32470123456"
    _, calendar = ics_event(moved)
    [event] = calendar.walk("VEVENT")
    assert str(event["uid"]) == booking.uid and event.decoded("sequence") == 1
    assert world.board.cards[-1].kind == "changed"


async def test_flow_cancel_meeting_frees_the_slot(world: World) -> None:
    slot = world.slot(THURSDAY_2PM, "video", ("en",))
    person = user()
    await book(world, person, slot)
    booking = world.bookings.upcoming_booking(person.id)
    assert booking is not None
    [question] = await tap(world, person, f"b:cxl:{booking.id}", "en")
    assert f"b:cxy:{booking.id}" in data_of(question)
    [cancelled] = await tap(world, person, f"b:cxy:{booking.id}", "en")
    assert cancelled.key == "meeting_cancelled"
    _, calendar = ics_event(cancelled)
    assert str(calendar["method"]) == "CANCEL"
    assert world.bookings.upcoming_booking(person.id) is None
    assert [s.id for s in world.bookings.free_slots("video", "en")] == [slot.id]
    [said, _] = await tap(world, person, f"b:cxy:{booking.id}", "en")  # tapped twice
    assert said.key == "booking_stale_button"


async def test_flow_a_person_with_a_meeting_is_shown_it_first(world: World) -> None:
    slot = world.slot(THURSDAY_2PM, "video", ("en",))
    world.slot(THURSDAY_2PM + timedelta(days=1), "video", ("en",))
    person = user()
    await book(world, person, slot)
    [offer] = await world.desk.offer(person, "en") or []
    assert offer.key == "meeting" and "Thursday, 10 December 2026, 14:00" in offer.text
    [again] = await tap(world, person, "b:book", "en")
    assert again.key == "meeting"


async def test_flow_reminder_and_staff_notices(world: World) -> None:
    slot = world.slot(THURSDAY_2PM, "desk", ("en",), desk="liege")
    person = user()
    await book(world, person, slot)
    booking = world.bookings.upcoming_booking(person.id)
    assert booking is not None
    reminder = world.desk.reminder_reply(booking, "fa", "24h")
    assert "۱۹ آذر ۱۴۰۵" in reminder.text and f"b:cxl:{booking.id}" in data_of(reminder)
    cancelled = world.bookings.cancel(booking.id, "staff")
    notice = world.desk.staff_change_notice_reply("cancelled", cancelled, "en")
    assert "b:book" in data_of(notice) and notice.attachment is not None
    assert "cancel your meeting" in notice.text
