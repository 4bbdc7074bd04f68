"""Booking cards for staff in a Telegram chat (STAFF_CHAT_ID): the `StaffBoard` of the private-chat bot.

A card is a few plain-text lines in English (the staff's working language here): the
pseudonymous reference, language, mode, time in Brussels, desk, topics, the interpreter's
language, and the phone number only where the mode needs it. Never the person's Telegram
name or id: the card is built from a `StaffCard`, which has neither. Plain text, so that a
language name the person typed cannot break the message's markup.
"""

from __future__ import annotations

import logging

from telegram import Bot

from bot.booking.brussels import format_brussels
from bot.booking.staff import StaffCard

logger = logging.getLogger(__name__)

_HEADINGS = {
    "new": "New meeting",
    "changed": "Meeting moved",
    "cancelled": "Meeting cancelled",
    "callback": "Call-back requested",
    "forgotten": "Person deleted their data",
}
_MODES = {"phone": "phone call", "video": "video call", "desk": "in person"}


def card_text(card: StaffCard) -> str:
    """Return the card's lines as staff read them."""
    lines = [f"{_HEADINGS[card.kind]} · {card.reference}"]
    if card.kind == "cancelled" and card.cancelled_by:
        lines[0] += f" (by {card.cancelled_by})"
    details = [f"language {card.language}"]
    if card.mode is not None:
        details.append(_MODES.get(card.mode, card.mode))
    if card.desk:
        details.append(f"desk {card.desk}")
    lines.append(", ".join(details))
    if card.starts_at is not None:
        length = f", {card.minutes} min" if card.minutes else ""
        lines.append(f"{format_brussels(card.starts_at)} Brussels time{length}")
    if card.part_of_day is not None:
        lines.append(f"call in the {card.part_of_day}")
    if card.interpreter_language:
        lines.append(f"interpreter for: {card.interpreter_language}")
    if card.topics:
        lines.append("topics: " + ", ".join(card.topics))
    if card.phone:
        lines.append(f"phone: {card.phone}")
    if card.booking_id is not None:
        lines.append(f"bot bookings show {card.booking_id}")
    elif card.callback_id is not None:
        lines.append("bot callbacks list")
    return "\n".join(lines)


class TelegramStaffBoard:
    """Posts each card to the staff chat, through the bot (and so its rate limiter)."""

    def __init__(self, bot: Bot, chat_id: int) -> None:
        self.bot = bot
        self.chat_id = chat_id

    async def post(self, card: StaffCard) -> None:
        """Send `card` to the staff chat as plain text."""
        await self.bot.send_message(self.chat_id, card_text(card), disable_web_page_preview=True)
        logger.info("Posted a %s card to the staff chat", card.kind)
