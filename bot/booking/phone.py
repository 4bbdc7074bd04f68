"""Phone numbers as people type or share them, checked with `phonenumbers` (Belgian by default).

Never log what this module reads: a phone number is personal data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import phonenumbers

DEFAULT_REGION = "BE"
# Longer than any number with spaces, dots and a prefix: longer text is a message, not a number.
_MAX_CHARS = 40
# Letters people add around a number ("tel:", "+32 (0)470…", bidi marks pasted from RTL text).
_NOISE = re.compile(r"[\u200e\u200f\u2066-\u2069\u202a-\u202e\u00a0]")
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_ALLOWED = re.compile(r"^[+\d\s().\-/]+$")

PhoneProblem = Literal["empty", "not_a_number", "invalid"]


class PhoneError(ValueError):
    """The text is not a phone number we can call; `reason` says why, for the reply."""

    def __init__(self, reason: PhoneProblem) -> None:
        super().__init__(reason)
        self.reason: PhoneProblem = reason


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A valid number: E.164 to store and dial, and the international format to read back."""

    e164: str
    display: str


def parse_phone(text: str, region: str = DEFAULT_REGION) -> PhoneNumber:
    """Parse a typed number (0470 12 34 56, +32 470…, 0032…, Persian or Arabic digits)."""
    cleaned = _NOISE.sub(" ", text).translate(_DIGITS).strip()
    if cleaned.lower().startswith("tel:"):
        cleaned = cleaned[4:].strip()
    if not cleaned:
        raise PhoneError("empty")
    if len(cleaned) > _MAX_CHARS or not _ALLOWED.match(cleaned) or cleaned.count("+") > 1:
        raise PhoneError("not_a_number")
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        raise PhoneError("not_a_number") from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneError("invalid")
    return PhoneNumber(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        display=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
    )


def parse_shared_contact(phone_number: str) -> PhoneNumber:
    """Parse the number of a contact shared with Telegram's button (often digits without "+")."""
    text = phone_number.strip()
    if text and not text.startswith(("+", "0")):
        text = "+" + text
    return parse_phone(text)


def read_back(e164: str) -> str:
    """Return a stored E.164 number in the international format, for reading back."""
    return parse_phone(e164).display
