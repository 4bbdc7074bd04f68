"""The assistant's services, created once from settings and shared by every front-end."""

from __future__ import annotations

from dataclasses import dataclass

from bot.booking.desks import DeskFileError, load_desks
from bot.booking.flow import BookingDesk
from bot.booking.staff import NullStaffBoard
from bot.booking.store import BookingStore
from bot.clock import Clock, SystemClock
from bot.content.library import ContentLibrary
from bot.dialogue.core import Dialogue, Policy
from bot.handoff.desk import HandoffDesk
from bot.handoff.service import Handoff
from bot.nlu.cache import CachedNLU
from bot.nlu.client import NLUClient
from bot.nlu.resilient import ResilientNLU
from bot.settings import Settings, SettingsError
from bot.store.db import Store


@dataclass(slots=True)
class Services:
    """Content, store, understanding, bookings and the dialogue that uses them."""

    settings: Settings
    library: ContentLibrary
    store: Store
    nlu_client: NLUClient
    bookings: BookingStore
    booking_desk: BookingDesk
    """Where meetings and call-backs are booked; its `board` is where staff read about bookings."""
    dialogue: Dialogue
    handoff: Handoff
    """Tickets, the queue and live availability (staff handoff)."""
    handoff_desk: HandoffDesk
    """Where "talk to a counsellor" leads: talking now, else the booking desk; its `notifier` tells staff."""

    @classmethod
    def create(cls, settings: Settings, nlu_url: str, *, clock: Clock | None = None) -> Services:
        """Open the store and catalogs and connect to the NLU server at `nlu_url`."""
        clock = clock if clock is not None else SystemClock()
        try:
            desks = load_desks(settings.booking.desks_file)
        except DeskFileError as error:
            raise SettingsError(f"DESKS_FILE: {error}") from None
        library = ContentLibrary(settings.locales_dir, clock=clock, serve_drafts=settings.serve_draft_answers)
        store = Store.open(settings.database_path, clock=clock)
        bookings = BookingStore(store, clock, reminder_hours=settings.booking.reminder_hours)
        # Cards go nowhere until a front-end that can reach staff sets the board (Telegram does
        # when STAFF_CHAT_ID is set); without a pseudonym key there is no staff chat either.
        desk = BookingDesk(
            library,
            bookings,
            desks,
            settings.booking.office_hours,
            hold_minutes=settings.booking.hold_minutes,
            board=NullStaffBoard(),
            pseudonym_key=settings.booking.pseudonym_key or "",
            clock=clock,
            default_language=settings.default_language,
        )
        # The staff handoff: tickets and live conversations in front of the booking desk. Its
        # notifier (the Telegram forum) is set by the front-end when a staff group is configured.
        handoff = Handoff(store, settings.handoff, settings.booking.office_hours, clock)
        handoff_desk = HandoffDesk(library, handoff, desk)
        client = NLUClient(nlu_url, timeout=settings.nlu_timeout)
        dialogue = Dialogue(
            library,
            CachedNLU(ResilientNLU(client), max_entries=settings.nlu_cache_size),
            store,
            desk=handoff_desk,
            default_language=settings.default_language,
            policy=Policy(
                messages_per_minute=settings.user_messages_per_minute,
                retention_days=settings.retention_days,
            ),
        )
        return cls(settings, library, store, client, bookings, desk, dialogue, handoff, handoff_desk)

    async def aclose(self) -> None:
        """Close connections and the database."""
        await self.nlu_client.aclose()
        self.store.close()
