"""Where "talk to a counsellor" leads: the plug-in point for booking and live handoff.

Without booking the desk gives the vetted answer on how to reach a person. The booking desk
(`bot.booking.flow.BookingDesk`: meetings and call-backs) or a handoff desk (relay through
the staff group) implements the same protocol and is passed to `Dialogue`; nothing else
changes. A desk keeps its own rows and its own conversation state (where a booking stands)
in its own tables, and registers with `Store.on_forget` to delete them when the user asks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.dialogue.replies import Reply
from bot.store.db import User


class CounsellorDesk(Protocol):
    """Connects a user with a person."""

    async def offer(self, user: User, language: str) -> list[Reply] | None:
        """Return what to say when the user asks for a person (None: the vetted answer)."""
        ...

    async def intercept(self, user: User, text: str) -> list[Reply] | None:
        """Take the user's message when a person owns the conversation (None: the bot answers)."""
        ...

    async def button(self, user: User, data: str, language: str) -> list[Reply] | None:
        """Answer a tap on one of the desk's own buttons (None: not the desk's)."""
        ...

    async def command(self, user: User, name: str, language: str) -> list[Reply] | None:
        """Answer a command the desk handles, e.g. /cancel of a booking under way (None: not the desk's)."""
        ...

    async def contact(self, user: User, phone_number: str, language: str) -> list[Reply] | None:
        """Take a phone number the user shared with Telegram's button (None: no step asked for one)."""
        ...

    def forget(self, user_id: str, language: str) -> AfterForget:
        """Withdraw what the desk holds for the user, inside the transaction that deletes them.

        Return what to do once that transaction is committed (e.g. tell staff that a meeting
        is cancelled): it runs only if the deletion happened, and may await.
        """
        ...


AfterForget = Callable[[], Awaitable[None]]
"""What a desk does after a user's data is deleted."""


async def nothing_to_tell() -> None:
    """After a deletion, nobody has to be told."""


class InformationDesk:
    """Without booking or handoff: the assistant answers with how to reach a counsellor."""

    async def offer(self, user: User, language: str) -> list[Reply] | None:
        """Leave the reply to the vetted `talk_to_counsellor` answer."""
        return None

    async def intercept(self, user: User, text: str) -> list[Reply] | None:
        """Never take over: no conversation is handed to a person yet."""
        return None

    async def button(self, user: User, data: str, language: str) -> list[Reply] | None:
        """No buttons of its own."""
        return None

    async def command(self, user: User, name: str, language: str) -> list[Reply] | None:
        """No commands of its own."""
        return None

    async def contact(self, user: User, phone_number: str, language: str) -> list[Reply] | None:
        """Nothing asks for a phone number."""
        return None

    def forget(self, user_id: str, language: str) -> AfterForget:
        """Nothing is held for anyone."""
        return nothing_to_tell
