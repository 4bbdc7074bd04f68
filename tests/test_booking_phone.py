"""Phone numbers typed or shared in the common ways, read back in the international format."""

from __future__ import annotations

import pytest

from bot.booking.phone import PhoneError, parse_phone, parse_shared_contact, read_back


@pytest.mark.parametrize(
    "typed",
    [
        "0470 12 34 56",
        "0470123456",
        "0470.12.34.56",
        "0470-12-34-56",
        "0470/12.34.56",
        "+32 470 12 34 56",
        "+32 (0)470 12 34 56",
        "0032 470 12 34 56",
        "۰۴۷۰ ۱۲ ۳۴ ۵۶",  # Persian digits
        "٠٤٧٠١٢٣٤٥٦",  # Arabic-Indic digits
        "\u2066+32 470 12 34 56\u2069",  # pasted from a right-to-left text
        "tel:+32470123456",
    ],
)
def test_phone_parse_belgian_mobile_in_common_formats(typed: str) -> None:
    number = parse_phone(typed)
    assert number.e164 == "+32470123456"
    assert number.display == "+32 470 12 34 56"


def test_phone_parse_belgian_landline() -> None:
    assert parse_phone("02 511 11 11").e164 == "+3225111111"


def test_phone_parse_accepts_international_numbers() -> None:
    number = parse_phone("+98 912 345 6789")
    assert number.e164 == "+989123456789"
    assert number.display == "+98 912 345 6789"
    assert parse_phone("0098 912 345 6789").e164 == "+989123456789"


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("my number is 0470", "not_a_number"),
        ("0470 12 34 56 " * 5, "not_a_number"),
        ("++32470123456", "not_a_number"),
        ("12345", "invalid"),
        ("0470 12 34", "invalid"),
        ("+32 0000000000", "invalid"),
    ],
)
def test_phone_parse_refuses_what_is_not_a_callable_number(typed: str, reason: str) -> None:
    with pytest.raises(PhoneError) as caught:
        parse_phone(typed)
    assert caught.value.reason == reason


@pytest.mark.parametrize("shared", ["32470123456", "+32470123456"])
def test_phone_shared_contact_without_plus_is_international(shared: str) -> None:
    assert parse_shared_contact(shared).e164 == "+32470123456"


def test_phone_read_back_formats_a_stored_number() -> None:
    assert read_back("+32470123456") == "+32 470 12 34 56"
