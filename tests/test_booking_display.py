"""Meeting times for each reader: Brussels time, Persian digits and the Solar Hijri date in Farsi."""

from __future__ import annotations

from datetime import UTC, date, datetime

import jdatetime  # type: ignore[import-untyped]
import pytest

from bot.booking.display import (
    FSI,
    PDI,
    fill,
    format_clock,
    format_day,
    format_slot_label,
    format_when,
    jalali_date,
)
from bot.content.i18n import LRI
from bot.content.library import Translator

# Thursday 10 December 2026, 14:00 in Brussels (winter: UTC+1).
MEETING = datetime(2026, 12, 10, 13, 0, tzinfo=UTC)


def test_jalali_date_matches_jdatetime() -> None:
    converted = jdatetime.date.fromgregorian(date=date(2026, 12, 10))
    assert (converted.year, converted.month, converted.day) == (1405, 9, 19)  # 19 Azar 1405
    assert jalali_date(date(2026, 12, 10)) == "پنج\u200cشنبه ۱۹ آذر ۱۴۰۵"


def test_jalali_date_at_nowruz() -> None:
    # 21 March 2027 is 1 Farvardin 1406 (a Sunday).
    assert jalali_date(date(2027, 3, 21)) == "یک\u200cشنبه ۱ فروردین ۱۴۰۶"


def test_format_when_in_farsi_shows_both_calendars_with_persian_digits() -> None:
    text = format_when(MEETING, "fa")
    assert text.startswith("پنج\u200cشنبه ۱۹ آذر ۱۴۰۵")
    assert f"{LRI}10 December 2026{PDI}" in text  # the Gregorian date as Belgian letters write it
    assert "۱۰ دسامبر ۲۰۲۶" in text
    assert text.endswith("ساعت ۱۴:۰۰")
    assert not any(digit in text.replace("10 December 2026", "") for digit in "0123456789")


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("fr", "jeudi 10 décembre 2026, 14:00"),
        ("nl", "donderdag 10 december 2026, 14:00"),
        ("en", "Thursday, 10 December 2026, 14:00"),
    ],
)
def test_format_when_in_brussels_time(language: str, expected: str) -> None:
    assert format_when(MEETING, language) == expected


def test_format_when_follows_summer_time() -> None:
    summer = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)  # 14:00 in Brussels (UTC+2)
    assert format_when(summer, "en") == "Tuesday, 1 June 2027, 14:00"
    assert format_clock(summer, "fa") == "۱۴:۰۰"


def test_format_when_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        format_when(datetime(2026, 12, 10, 14, 0), "en")


def test_format_slot_label_is_short() -> None:
    assert format_slot_label(MEETING, "en") == "Thu 10 Dec, 14:00"
    assert format_slot_label(MEETING, "fa") == "پنج\u200cشنبه ۱۹ آذر (۱۰ دسامبر)، ۱۴:۰۰"
    for language in ("fa", "fr", "nl", "en"):
        assert len(format_slot_label(MEETING, language)) <= 40


def test_format_day_without_time() -> None:
    assert format_day(MEETING, "nl") == "donderdag 10 december 2026"
    assert "۱۹ آذر ۱۴۰۵" in format_day(MEETING, "fa")


def test_format_when_in_an_unknown_language_falls_back_to_english_formats() -> None:
    assert format_when(MEETING, "xx") == "Thursday, 10 December 2026, 14:00"


def test_fill_isolates_values_by_their_first_letter_in_farsi() -> None:
    tr = Translator("fa", {"Your meeting: {when}": "دیدار شما: {when}"})
    text = fill(tr, "Your meeting: {when}", when=format_when(MEETING, "fa"))
    assert text.startswith(f"دیدار شما: {FSI}پنج")
    assert text.endswith(f"۱۴:۰۰{PDI}")


def test_fill_escapes_html_and_leaves_ltr_languages_alone() -> None:
    tr = Translator("en", {})
    assert fill(tr, "Note: {note}", note="<b>hi</b>") == "Note: &lt;b&gt;hi&lt;/b&gt;"


def test_fill_survives_a_broken_translation() -> None:
    tr = Translator("fr", {"At {when}": "À {quand}"})
    assert fill(tr, "At {when}", when="14:00") == "At 14:00"
