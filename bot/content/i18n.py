"""Locale negotiation and locale-aware formatting (Babel), with the locale passed explicitly."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.numbers import format_currency, format_decimal

BRUSSELS = ZoneInfo("Europe/Brussels")

# Telegram sends IETF tags (fa-IR, nl-BE); Dari has its own code, prs, and is written in
# Persian script: its speakers read our fa texts.
_ALIASES = {"prs": "fa", "fa_af": "fa", "pes": "fa", "fla": "nl", "vls": "nl"}

LRI, PDI = "\u2066", "\u2069"
"""LEFT-TO-RIGHT ISOLATE and POP DIRECTIONAL ISOLATE: keep numbers and URLs readable in RTL."""

_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_LTR_RUN = re.compile(r"https?://\S+|[0-9A-Za-z€$@+][0-9A-Za-z€$@+.,:/ -]*[0-9A-Za-z€$]")
# Locales we format for: Belgian variants where Babel has them.
_FORMAT_LOCALES = {"fr": "fr_BE", "nl": "nl_BE", "en": "en_GB", "fa": "fa"}
RTL_LANGUAGES = frozenset({"fa", "ar", "ps", "ur", "he", "ckb"})


def negotiate_language(language_code: str | None, available: Iterable[str], default: str = "en") -> str:
    """Return the available language closest to Telegram's `language_code`, else `default`."""
    available = list(available)
    if not language_code:
        return default
    tag = language_code.strip().replace("-", "_").lower()
    if tag in _ALIASES:
        tag = _ALIASES[tag]
    try:
        locale = Locale.parse(tag)
    except (UnknownLocaleError, ValueError, TypeError):
        language = tag.split("_", 1)[0]
        language = _ALIASES.get(language, language)
        return language if language in available else default
    language = _ALIASES.get(locale.language, locale.language)
    return language if language in available else default


def native_name(language: str) -> str:
    """Return a language's name in that language (فارسی, Français, Nederlands, English)."""
    try:
        name = Locale.parse(language).get_display_name(language)
    except (UnknownLocaleError, ValueError, TypeError):
        return language
    return name[:1].upper() + name[1:] if name else language


def isolate_ltr(text: str) -> str:
    """Wrap `text` in a left-to-right isolate so it keeps its order inside RTL text."""
    return f"{LRI}{text}{PDI}"


def isolate_ltr_runs(text: str) -> str:
    """Isolate every run of digits, Latin letters and URLs in an RTL text (idempotent)."""
    if LRI in text:
        return text
    return _LTR_RUN.sub(lambda match: isolate_ltr(match.group(0)), text)


def _locale(language: str) -> str:
    return _FORMAT_LOCALES.get(language, language)


def _native_digits(language: str, text: str) -> str:
    return text.translate(_PERSIAN_DIGITS) if language == "fa" else text


def format_appointment(moment: datetime, language: str) -> str:
    """Format an appointment's date and time in Brussels time, as a reader of `language` expects."""
    if moment.tzinfo is None:
        raise ValueError("appointment times must be timezone-aware")
    # Babel's "full" time includes the zone name, noise here: every meeting is in Belgium.
    pattern = _pattern_without_zone(language)
    text = format_datetime(moment, pattern, tzinfo=BRUSSELS, locale=_locale(language))
    return _native_digits(language, text)


def _pattern_without_zone(language: str) -> str:
    locale = Locale.parse(_locale(language))
    date = locale.date_formats["full"].pattern
    time = locale.time_formats["short"].pattern
    return str(locale.datetime_formats["full"]).replace("{1}", date).replace("{0}", time)


def format_amount(amount: Decimal | int, language: str, currency: str = "EUR") -> str:
    """Format a sum of money for `language`; isolated left-to-right inside RTL text."""
    text = format_currency(amount, currency, locale=_locale(language), numbering_system="default")
    if language in RTL_LANGUAGES:
        return isolate_ltr(_native_digits(language, text))
    return text


def format_number(number: Decimal | int | float, language: str) -> str:
    """Format a number with the separators and digits of `language`."""
    text = format_decimal(number, locale=_locale(language), numbering_system="default")
    return _native_digits(language, text)
