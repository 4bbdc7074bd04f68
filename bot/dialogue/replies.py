"""What the dialogue core says back: text (Telegram-safe HTML) and buttons, nothing Telegram."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Button:
    """A choice the user can tap; `data` comes back in `Dialogue.button`."""

    label: str
    data: str


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to the user."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    key: str | None = None
    """What the text is (an answer's intent, or an interface string's role): logged instead of the text."""
    contact_request: bool = False
    """Offer Telegram's "share my phone number" button (a reply keyboard with request_contact)."""
    attachment: tuple[str, bytes] | None = None
    """A file sent with the message, as (file name, content), e.g. a meeting's .ics; the text stands alone."""

    @property
    def choices(self) -> list[Button]:
        """Return every button, row by row."""
        return [button for row in self.buttons for button in row]


def rows(buttons: list[Button], per_row: int = 2) -> tuple[tuple[Button, ...], ...]:
    """Lay buttons out `per_row` to a row."""
    return tuple(tuple(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row))


# Callback data: short prefixes, so that forged or stale data is easy to recognise.
TOPIC = "t:"
LANGUAGE = "l:"
SWITCH = "s:"
MENU = "menu"
FORGET_YES = "forget:yes"
FORGET_NO = "forget:no"
