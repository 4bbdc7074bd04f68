"""The vetted `what_to_bring` entry: in every language's catalog, and in the booking's confirmation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import write_po

from bot.booking.desks import load_desks
from bot.booking.flow import WHAT_TO_BRING, BookingDesk
from bot.booking.hours import OfficeHours
from bot.booking.store import BookingStore
from bot.clock import FixedClock
from bot.content.catalog import ANSWERS_DOMAIN, catalog_path, read_catalog
from bot.content.library import ContentLibrary
from bot.dialogue.replies import Reply
from bot.nlu.intents import LANGUAGES
from bot.store.db import Store, User

# Monday 7 December 2026, 10:00 in Brussels; the meeting on Thursday at 14:00.
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
THURSDAY_2PM = datetime(2026, 12, 10, 13, 0, tzinfo=UTC)
# The interface string the flow shows while no vetted entry can be served.
FALLBACK = "Any papers you have about your stay or your journey."


async def confirmation(tmp_path: Path, library: ContentLibrary, language: str) -> Reply:
    """Book a video meeting in `language` through the desk's buttons; return the confirmation."""
    clock = FixedClock(NOW)
    store = Store.open(tmp_path / f"{language}.db", clock=clock)
    try:
        bookings = BookingStore(store, clock)
        slot = bookings.add_slot(THURSDAY_2PM, 45, "video", (language,))
        desk = BookingDesk(library, bookings, load_desks(), OfficeHours.parse("Mon-Fri 09:00-16:00"),
                           pseudonym_key="k" * 32, clock=clock)  # fmt: skip
        person = User(id=f"person-{language}", language=language)
        replies: list[Reply] = []
        for data in ("b:book", "b:m:video", f"b:l:{language}", f"b:s:{slot.id}", "b:tdone", "b:ok"):
            replies = await desk.button(person, data, language) or []
        assert bookings.upcoming_booking(person.id) is not None
        [reply] = replies
        return reply
    finally:
        store.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_what_to_bring_is_written_in_every_language(library: ContentLibrary, language: str) -> None:
    entry = library.entry(WHAT_TO_BRING, language)
    assert entry is not None and entry.text and entry.review.facts and entry.review.source
    served = library.answer(WHAT_TO_BRING, language)
    assert (served.language, served.note) == (language, None)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_what_to_bring_confirmation_shows_the_vetted_entry(
    tmp_path: Path, library: ContentLibrary, language: str
) -> None:
    reply = await confirmation(tmp_path, library, language)
    assert library.answer(WHAT_TO_BRING, language).text in reply.text
    assert FALLBACK not in reply.text


async def test_what_to_bring_confirmation_falls_back_to_an_interface_string_without_the_entry(
    tmp_path: Path, locales_copy: Path
) -> None:
    for language in LANGUAGES:
        path = catalog_path(locales_copy, language, ANSWERS_DOMAIN)
        catalog = read_catalog(path, language)
        catalog.delete(WHAT_TO_BRING)
        with path.open("wb") as handle:
            write_po(handle, catalog, width=0)
    without = ContentLibrary(locales_copy, clock=FixedClock(NOW), serve_drafts=True)
    reply = await confirmation(tmp_path, without, "en")
    assert FALLBACK in reply.text
    assert "I cannot show a checked answer" not in reply.text
