"""Text normalisation shared by NLU training and parsing.

This module is the single definition: the Rasa component `nlu.components.TextNormalizer`
calls `normalize` on every training example and on every message it parses, so both
paths see exactly the same text. It must stay importable on Python 3.10 (the Rasa
environment) and use the standard library only.
"""

from __future__ import annotations

import re
import unicodedata

# Arabic-keyboard letters and forms to their Persian equivalents.
_ARABIC_TO_PERSIAN = str.maketrans(
    {
        "\u064a": "\u06cc",  # ي ARABIC YEH -> ی FARSI YEH
        "\u0649": "\u06cc",  # ى ALEF MAKSURA -> ی
        "\u0643": "\u06a9",  # ك ARABIC KAF -> ک KEHEH
        "\u0629": "\u0647",  # ة TEH MARBUTA -> ه
        "\u06c0": "\u0647",  # ۀ HEH WITH YEH ABOVE -> ه
        "\u0623": "\u0627",  # أ -> ا
        "\u0625": "\u0627",  # إ -> ا
        "\u0671": "\u0627",  # ٱ -> ا
        "\u0624": "\u0648",  # ؤ -> و
        "\u061f": "?",  # ؟ ARABIC QUESTION MARK
        "\u060c": ",",  # ، ARABIC COMMA
        "\u061b": ";",  # ؛ ARABIC SEMICOLON
        "\u066a": "%",  # ٪ ARABIC PERCENT SIGN
    }
)

# Persian (U+06F0..9) and Arabic-Indic (U+0660..9) digits to ASCII.
_DIGITS = str.maketrans(
    {**{chr(0x06F0 + i): str(i) for i in range(10)}, **{chr(0x0660 + i): str(i) for i in range(10)}}
)

_ZWNJ = "\u200c"
# Characters that change nothing a reader sees: bidi controls, zero-width marks,
# variation selectors, the Arabic tatweel used to stretch words (سلاااام, سلـــام).
_INVISIBLE = re.compile("[\u200b\u200d\u200e\u200f\u202a-\u202e\u2060-\u2069\ufeff\ufe00-\ufe0f\u0640\u061c]")
# The verbal prefixes and plural/comparative suffixes that people write glued, with a
# ZWNJ, or with a space: می‌خوام = میخوام = می خوام.
_PREFIX_SPACE = re.compile(r"(?<![\w])(ن?می) (?=[\u0600-\u06ff])")
_SUFFIX_SPACE = re.compile(r"(?<=[\u0600-\u06ff]) (ها|های|هایی|هام|هاتون|هامون|تر|ترین)(?![\w])")
# A letter repeated three or more times is one letter stretched for emphasis (salaaaam, merciii).
_ELONGATION = re.compile(r"([^\W\d_])\1{2,}")
_SPACES = re.compile(r"\s+")


def _is_symbol(char: str) -> bool:
    """Return whether `char` is an emoji or pictograph rather than text."""
    category = unicodedata.category(char)
    return category in ("So", "Sk", "Cs", "Co", "Cn") or (category == "Cc" and char not in "\t\n")


def normalize(text: str) -> str:
    """Return the canonical form of a user's message for the NLU model."""
    text = text.replace(_ZWNJ, "")
    text = _INVISIBLE.sub("", text)
    # NFKD splits accents (é -> e + ´) and compatibility forms (ﻻ, full-width letters);
    # dropping the combining marks folds French accents and Arabic diacritics alike.
    decomposed = unicodedata.normalize("NFKD", text)
    text = "".join(" " if _is_symbol(c) else c for c in decomposed if unicodedata.category(c) != "Mn")
    text = text.translate(_ARABIC_TO_PERSIAN).translate(_DIGITS).casefold()
    text = _ELONGATION.sub(r"\1", text)
    text = _SPACES.sub(" ", text).strip()
    text = _PREFIX_SPACE.sub(r"\1", text)
    return _SUFFIX_SPACE.sub(r"\1", text)
