"""`bot chat`: the same dialogue core in a terminal; buttons become numbered choices.

A file a reply carries (a meeting's .ics) is saved beside the database, in chat-downloads/,
and its path printed. Telegram's "share my phone number" button has no terminal twin: the
person types the number. The development database gets a week of example meeting times
when it has none open, so that booking can be tried at once; a database where staff opened
times is left alone, and `bot run` never adds any.
"""

from __future__ import annotations

import asyncio
import html
import re
import sys
from collections.abc import Awaitable, Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import TextIO

from bot.booking.example_slots import seed_example_slots
from bot.booking.store import BookingStore
from bot.dialogue.core import COMMANDS, Dialogue
from bot.dialogue.replies import Button, Reply
from bot.nlu.service import nlu_service
from bot.settings import Settings
from bot.startup import check_before_start, open_services

CONSOLE_USER = "console:local"


class _PlainText(HTMLParser):
    """Telegram HTML to terminal text: bold kept as ANSI, links followed by their address."""

    def __init__(self, ansi: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.ansi = ansi
        self.parts: list[str] = []
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("b", "strong") and self.ansi:
            self.parts.append("\033[1m")
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("b", "strong") and self.ansi:
            self.parts.append("\033[0m")
        if tag == "a" and self._href:
            self.parts.append(f" ({self._href})")
            self._href = None

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def to_terminal(text: str, *, ansi: bool = False) -> str:
    """Render a reply's HTML for a terminal."""
    parser = _PlainText(ansi)
    parser.feed(text)
    parser.close()
    return html.unescape("".join(parser.parts))


def render(reply: Reply, *, ansi: bool = False) -> str:
    """Render a reply with its buttons as numbered choices."""
    lines = [to_terminal(reply.text, ansi=ansi)]
    lines.extend(f"  [{number}] {button.label}" for number, button in enumerate(reply.choices, 1))
    return "\n".join(lines)


class ConsoleChat:
    """Turns terminal lines into dialogue events: a number taps the last reply's button."""

    def __init__(
        self, dialogue: Dialogue, out: TextIO, *, ansi: bool = False, downloads: Path | None = None
    ) -> None:
        self.dialogue = dialogue
        self.out = out
        self.ansi = ansi
        self.downloads = downloads
        """Where files that replies carry are saved (None: not saved, only named)."""
        self.choices: list[Button] = []

    def show(self, replies: list[Reply]) -> None:
        """Print replies (and save their files); remember the buttons of the last one that had any."""
        for reply in replies:
            self.out.write("\n" + render(reply, ansi=self.ansi) + "\n")
            if reply.attachment is not None:
                self.out.write(self._save(*reply.attachment) + "\n")
            if reply.choices:
                self.choices = reply.choices
        self.out.flush()

    def _save(self, filename: str, data: bytes) -> str:
        """Save a reply's file and say where it is."""
        if self.downloads is None:
            return f"(file: {filename})"
        self.downloads.mkdir(parents=True, exist_ok=True)
        path = self.downloads / Path(filename).name  # the name alone: never a path of the reply's
        path.write_bytes(data)
        return f"(file saved: {path})"

    async def begin(self, language: str | None) -> None:
        """Open the conversation: language menu, or straight in with `language`."""
        self.show(await self.dialogue.start(CONSOLE_USER, payload=language))

    async def handle(self, line: str) -> None:
        """Handle one line typed by the user."""
        line = line.strip()
        if not line:
            return
        if line.isdigit() and 1 <= int(line) <= len(self.choices):
            self.show(await self.dialogue.button(CONSOLE_USER, self.choices[int(line) - 1].data))
            return
        command = re.fullmatch(r"/(\w+)(?:\s+(\S+))?", line)
        if command and command.group(1) in COMMANDS:
            name, argument = command.group(1), command.group(2)
            if name == "start":
                self.show(await self.dialogue.start(CONSOLE_USER, payload=argument))
            else:
                self.show(await self.dialogue.command(CONSOLE_USER, name))
            return
        self.show(await self.dialogue.text(CONSOLE_USER, line))


def _open_example_slots(bookings: BookingStore, database: Path) -> None:
    """Open a week of example times in a development database that has none open."""
    if any(not slot.example for slot in bookings.list_slots(include_removed=True)):
        # Staff opened times here: a real service's database, where examples would be offered
        # to real people. Leave it alone.
        return
    added = seed_example_slots(bookings)
    if added:
        print(f"Opened {added} example meeting times in {database} to try booking with.", file=sys.stderr)


async def _read_lines(prompt: str, handle: Callable[[str], Awaitable[None]]) -> None:
    while True:
        try:
            line = await asyncio.to_thread(input, prompt)
        except EOFError:
            return
        if line.strip().lower() in ("/quit", "/exit"):
            return
        await handle(line)


async def run_console(settings: Settings, *, language: str | None = None) -> int:
    """Run the chat until end of input or /quit."""
    check_before_start(settings, telegram=False)
    print("Starting the assistant (the language model takes a few seconds to load) …", file=sys.stderr)
    async with nlu_service(settings) as url:
        services = open_services(settings, url)
        try:
            _open_example_slots(services.bookings, settings.database_path)
            downloads = settings.database_path.parent / "chat-downloads"
            chat = ConsoleChat(services.dialogue, sys.stdout, ansi=sys.stdout.isatty(), downloads=downloads)
            print("Type your question, a number to choose, /help, or /quit to leave.")
            await chat.begin(language)
            await _read_lines("\n> ", chat.handle)
        finally:
            await services.aclose()
    return 0
