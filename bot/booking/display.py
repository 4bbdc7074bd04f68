"""Meeting times as a reader of each language expects them, always in Brussels time.

Farsi readers get Persian digits and the Solar Hijri date (jdatetime) beside the Gregorian
one, which Belgian letters carry: "پنج‌شنبه ۱۹ آذر ۱۴۰۵ (10 December 2026 / ۱۰ دسامبر ۲۰۲۶)،
ساعت ۱۴:۰۰". Latin runs are isolated left-to-right so the line keeps its order.
"""

from __future__ import annotations

import html
import logging
from datetime import date, datetime

import jdatetime  # type: ignore[import-untyped]  # no stubs; only its date conversion is used
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_skeleton, format_time

from bot.clock import BRUSSELS
from bot.content.i18n import RTL_LANGUAGES, format_appointment, isolate_ltr
from bot.content.library import Translator

logger = logging.getLogger(__name__)

FSI, PDI = "\u2068", "\u2069"
"""FIRST STRONG ISOLATE: a value takes the direction of its first letter (Persian or Latin)."""

_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_FORMAT_LOCALES = {"fr": "fr_BE", "nl": "nl_BE", "en": "en_GB", "fa": "fa"}
_JALALI_MONTHS = jdatetime.date.j_months_fa
_JALALI_WEEKDAYS = jdatetime.date.j_weekdays_fa  # Saturday first


def _locale(language: str) -> str:
    code = _FORMAT_LOCALES.get(language, language)
    try:
        Locale.parse(code)
    except (UnknownLocaleError, ValueError):
        return "en_GB"
    return code


def persian_digits(text: str) -> str:
    """Write Western digits as Persian ones."""
    return text.translate(_PERSIAN_DIGITS)


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("meeting times must be timezone-aware")
    return moment.astimezone(BRUSSELS)


def jalali_date(day: date) -> str:
    """Return the Solar Hijri date with its weekday, in Persian: "پنج‌شنبه ۱۹ آذر ۱۴۰۵"."""
    jalali = jdatetime.date.fromgregorian(date=day)
    weekday = _JALALI_WEEKDAYS[jalali.weekday()]
    return persian_digits(f"{weekday} {jalali.day} {_JALALI_MONTHS[jalali.month - 1]} {jalali.year}")


def _farsi_day(day: date) -> str:
    latin = format_date(day, "d MMMM y", locale="en_GB")
    persian = persian_digits(format_date(day, "d MMMM y", locale="fa"))
    return f"{jalali_date(day)} ({isolate_ltr(latin)} / {persian})"


def format_day(moment: datetime, language: str) -> str:
    """Return the weekday and date of `moment` in Brussels (Farsi: Solar Hijri and Gregorian)."""
    day = _local(moment).date()
    if language == "fa":
        return _farsi_day(day)
    return format_date(day, "full", locale=_locale(language))


def format_clock(moment: datetime, language: str) -> str:
    """Return the time of day of `moment` in Brussels, 24-hour ("14:00", Farsi "۱۴:۰۰")."""
    text = format_time(_local(moment), "HH:mm", locale=_locale(language))
    return persian_digits(text) if language == "fa" else text


def format_when(moment: datetime, language: str) -> str:
    """Return weekday, date and time of a meeting in Brussels time, for a reader of `language`."""
    if language == "fa":
        return f"{_farsi_day(_local(moment).date())}، ساعت {format_clock(moment, language)}"
    return format_appointment(moment, _locale(language).split("_")[0])


def format_slot_label(moment: datetime, language: str) -> str:
    """Return a short label for a time button: "Thu 10 Dec, 14:00" (Farsi with both calendars)."""
    local = _local(moment)
    if language == "fa":
        jalali = jdatetime.date.fromgregorian(date=local.date())
        gregorian = persian_digits(format_date(local.date(), "d MMMM", locale="fa"))
        day = persian_digits(
            f"{_JALALI_WEEKDAYS[jalali.weekday()]} {jalali.day} {_JALALI_MONTHS[jalali.month - 1]}"
        )
        return f"{day} ({gregorian})، {format_clock(moment, language)}"
    day_text = format_skeleton("MMMEd", local, locale=_locale(language))
    return f"{day_text}, {format_clock(moment, language)}"


def fill(tr: Translator, msgid: str, /, **values: str | int) -> str:
    """Translate `msgid` and fill in values already formatted for the reader.

    Unlike `Translator.gettext`, which isolates values left-to-right (right for numbers,
    wrong for a Persian date), each value here takes the direction of its first letter.
    Values are HTML-escaped; a translation with a broken placeholder falls back to English.
    """
    text = tr.gettext(msgid)
    rtl = tr.language in RTL_LANGUAGES
    escaped = {name: _bidi(html.escape(str(value)), rtl) for name, value in values.items()}
    try:
        return text.format(**escaped)
    except (KeyError, IndexError, ValueError):
        logger.error("Broken placeholder in the %s translation of %r", tr.language, msgid)
        return msgid.format(**escaped)


def _bidi(value: str, rtl: bool) -> str:
    return f"{FSI}{value}{PDI}" if rtl and value else value
