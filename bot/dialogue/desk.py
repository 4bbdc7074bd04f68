"""Where "talk to a counsellor" leads: the plug-in point for booking and live handoff.

Today the desk gives the vetted answer on how to reach a person. A booking desk (slots by
mode, place and language) or a handoff desk (relay through the staff group) implements the
same protocol and is passed to `Dialogue`; nothing else changes. A desk keeps its own rows
and its own conversation state (where a booking stands) in its own tables, and registers
with `Store.on_forget` to delete them when the user asks.
"""

from __future__ import annotations

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


class InformationDesk:
    """No booking or handoff yet: the assistant answers with how to reach a counsellor."""

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
