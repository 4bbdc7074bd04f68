"""The booking conversation: "talk to a counsellor" leads to a meeting, a call-back or the contact details.

`BookingDesk` is the counsellor desk of `bot.dialogue.desk`: the dialogue hands it the taps
on its buttons (callback data "b:…"), the texts it waits for (a phone number, a note, the
name of a language), shared contacts and the commands /appointment and /cancel. One tap at
a time, each step with Back and Cancel:

    book:     mode → desk (in person) → language → [which language, for an interpreter]
              → time (held) → phone (phone calls) → topics and note → summary → confirmed
    change:   time → summary → changed
    callback: phone → language → morning or afternoon → when to expect the call

Where a person stands lives in the store's drafts table, never in memory, so a restart or a
second process loses nothing. Phone numbers and notes are never logged.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from dataclasses import dataclass

from bot.booking.calendar import ics_filename, meeting_ics
from bot.booking.desks import Desk, Desks
from bot.booking.display import fill, format_clock, format_day, format_slot_label, format_when
from bot.booking.hours import OfficeHours, OfficeHoursError, PartOfDay
from bot.booking.models import (
    MODES,
    Booking,
    BookingError,
    Draft,
    HasBooking,
    Mode,
    NotFound,
    Slot,
    SlotUnavailable,
)
from bot.booking.phone import PhoneError, PhoneNumber, parse_phone, parse_shared_contact, read_back
from bot.booking.staff import (
    CardKind,
    NullStaffBoard,
    StaffBoard,
    StaffCard,
    booking_card,
    callback_card,
    forgotten_card,
)
from bot.booking.store import BookingStore
from bot.clock import Clock, SystemClock
from bot.content.i18n import native_name
from bot.content.library import FREE_PHONE_LINE, ContentLibrary, Translator, language_name
from bot.content.topics import COUNSELLOR, N_
from bot.dialogue.desk import AfterForget
from bot.dialogue.replies import MENU, Button, Reply, rows
from bot.ids import parse_id
from bot.store.db import User

logger = logging.getLogger(__name__)

PREFIX = "b:"
MEETING_LANGUAGES = ("fa", "fr", "nl", "en")
OTHER_LANGUAGE = "other"
# The languages a counsellor speaks when an interpreter joins for another one.
INTERPRETED_LANGUAGES = ("fr", "nl", "en")
PAGE_SIZE = 5
PHONE_TRIES = 3
NOTE_KEPT_CHARS = 500
INTERPRETER_MAX_CHARS = 40
WHAT_TO_BRING = "what_to_bring"
"""The vetted catalog entry (answers domain) on what to bring to a meeting."""

MODE_LABELS: dict[str, str] = {
    "phone": N_("Phone call"),
    "video": N_("Video call"),
    "desk": N_("In person at a return desk"),
}
# What the person would like to talk about; staff see the codes on the booking.
TOPICS: dict[str, str] = {
    "whether": N_("Whether to return at all"),
    "documents": N_("Documents"),
    "journey": N_("The journey"),
    "family": N_("Family"),
    "health": N_("Health"),
    "school": N_("After return: school or training"),
    "work": N_("After return: work or a small business"),
    "housing": N_("After return: housing"),
}

# Steps (Draft.step).
MODE, DESK, LANGUAGE, INTERPRETER, TIME, PHONE, TOPICS_STEP, NOTE, SUMMARY = (
    "mode", "desk", "language", "interpreter", "time", "phone", "topics", "note", "summary",
)  # fmt: skip
CB_PHONE, CB_LANGUAGE, CB_PART = "cb_phone", "cb_language", "cb_part"
# Steps that wait for typed text; at the others, a typed message goes to the assistant.
_TEXT_STEPS = frozenset({INTERPRETER, PHONE, NOTE, CB_PHONE})
_LETTER_OR_DIGIT = re.compile(r"[^\W_]", re.UNICODE)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TAG = re.compile(r"<[^>]+>")
_BIDI_ISOLATES = re.compile("[\u2066-\u2069]")


@dataclass(frozen=True, slots=True)
class _Details:
    """What a meeting is, for the summary, the confirmation and reminders."""

    slot: Slot
    language: str
    interpreter_language: str | None
    phone: str | None
    topics: tuple[str, ...]
    note: str | None


class BookingDesk:
    """The counsellor desk that books meetings and call-backs (the `CounsellorDesk` protocol)."""

    def __init__(
        self,
        library: ContentLibrary,
        bookings: BookingStore,
        desks: Desks,
        office_hours: OfficeHours,
        *,
        hold_minutes: int = 10,
        board: StaffBoard | None = None,
        pseudonym_key: str = "",
        clock: Clock | None = None,
        default_language: str = "en",
    ) -> None:
        self.library = library
        self.bookings = bookings
        self.desks = desks
        self.office_hours = office_hours
        self.hold_minutes = hold_minutes
        self.board: StaffBoard = board if board is not None else NullStaffBoard()
        self.pseudonym_key = pseudonym_key
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.default_language = default_language

    # -- the CounsellorDesk protocol -------------------------------------------------------

    async def offer(self, user: User, language: str) -> list[Reply] | None:
        """ "Talk to a counsellor": an upcoming meeting first, else booking, call-back and contacts."""
        upcoming = self.bookings.upcoming_booking(user.id)
        if upcoming is not None:
            tr = self._tr(language)
            return [self._meeting_reply(upcoming, language, tr.gettext("You have a meeting booked:"))]
        return [self._contacts_reply(user, language)]

    async def intercept(self, user: User, text: str) -> list[Reply] | None:
        """Take a typed answer when a step waits for one (a number, a note, a language)."""
        draft = self.bookings.get_draft(user.id)
        if draft is None or draft.step not in _TEXT_STEPS:
            return None
        language = self._ui(draft, user)
        if draft.step in (PHONE, CB_PHONE):
            return self._typed_phone(draft, text, language)
        if draft.step == NOTE:
            return self._typed_note(draft, text, language)
        return self._typed_interpreter(draft, text, language)

    async def contact(self, user: User, phone_number: str, language: str) -> list[Reply] | None:
        """Take a phone number shared with Telegram's button (None: no step asked for one)."""
        draft = self.bookings.get_draft(user.id)
        if draft is None or draft.step not in (PHONE, CB_PHONE):
            return None
        language = self._ui(draft, user)
        try:
            number = parse_shared_contact(phone_number)
        except PhoneError:
            return self._phone_failed(draft, "invalid", language)
        return self._phone_taken(draft, number, language)

    def forget(self, user_id: str, language: str) -> AfterForget:
        """Cancel the person's upcoming meetings (inside the deletion); then tell staff, by reference."""
        had_callback = self.bookings.open_callback(user_id) is not None
        cancelled = self.bookings.forget(user_id)

        async def tell_staff() -> None:
            for booking in cancelled:
                await self._post(booking_card("cancelled", booking, self.pseudonym_key))
            if cancelled or had_callback:  # staff knew this person: their reference is gone
                await self._post(forgotten_card(user_id, language, self.pseudonym_key))

        return tell_staff

    async def command(self, user: User, name: str, language: str) -> list[Reply] | None:
        """/appointment shows the meeting; /cancel stops a booking under way."""
        if name == "appointment":
            return self._appointment(user, language)
        if name == "cancel":
            draft = self.bookings.get_draft(user.id)
            if draft is None:
                return None
            return self._stop(draft, language)
        return None

    async def button(self, user: User, data: str, language: str) -> list[Reply] | None:
        """Answer a tap on a booking button ("b:…"); stale or forged data gets a clear answer."""
        if not data.startswith(PREFIX):
            return None
        action, _, argument = data[len(PREFIX) :].partition(":")
        draft = self.bookings.get_draft(user.id)
        if draft is not None:
            language = self._ui(draft, user, language)
        try:
            replies = await self._button(user, draft, action, argument, language)
        except NotFound:
            replies = None
        return replies if replies is not None else self._stale(user, draft, language)

    # -- buttons ---------------------------------------------------------------------------

    async def _button(
        self, user: User, draft: Draft | None, action: str, argument: str, language: str
    ) -> list[Reply] | None:
        """Dispatch a tap; None means the data is stale or forged."""
        if action == "book":
            return self._start_booking(user, language)
        if action == "call":
            return self._start_callback(user, language)
        if action == "info":
            return [self._contacts_reply(user, language)]
        if action in ("chg", "cxl", "cxy"):
            booking = self._own_upcoming(user, argument)
            if booking is None:
                return None
            if action == "chg":
                return self._start_change(user, booking, language)
            if action == "cxl":
                return [self._cancel_question(booking, language)]
            return await self._cancel_meeting(booking, language)
        if action == "keep":
            return self._appointment(user, language)
        if draft is None:
            return None
        if action == "x":
            return self._stop(draft, language)
        if action == "back":
            return self._back(draft, language)
        if action == "resume":
            return [self._render(draft, language)]
        return await self._step_button(user, draft, action, argument, language)

    async def _step_button(
        self, user: User, draft: Draft, action: str, argument: str, language: str
    ) -> list[Reply] | None:
        """A choice at the current step; a button of another step is stale."""
        step = draft.step
        if step == MODE and action == "m" and argument in MODES:
            mode: Mode = argument
            draft = draft.but(mode=mode, desk=None, slot_id=None, hold_id=None, page=0)
            return self._go(draft, DESK if mode == "desk" else LANGUAGE, language)
        if step == DESK and action == "d" and argument in self.desks:
            return self._go(draft.but(desk=argument, page=0), LANGUAGE, language)
        if step == LANGUAGE and action == "l" and argument in (*MEETING_LANGUAGES, OTHER_LANGUAGE):
            if argument == OTHER_LANGUAGE:
                return self._go(draft.but(language=None, interpreter_language=None), INTERPRETER, language)
            return self._go(draft.but(language=argument, interpreter_language=None, page=0), TIME, language)
        if step == TIME and action in ("more", "prev"):
            page = max(0, draft.page + (1 if action == "more" else -1))
            return self._go(draft.but(page=page), TIME, language)
        if step == TIME and action == "none":
            return [self._no_time_reply(language, self._tr(language).gettext(
                "I am sorry the times do not suit you."), nav=self._nav(language))]  # fmt: skip
        if step == TIME and action == "s" and (slot_id := parse_id(argument)) is not None:
            return self._take_slot(user, draft, slot_id, language)
        if step == TOPICS_STEP and action == "t" and argument in TOPICS:
            chosen = tuple(t for t in TOPICS if (t in draft.topics) != (t == argument))
            return self._go(draft.but(topics=chosen), TOPICS_STEP, language)
        if step == TOPICS_STEP and action == "note":
            return self._go(draft, NOTE, language)
        if step == TOPICS_STEP and action == "tdone":
            return self._go(draft, SUMMARY, language)
        if step == NOTE and action == "skip":
            return self._go(draft.but(note=None), TOPICS_STEP, language)
        if step == SUMMARY and action == "ok":
            return await self._confirm(user, draft, language)
        if step == CB_LANGUAGE and action == "cl" and argument in MEETING_LANGUAGES:
            return self._go(draft.but(language=argument), CB_PART, language)
        if step == CB_PART and action == "p" and argument in ("morning", "afternoon"):
            part: PartOfDay = argument  # type: ignore[assignment]  # checked just above
            return await self._request_callback(user, draft, part, language)
        return None

    # -- starting ----------------------------------------------------------------------------

    def _start_booking(self, user: User, language: str) -> list[Reply]:
        upcoming = self.bookings.upcoming_booking(user.id)
        tr = self._tr(language)
        if upcoming is not None:
            intro = tr.gettext("You already have a meeting. You can change its time or cancel it:")
            return [self._meeting_reply(upcoming, language, intro)]
        if self.bookings.count_open_slots() == 0:
            return [self._no_time_reply(language, tr.gettext(
                "There are no meeting times open at the moment."))]  # fmt: skip
        self.bookings.release_hold(user.id)
        draft = Draft(user_id=user.id, step=MODE, purpose="book", extra={"ui": language})
        return self._go(draft, MODE, language)

    def _start_change(self, user: User, booking: Booking, language: str) -> list[Reply]:
        draft = Draft(
            user_id=user.id, step=TIME, purpose="change", booking_id=booking.id, mode=booking.mode,
            desk=booking.slot.desk, language=booking.language,
            interpreter_language=booking.interpreter_language, phone=booking.phone,
            topics=booking.topics, note=booking.note, extra={"ui": language},
        )  # fmt: skip
        return self._go(draft, TIME, language)

    def _start_callback(self, user: User, language: str) -> list[Reply]:
        tr = self._tr(language)
        waiting = self.bookings.open_callback(user.id)
        if waiting is not None:
            text = tr.gettext("You have already asked to be called back. A counsellor will call you.")
            return [Reply(text, self._menu_row(tr), key="callback_waiting")]
        previous = self.bookings.get_draft(user.id)
        phone = previous.phone if previous is not None else None
        self.bookings.release_hold(user.id)
        draft = Draft(user_id=user.id, step=CB_PHONE, purpose="callback", phone=phone, extra={"ui": language})
        return self._go(draft, CB_PHONE, language)

    # -- moving between steps ----------------------------------------------------------------

    def _go(self, draft: Draft, step: str, language: str, *before: Reply) -> list[Reply]:
        """Store the draft at `step` and show that step (after `before`)."""
        draft = self.bookings.save_draft(draft.but(step=step))
        return [*before, self._render(draft, language)]

    def _back(self, draft: Draft, language: str) -> list[Reply]:
        step = draft.step
        if draft.purpose == "change" and step == TIME:
            self._end(draft)
            upcoming = self.bookings.upcoming_booking(draft.user_id)
            if upcoming is None:
                return [self._contacts_reply_for(draft.user_id, language)]
            return [self._meeting_reply(upcoming, language, self._tr(language).gettext("Your meeting:"))]
        if step in (MODE, CB_PHONE):
            self._end(draft)
            return [self._contacts_reply_for(draft.user_id, language)]
        previous = {
            DESK: MODE,
            LANGUAGE: DESK if draft.mode == "desk" else MODE,
            INTERPRETER: LANGUAGE,
            TIME: LANGUAGE,
            PHONE: TIME,
            TOPICS_STEP: PHONE if draft.mode == "phone" else TIME,
            NOTE: TOPICS_STEP,
            SUMMARY: TIME if draft.purpose == "change" else TOPICS_STEP,
            CB_LANGUAGE: CB_PHONE,
            CB_PART: CB_LANGUAGE,
        }.get(step, MODE)
        if previous in (MODE, DESK, LANGUAGE):
            self.bookings.release_hold(draft.user_id)
            draft = draft.but(slot_id=None, hold_id=None, page=0)
        return self._go(draft, previous, language)

    def _stop(self, draft: Draft, language: str) -> list[Reply]:
        self._end(draft)
        tr = self._tr(language)
        text = (tr.gettext("Stopped. No call-back was requested.") if draft.purpose == "callback"
                else tr.gettext("Stopped. Your meeting is unchanged.") if draft.purpose == "change"
                else tr.gettext("Stopped. Nothing was booked."))  # fmt: skip
        return [Reply(text, self._menu_row(tr), key="booking_stopped")]

    def _end(self, draft: Draft) -> None:
        self.bookings.release_hold(draft.user_id)
        self.bookings.clear_draft(draft.user_id)

    # -- rendering each step -----------------------------------------------------------------

    def _render(self, draft: Draft, language: str) -> Reply:
        """Show the step the draft stands at."""
        tr = self._tr(language)
        nav = (Button(tr.gettext("Back"), "b:back"), Button(tr.gettext("Cancel"), "b:x"))
        step = draft.step
        if step == MODE:
            modes = [Button(tr.gettext(MODE_LABELS[mode]), f"b:m:{mode}") for mode in MODES]
            return Reply(tr.gettext("How would you like to talk with the counsellor?"),
                         (*rows(modes, 1), nav), key="booking_mode")  # fmt: skip
        if step == DESK:
            desks = [Button(tr.gettext(desk.name), f"b:d:{desk.id}") for desk in self.desks]
            return Reply(tr.gettext("Which return desk?"), (*rows(desks, 1), nav), key="booking_desk")
        if step in (LANGUAGE, CB_LANGUAGE):
            return self._language_step(draft, tr, nav)
        if step == INTERPRETER:
            text = tr.gettext("Which language do you speak? Write its name (a word or two). An interpreter"
                              " will join the meeting, and staff are told which language.")  # fmt: skip
            return Reply(text, (nav,), key="booking_interpreter")
        if step == TIME:
            return self._time_step(draft, language, tr, nav)
        if step in (PHONE, CB_PHONE):
            return self._phone_step(draft, tr, nav)
        if step == TOPICS_STEP:
            return self._topics_step(draft, language, tr, nav)
        if step == NOTE:
            text = tr.gettext("Write your note in one message (up to {count} characters). Staff read it"
                              " before the meeting.", count=NOTE_KEPT_CHARS)  # fmt: skip
            return Reply(text, ((Button(tr.gettext("No note"), "b:skip"),), nav), key="booking_note")
        if step == SUMMARY:
            return self._summary_step(draft, language, tr, nav)
        if step == CB_PART:
            parts = (Button(tr.gettext("Morning"), "b:p:morning"),
                     Button(tr.gettext("Afternoon"), "b:p:afternoon"))  # fmt: skip
            return Reply(tr.gettext("When should we call you?"), (parts, nav), key="callback_part")
        logger.warning("A booking draft stood at an unknown step; starting again")
        return Reply(tr.gettext("Let us start again."), self._offer_rows(tr), key="booking_restart")

    def _language_step(self, draft: Draft, tr: Translator, nav: tuple[Button, ...]) -> Reply:
        ui = tr.language
        ordered = sorted(MEETING_LANGUAGES, key=lambda code: code != ui)
        prefix = "b:cl:" if draft.step == CB_LANGUAGE else "b:l:"
        choices = [
            Button(("✓ " if code == ui else "") + native_name(code), prefix + code) for code in ordered
        ]
        layout = list(rows(choices))
        if draft.step == LANGUAGE:
            layout.append((Button(tr.gettext("Another language, with an interpreter"), "b:l:other"),))
        if draft.step == CB_LANGUAGE:
            question = tr.gettext("In which language should the counsellor call you?")
        else:
            question = tr.gettext("In which language would you like the meeting?")
        return Reply(question, (*layout, nav), key="booking_language")

    def _time_step(self, draft: Draft, language: str, tr: Translator, nav: tuple[Button, ...]) -> Reply:
        slots, more = self._page(draft)
        if not slots and draft.page > 0:
            draft = self.bookings.save_draft(draft.but(page=0))
            slots, more = self._page(draft)
        if not slots:
            return self._no_time_reply(language, tr.gettext(
                "There is no free time for this kind of meeting in this language at the moment."),
                nav=nav)  # fmt: skip
        lines = [tr.gettext("Free times (Brussels time). Tap one to keep it for you for {minutes} minutes"
                            " while you finish:", minutes=self.hold_minutes)]  # fmt: skip
        lines += [f"• {format_when(slot.starts_at, language)}" for slot in slots]
        buttons = [(Button(format_slot_label(slot.starts_at, language), f"b:s:{slot.id}"),) for slot in slots]
        pager = []
        if draft.page > 0:
            pager.append(Button(tr.gettext("Earlier dates"), "b:prev"))
        if more:
            pager.append(Button(tr.gettext("Later dates"), "b:more"))
        layout = [*buttons, *([tuple(pager)] if pager else [])]
        layout.append((Button(tr.gettext("None of these suits me"), "b:none"),))
        return Reply("\n".join(lines), (*layout, nav), key="booking_time")

    def _phone_step(self, draft: Draft, tr: Translator, nav: tuple[Button, ...]) -> Reply:
        text = tr.gettext(
            "Which number should the counsellor call? Type it, for example 0470 12 34 56 or"
            " +32 470 12 34 56, or share your number with the button below."
        )
        return Reply(text, (nav,), key="booking_phone", contact_request=True)

    def _topics_step(self, draft: Draft, language: str, tr: Translator, nav: tuple[Button, ...]) -> Reply:
        text = tr.gettext(
            "What would you like to talk about? Tap one or more, then Continue. You can also add a"
            " short note. All of this is optional."
        )
        if draft.note:
            text += "\n\n" + fill(tr, N_("Your note: {note}"), note=draft.note)
        toggles = [Button(("✓ " if code in draft.topics else "") + tr.gettext(label), f"b:t:{code}")
                   for code, label in TOPICS.items()]  # fmt: skip
        note = Button(tr.gettext("Change the note") if draft.note else tr.gettext("Add a note"), "b:note")
        done = Button(tr.gettext("Continue") if draft.topics or draft.note else tr.gettext("Skip"), "b:tdone")
        return Reply(text, (*rows(toggles, 1), (note, done), nav), key="booking_topics")

    def _summary_step(self, draft: Draft, language: str, tr: Translator, nav: tuple[Button, ...]) -> Reply:
        try:
            slot = self.bookings.slot(draft.slot_id) if draft.slot_id is not None else None
        except NotFound:  # removed by staff while the person was reading the summary
            return self._slot_gone(draft, language)
        if slot is None:
            return self._render(draft.but(step=TIME), language)
        lines = ["<b>" + tr.gettext("Please check:") + "</b>"]
        if draft.purpose == "change" and draft.booking_id is not None:
            current = self.bookings.booking(draft.booking_id)
            lines.append(fill(tr, N_("Move your meeting from {old} to {new} (Brussels time)?"),
                              old=format_when(current.starts_at, language),
                              new=format_when(slot.starts_at, language)))  # fmt: skip
        else:
            details = _Details(slot, self._meeting_language(draft, slot), draft.interpreter_language,
                               draft.phone, draft.topics, draft.note)  # fmt: skip
            lines += self._detail_lines(details, language, tr, private=True)
        hold = self.bookings.current_hold(draft.user_id)
        if hold is not None and hold.slot_id == slot.id:
            lines.append(fill(tr, N_("This time is kept for you until {time}."),
                              time=format_clock(hold.expires_at, language)))  # fmt: skip
        confirm = Button(tr.gettext("Confirm"), "b:ok")
        return Reply("\n".join(lines), ((confirm,), nav), key="booking_summary")

    def _slot_gone(self, draft: Draft, language: str) -> Reply:
        """The times again, saying why, in one message (the summary is rendered as one reply)."""
        self.bookings.release_hold(draft.user_id)
        draft = self.bookings.save_draft(draft.but(step=TIME, slot_id=None, hold_id=None, page=0))
        tr = self._tr(language)
        times = self._render(draft, language)
        said = (
            tr.gettext("That time is no longer offered.") + " " + tr.gettext("Here are the next free times.")
        )
        return Reply(f"{said}\n\n{times.text}", times.buttons, key=times.key)

    # -- typed answers -----------------------------------------------------------------------

    def _typed_phone(self, draft: Draft, text: str, language: str) -> list[Reply]:
        try:
            number = parse_phone(text)
        except PhoneError as error:
            return self._phone_failed(draft, error.reason, language)
        return self._phone_taken(draft, number, language)

    def _phone_taken(self, draft: Draft, number: PhoneNumber, language: str) -> list[Reply]:
        tr = self._tr(language)
        said = Reply(fill(tr, N_("Thank you. The number: {number}"), number=number.display),
                     key="booking_phone_read_back")  # fmt: skip
        draft = draft.but(phone=number.e164, phone_tries=0)
        return self._go(draft, CB_LANGUAGE if draft.step == CB_PHONE else TOPICS_STEP, language, said)

    def _phone_failed(self, draft: Draft, reason: str, language: str) -> list[Reply]:
        tr = self._tr(language)
        tries = draft.phone_tries + 1
        draft = self.bookings.save_draft(draft.but(phone_tries=tries))
        if reason == "invalid":
            text = tr.gettext("This does not look like a complete phone number.")
        else:
            text = tr.gettext("I could not read a phone number in your message.")
        text += " " + tr.gettext(
            "Please type it like 0470 12 34 56, or +32 470 12 34 56 for a number abroad."
        )
        nav = (Button(tr.gettext("Back"), "b:back"), Button(tr.gettext("Cancel"), "b:x"))
        if tries >= PHONE_TRIES:
            text += "\n\n" + tr.gettext(
                "If it does not work, you can call the free phone line instead: {phone}.",
                phone=FREE_PHONE_LINE,
            )
        return [Reply(text, (nav,), key="booking_phone_again", contact_request=True)]

    def _typed_note(self, draft: Draft, text: str, language: str) -> list[Reply]:
        tr = self._tr(language)
        note = _CONTROL.sub("", unicodedata.normalize("NFC", text)).strip()
        if not _LETTER_OR_DIGIT.search(note):
            text = tr.gettext("Your note has no words in it. Please write a few words, or tap No note.")
            return [Reply(text, ((Button(tr.gettext("No note"), "b:skip"),),), key="booking_note_empty")]
        before: list[Reply] = []
        if len(note) > NOTE_KEPT_CHARS:
            note = note[:NOTE_KEPT_CHARS].rstrip()
            before.append(Reply(tr.gettext("Your note is long: I kept its first {count} characters. You can"
                                           " tell the rest to the counsellor.", count=NOTE_KEPT_CHARS),
                                key="booking_note_cut"))  # fmt: skip
        return self._go(draft.but(note=note), TOPICS_STEP, language, *before)

    def _typed_interpreter(self, draft: Draft, text: str, language: str) -> list[Reply]:
        tr = self._tr(language)
        name = " ".join(_CONTROL.sub("", text).split())
        if not _LETTER_OR_DIGIT.search(name) or len(name) > INTERPRETER_MAX_CHARS:
            reply = Reply(tr.gettext("Please write only the name of your language, for example Tigrinya."),
                          ((Button(tr.gettext("Back"), "b:back"), Button(tr.gettext("Cancel"), "b:x")),),
                          key="booking_interpreter_again")  # fmt: skip
            return [reply]
        return self._go(draft.but(interpreter_language=name, language=None, page=0), TIME, language)

    # -- slots and booking -------------------------------------------------------------------

    def _languages(self, draft: Draft) -> tuple[str, ...]:
        return (draft.language,) if draft.language else INTERPRETED_LANGUAGES

    def _page(self, draft: Draft) -> tuple[list[Slot], bool]:
        """Return this page's free slots for the draft's mode, desk and language, and whether more follow."""
        if draft.mode is None:
            return [], False
        start = draft.page * PAGE_SIZE
        found: dict[int, Slot] = {}
        for code in self._languages(draft):
            free = self.bookings.free_slots(
                draft.mode, code, desk=draft.desk, limit=start + PAGE_SIZE + 1, user_id=draft.user_id
            )
            found.update((slot.id, slot) for slot in free)
        ordered = sorted(found.values(), key=lambda slot: (slot.starts_at, slot.id))[start:]
        return ordered[:PAGE_SIZE], len(ordered) > PAGE_SIZE

    def _fits(self, draft: Draft, slot: Slot) -> bool:
        return (slot.mode == draft.mode and (draft.mode != "desk" or slot.desk == draft.desk)
                and any(code in slot.languages for code in self._languages(draft)))  # fmt: skip

    def _meeting_language(self, draft: Draft, slot: Slot) -> str:
        if draft.language:
            return draft.language
        ui = str(draft.extra.get("ui", ""))
        for code in (ui, *INTERPRETED_LANGUAGES):
            if code in slot.languages:
                return code
        return slot.languages[0]

    def _take_slot(self, user: User, draft: Draft, slot_id: int, language: str) -> list[Reply] | None:
        try:
            slot = self.bookings.slot(slot_id)
        except NotFound:  # removed by staff (or never offered)
            return self._unavailable(draft, "gone", language)
        if not self._fits(draft, slot):
            return None
        try:
            hold = self.bookings.hold(slot_id, user.id, self.hold_minutes)
        except SlotUnavailable as error:
            return self._unavailable(draft, error.reason, language)
        draft = draft.but(slot_id=slot_id, hold_id=hold.id)
        if draft.purpose == "change":
            return self._go(draft, SUMMARY, language)
        return self._go(draft, PHONE if draft.mode == "phone" and not draft.phone else TOPICS_STEP, language)

    def _unavailable(self, draft: Draft, reason: str, language: str) -> list[Reply]:
        tr = self._tr(language)
        text = {
            "taken": tr.gettext("Sorry, someone else has just booked that time."),
            "held": tr.gettext("Sorry, someone else is booking that time right now."),
            "past": tr.gettext("That time has already passed."),
        }.get(reason, tr.gettext("That time is no longer offered."))
        said = Reply(text + " " + tr.gettext("Here are the next free times."), key="booking_slot_unavailable")
        return self._go(draft.but(slot_id=None, hold_id=None, page=0), TIME, language, said)

    async def _confirm(self, user: User, draft: Draft, language: str) -> list[Reply]:
        tr = self._tr(language)
        if draft.slot_id is None:
            return self._go(draft, TIME, language)
        kind: CardKind
        try:
            if draft.purpose == "change" and draft.booking_id is not None:
                booking = self.bookings.change(draft.booking_id, draft.slot_id)
                kind = "changed"
            else:
                slot = self.bookings.slot(draft.slot_id)
                booking = self.bookings.book(
                    user.id, draft.slot_id, self._meeting_language(draft, slot),
                    interpreter_language=draft.interpreter_language, phone=draft.phone,
                    topics=draft.topics, note=draft.note,
                )  # fmt: skip
                kind = "new"
        except SlotUnavailable as error:
            return self._unavailable(draft, error.reason, language)
        except NotFound:  # the slot was removed by staff since the person chose it
            return self._unavailable(draft, "gone", language)
        except HasBooking as error:
            self._end(draft)
            intro = tr.gettext("You already have a meeting. You can change its time or cancel it:")
            return [self._meeting_reply(error.booking, language, intro)]
        except BookingError as error:
            logger.warning("A booking step was refused: %s", error.reason)
            self._end(draft)
            text = tr.gettext(
                "Sorry, this could not be booked. Please start again, or ask to be called back."
            )
            return [Reply(text, self._offer_rows(tr), key="booking_refused")]
        self.bookings.clear_draft(user.id)
        await self._post(booking_card(kind, booking, self.pseudonym_key))
        heading = (
            tr.gettext("Your meeting is booked.") if kind == "new" else tr.gettext("Your meeting is moved.")
        )
        return [self._confirmation(booking, language, heading)]

    # -- the meeting -------------------------------------------------------------------------

    def _appointment(self, user: User, language: str) -> list[Reply]:
        upcoming = self.bookings.upcoming_booking(user.id)
        tr = self._tr(language)
        if upcoming is None:
            text = tr.gettext("You have no upcoming meeting with a counsellor.")
            return [Reply(text, self._offer_rows(tr), key="appointment_none")]
        return [self._meeting_reply(upcoming, language, tr.gettext("Your meeting:"))]

    def _own_upcoming(self, user: User, argument: str) -> Booking | None:
        """Return the person's upcoming meeting if the button names it (else the data is stale)."""
        upcoming = self.bookings.upcoming_booking(user.id)
        if upcoming is None or parse_id(argument) != upcoming.id:
            return None
        return upcoming

    def _cancel_question(self, booking: Booking, language: str) -> Reply:
        tr = self._tr(language)
        text = fill(tr, N_("Cancel your meeting on {when}?"), when=format_when(booking.starts_at, language))
        buttons = ((Button(tr.gettext("Yes, cancel it"), f"b:cxy:{booking.id}"),
                    Button(tr.gettext("No, keep it"), "b:keep")),)  # fmt: skip
        return Reply(text, buttons, key="meeting_cancel_question")

    async def _cancel_meeting(self, booking: Booking, language: str) -> list[Reply]:
        tr = self._tr(language)
        try:
            cancelled = self.bookings.cancel(booking.id, "person")
        except BookingError:
            return [Reply(tr.gettext("This meeting is no longer upcoming."), self._offer_rows(tr),
                          key="meeting_not_upcoming")]  # fmt: skip
        self.bookings.clear_draft(booking.user_id)
        await self._post(booking_card("cancelled", cancelled, self.pseudonym_key))
        text = tr.gettext("Your meeting is cancelled; the time is free for someone else.")
        return [Reply(text, self._offer_rows(tr), key="meeting_cancelled",
                      attachment=self._ics(cancelled, language))]  # fmt: skip

    def _meeting_reply(self, booking: Booking, language: str, intro: str) -> Reply:
        tr = self._tr(language)
        lines = [intro, *self._detail_lines(_details(booking), language, tr, private=True)]
        buttons = (
            (Button(tr.gettext("Change time"), f"b:chg:{booking.id}"),
             Button(tr.gettext("Cancel meeting"), f"b:cxl:{booking.id}")),
            (Button(tr.gettext("Other ways to reach a person"), "b:info"), Button(tr.gettext("Menu"), MENU)),
        )  # fmt: skip
        return Reply("\n".join(lines), buttons, key="meeting")

    def _confirmation(self, booking: Booking, language: str, heading: str) -> Reply:
        tr = self._tr(language)
        lines = [f"<b>{heading}</b>", *self._detail_lines(_details(booking), language, tr, private=True)]
        if booking.mode == "video":
            lines.append(tr.gettext("The counsellor will tell you how to join the video call."))
        lines += ["", "<b>" + tr.gettext("What to bring") + "</b>", self._what_to_bring(language), "",
                  tr.gettext("To cancel or change the time, send /appointment.")]  # fmt: skip
        return Reply("\n".join(lines), ((Button(tr.gettext("Menu"), MENU),),), key="meeting_confirmed",
                     attachment=self._ics(booking, language))  # fmt: skip

    def _detail_lines(self, details: _Details, language: str, tr: Translator, *, private: bool) -> list[str]:
        """When, how, where, in which language, topics and note (the number and note only if `private`)."""
        slot = details.slot
        lines = [fill(tr, N_("When: {when} (Brussels time)"), when=format_when(slot.starts_at, language))]
        how = tr.gettext(MODE_LABELS[slot.mode])
        if slot.mode == "phone" and details.phone and private:
            lines.append(fill(tr, N_("How: {how}, to {number}"), how=how, number=read_back(details.phone)))
        else:
            lines.append(fill(tr, N_("How: {how}"), how=how))
        desk = self.desks.get(slot.desk)
        if slot.mode == "desk":
            lines.append(fill(tr, N_("Where: {place}"), place=self._place(desk, slot.desk, tr)))
        spoken = language_name(details.language, language)
        if details.interpreter_language:
            lines.append(fill(tr, N_("Language: {language}, with an interpreter for {other}"),
                              language=spoken, other=details.interpreter_language))  # fmt: skip
        else:
            lines.append(fill(tr, N_("Language: {language}"), language=spoken))
        if details.topics:
            names = ", ".join(tr.gettext(TOPICS[code]) for code in details.topics if code in TOPICS)
            lines.append(fill(tr, N_("Topics: {topics}"), topics=names))
        if details.note and private:
            lines.append(fill(tr, N_("Your note: {note}"), note=details.note))
        return lines

    def _place(self, desk: Desk | None, desk_id: str | None, tr: Translator) -> str:
        if desk is None:
            return desk_id or ""
        address = desk.address or tr.gettext("the counsellor will confirm the address")
        return f"{tr.gettext(desk.name)}, {address}"

    def _ics(self, booking: Booking, language: str) -> tuple[str, bytes]:
        tr = self._tr(language)
        details = _Details(booking.slot, booking.language, booking.interpreter_language, None, booking.topics,
                           None)  # fmt: skip
        # The calendar file is plain text: no HTML, no phone number, no note.
        description = "\n".join(
            _plain(line) for line in self._detail_lines(details, language, tr, private=False)
        )
        description += "\n" + tr.gettext("To cancel or change the time, send /appointment.")
        desk = self.desks.get(booking.slot.desk)
        location = _plain(self._place(desk, booking.slot.desk, tr)) if booking.mode == "desk" else None
        data = meeting_ics(booking, desk, tr.gettext("Meeting with a return counsellor"), description,
                           tr.gettext("Return counselling"), location=location)  # fmt: skip
        return ics_filename(booking), data

    def _what_to_bring(self, language: str) -> str:
        """Return the vetted text on what to bring, or a plain interface string until editors write it."""
        if any(self.library.entry(WHAT_TO_BRING, code) is not None for code in (language, "en", "fr")):
            served = self.library.answer(WHAT_TO_BRING, language)
            # The library falls back to the counsellor answer when nothing is servable.
            if served.related != (COUNSELLOR,):
                return served.text if served.note is None else f"<i>{served.note}</i>\n{served.text}"
        return self._tr(language).gettext(
            "Any papers you have about your stay or your journey. The counsellor tells you if anything"
            " else is needed."
        )

    # -- call-backs --------------------------------------------------------------------------

    async def _request_callback(
        self, user: User, draft: Draft, part: PartOfDay, language: str
    ) -> list[Reply]:
        tr = self._tr(language)
        if not draft.phone:
            return self._go(draft, CB_PHONE, language)
        spoken = draft.language or language
        try:
            callback = self.bookings.request_callback(user.id, draft.phone, spoken, part)
        except BookingError as error:
            self._end(draft)
            if error.reason == "has_callback":
                text = tr.gettext("You have already asked to be called back. A counsellor will call you.")
                return [Reply(text, self._menu_row(tr), key="callback_waiting")]
            raise
        self._end(draft)
        await self._post(callback_card(callback, self.pseudonym_key))
        return [self._callback_expectation(draft.phone, spoken, part, language)]

    def _callback_expectation(self, phone: str, spoken: str, part: PartOfDay, language: str) -> Reply:
        tr = self._tr(language)
        lines = [fill(tr, N_("Thank you. A counsellor will call you at {number}, in {language}."),
                      number=read_back(phone), language=language_name(spoken, language))]  # fmt: skip
        try:
            start, end = self.office_hours.callback_window(self.clock.now(), part)
        except OfficeHoursError:
            lines.append(tr.gettext("The office cannot say yet when; it calls as soon as it can."))
        else:
            lines.append(fill(tr, N_("The earliest they can call is {day}, between {start} and {end}"
                                     " (Brussels time)."),
                              day=format_day(start, language), start=format_clock(start, language),
                              end=format_clock(end, language)))  # fmt: skip
        return Reply("\n".join(lines), self._menu_row(tr), key="callback_requested")

    # -- other replies -----------------------------------------------------------------------

    def _no_time_reply(self, language: str, reason: str, *, nav: tuple[Button, ...] | None = None) -> Reply:
        tr = self._tr(language)
        text = reason + " " + tr.gettext("A counsellor can call you back instead, or you can call the free"
                                         " phone line {phone}.", phone=FREE_PHONE_LINE)  # fmt: skip
        layout: list[tuple[Button, ...]] = [(Button(tr.gettext("Ask to be called back"), "b:call"),)]
        layout.append(nav if nav is not None else (Button(tr.gettext("Menu"), MENU),))
        return Reply(text, tuple(layout), key="booking_no_time")

    def _contacts_reply(self, user: User, language: str) -> Reply:
        """The vetted contact details, with booking and call-back (and a booking under way)."""
        tr = self._tr(language)
        served = self.library.answer(COUNSELLOR, language)
        text = served.text if served.note is None else f"<i>{served.note}</i>\n\n{served.text}"
        layout = list(self._offer_rows(tr))
        if self.bookings.get_draft(user.id) is not None:
            layout.insert(0, (Button(tr.gettext("Continue my booking"), "b:resume"),))
        return Reply(text, tuple(layout), key=COUNSELLOR)

    def _contacts_reply_for(self, user_id: str, language: str) -> Reply:
        return self._contacts_reply(User(id=user_id), language)

    def _offer_rows(self, tr: Translator) -> tuple[tuple[Button, ...], ...]:
        return (
            (Button(tr.gettext("Book a meeting"), "b:book"),),
            (Button(tr.gettext("Ask to be called back"), "b:call"),),
            (Button(tr.gettext("Menu"), MENU),),
        )

    def _menu_row(self, tr: Translator) -> tuple[tuple[Button, ...], ...]:
        return ((Button(tr.gettext("Menu"), MENU),),)

    def _stale(self, user: User, draft: Draft | None, language: str) -> list[Reply]:
        """A button from an earlier step, a meeting that changed, or data we never sent."""
        tr = self._tr(language)
        said = Reply(tr.gettext("This button is no longer valid."), key="booking_stale_button")
        if draft is not None:
            return [said, self._render(draft, language)]
        upcoming = self.bookings.upcoming_booking(user.id)
        if upcoming is not None:
            return [said, self._meeting_reply(upcoming, language, tr.gettext("Your meeting:"))]
        return [said, self._contacts_reply(user, language)]

    # -- messages the assistant sends on its own ---------------------------------------------

    def reminder_reply(self, booking: Booking, language: str, kind: str | None = None) -> Reply:
        """The reminder of a meeting (24 hours or 2 hours before), with change and cancel."""
        tr = self._tr(language)
        hours = kind[:-1] if kind and kind.endswith("h") and kind[:-1].isdigit() else None
        intro = (fill(tr, N_("Reminder: your meeting with a counsellor is in {hours} hours."), hours=hours)
                 if hours else tr.gettext("Reminder: your meeting with a counsellor."))  # fmt: skip
        reply = self._meeting_reply(booking, language, f"<b>{intro}</b>")
        return Reply(reply.text, reply.buttons, key="meeting_reminder")

    def staff_change_notice_reply(self, kind: str, booking: Booking, language: str) -> Reply:
        """Tell the person that staff cancelled ("cancelled") or moved ("moved") their meeting."""
        tr = self._tr(language)
        when = format_when(booking.starts_at, language)
        if kind == "moved":
            intro = fill(tr, N_("A counsellor had to move your meeting. The new time is {when}."), when=when)
            reply = self._meeting_reply(booking, language, f"<b>{intro}</b>")
            return Reply(reply.text, reply.buttons, key="meeting_moved_by_staff",
                         attachment=self._ics(booking, language))  # fmt: skip
        text = fill(tr, N_("A counsellor had to cancel your meeting on {when}. We are sorry. You can choose"
                           " another time, or ask to be called back."), when=when)  # fmt: skip
        buttons = ((Button(tr.gettext("Choose another time"), "b:book"),),
                   (Button(tr.gettext("Ask to be called back"), "b:call"),),
                   (Button(tr.gettext("Menu"), MENU),))  # fmt: skip
        return Reply(text, buttons, key="meeting_cancelled_by_staff", attachment=self._ics(booking, language))

    # -- helpers -----------------------------------------------------------------------------

    def _tr(self, language: str) -> Translator:
        return self.library.translator(language)

    def _nav(self, language: str) -> tuple[Button, ...]:
        tr = self._tr(language)
        return (Button(tr.gettext("Back"), "b:back"), Button(tr.gettext("Cancel"), "b:x"))

    def _ui(self, draft: Draft, user: User, fallback: str | None = None) -> str:
        """The language the person reads (kept on the draft), not the meeting's."""
        ui = draft.extra.get("ui")
        if isinstance(ui, str) and ui:
            return ui
        return fallback or user.language or self.default_language

    async def _post(self, card: StaffCard) -> None:
        try:
            await self.board.post(card)
        except Exception:  # the person's booking stands even if the staff chat is down
            logger.exception("Posting a %s card to staff failed", card.kind)


def _details(booking: Booking) -> _Details:
    return _Details(booking.slot, booking.language, booking.interpreter_language, booking.phone,
                    booking.topics, booking.note)  # fmt: skip


def _plain(text: str) -> str:
    """Drop HTML tags and bidi isolates (calendar apps show them as boxes) from an interface line."""
    return html.unescape(_BIDI_ISOLATES.sub("", _TAG.sub("", text)))
