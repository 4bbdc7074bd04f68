"""The safety and neutrality rules of `locales/rules.toml`, and how a text is held to them."""

from __future__ import annotations

import html
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import phonenumbers

RULES_FILE = "rules.toml"

_TAG = re.compile(r"<[^>]*>")
_INVISIBLE = re.compile("[\u2066-\u2069\u200e\u200f\u202a-\u202e]")
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_ARABIC_LETTERS = str.maketrans("يكة", "یکه")


class RulesError(ValueError):
    """The rules file cannot be read; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class LanguageRules:
    """What every answer of one language must say and must not say."""

    required: dict[str, tuple[str, ...]] = field(default_factory=dict)
    avoid: tuple[str, ...] = ()
    extra_sites: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Rules:
    """The whole rules file."""

    personal_topics: frozenset[str]
    max_main_chars: int
    reference_language: str
    reference_file: Path | None
    same_site: tuple[frozenset[str], ...]
    languages: dict[str, LanguageRules]

    def for_language(self, language: str) -> LanguageRules:
        """Return the rules of `language` (none when the file has no section for it)."""
        return self.languages.get(language, LanguageRules())


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise RulesError(f"{where} must be a list of non-empty strings in quotes")
    return tuple(value)


def load_rules(path: Path) -> Rules:
    """Read and validate the rules file at `path`; raise `RulesError` on any problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise RulesError(f"{path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise RulesError(f"{path}: {error}") from None
    try:
        general = data.pop("general")
        if not isinstance(general, dict):
            raise RulesError("[general] must be a table")
        max_chars = general.get("max_main_chars", 600)
        if not isinstance(max_chars, int) or max_chars < 1:
            raise RulesError("max_main_chars must be a positive whole number")
        reference_file = general.get("reference_file")
        if reference_file is not None and not isinstance(reference_file, str):
            raise RulesError("reference_file must be a path in quotes")
        same_site = general.get("same_site", [])
        if not isinstance(same_site, list):
            raise RulesError("same_site must be a list of lists of sites")
        languages: dict[str, LanguageRules] = {}
        for language, section in data.items():
            if not isinstance(section, dict):
                raise RulesError(f"[{language}] must be a table")
            required = section.get("required", {})
            if not isinstance(required, dict):
                raise RulesError(f"[{language}.required] must be a table of element = [phrases]")
            languages[language] = LanguageRules(
                required={
                    element: _strings(phrases, f"{language}.required {element!r}")
                    for element, phrases in required.items()
                },
                avoid=_strings(section.get("avoid", []), f"{language}.avoid"),
                extra_sites=frozenset(
                    map(_site, _strings(section.get("extra_sites", []), f"{language}.extra_sites"))
                ),
            )
        return Rules(
            personal_topics=frozenset(_strings(general.get("personal_topics", []), "personal_topics")),
            max_main_chars=max_chars,
            reference_language=str(general.get("reference_language", "en")),
            reference_file=(path.parent / reference_file).resolve() if reference_file else None,
            same_site=tuple(
                frozenset(_site(site) for site in _strings(group, "same_site")) for group in same_site
            ),
            languages=languages,
        )
    except KeyError as error:
        raise RulesError(f"{path}: missing {error.args[0]!r}") from None
    except RulesError as error:
        raise RulesError(f"{path}: {error}") from None


# -- phrases ----------------------------------------------------------------------------------


def plain_text(text: str) -> str:
    """Return `text` as phrases are matched: no markup or direction marks, folded, one-spaced."""
    text = html.unescape(_TAG.sub(" ", text))
    text = _INVISIBLE.sub("", text).replace("\u200c", " ")
    text = text.translate(_DIGITS).translate(_ARABIC_LETTERS)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\xa0", " ")
    return re.sub(r"\s+", " ", text).strip().casefold()


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    folded = plain_text(phrase)
    open_end = folded.endswith("*")
    words = [re.escape(word) for word in folded.rstrip("*").split()]
    body = r"\s+".join(words)
    return re.compile(rf"(?<!\w){body}" + ("" if open_end else r"(?!\w)"))


def contains_phrase(text: str, phrase: str) -> bool:
    """Return whether `phrase` (whole words, a trailing * for any ending) is in `text`."""
    return _phrase_pattern(phrase).search(plain_text(text)) is not None


def missing_elements(text: str, rules: LanguageRules) -> list[str]:
    """Return the required elements none of whose phrases `text` contains."""
    return [
        element
        for element, phrases in rules.required.items()
        if not any(contains_phrase(text, phrase) for phrase in phrases)
    ]


def avoided_phrases(text: str, rules: LanguageRules) -> list[str]:
    """Return the phrases to avoid that `text` contains."""
    return [phrase for phrase in rules.avoid if contains_phrase(text, phrase)]


# -- contacts, amounts and numbers ------------------------------------------------------------

_URL = re.compile(r"https?://[^\s\"'<>)]+")
_DOMAIN = re.compile(
    r"(?<![\w@.-])(?:[a-z0-9-]+\.)+(?:be|org|int|eu|com|net|info)(?![\w-])(?:/[^\s\"'<>)]*)?"
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_AMOUNT = re.compile(r"(?:€\s*(\d+(?:[.,]\d{2})?))|(?:(\d+(?:[.,]\d{2})?)\s*(?:€|eur\b|euro(?:s)?\b|یورو))")
# 9:00, 9.00, 9h, 9h30, 9 h 30 (French): a clock time, compared as HH:MM.
_TIME = re.compile(r"(?<![\d.,:])(\d{1,2})(?:[:.](\d{2})|\s*h(?![a-z])\s*(\d{2})?)(?!\d)")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


@dataclass(frozen=True, slots=True)
class Figures:
    """What must be the same in every language: contacts, amounts and other numbers."""

    contacts: frozenset[str]
    amounts: frozenset[str]
    numbers: frozenset[str]


def _site(url: str) -> str:
    host = re.sub(r"^https?://", "", url.casefold()).split("/", 1)[0]
    return host.removeprefix("www.")


def _number(raw: str) -> str:
    return raw.replace(",", ".").rstrip("0").rstrip(".") if re.search(r"[.,]\d{2}$", raw) else raw


def figures(text: str, rules: Rules) -> Figures:
    """Extract contacts, amounts and numbers from an answer, however its language writes them.

    Persian digits count as ASCII ones, web sites by their host (one site in several
    languages counts once, see `same_site`), phone numbers in international form, amounts
    as "€350", times as "9:00" (so "9h", "9.00" and "9:00" are the same).
    """
    text = html.unescape(_INVISIBLE.sub("", text).translate(_DIGITS)).replace("\xa0", " ").casefold()
    contacts: set[str] = set()
    for match in _EMAIL.finditer(text):
        contacts.add(match.group(0))
    text = _EMAIL.sub(" ", text)
    for pattern in (_URL, _DOMAIN):
        for match in pattern.finditer(text):
            contacts.add(_canonical_site(_site(match.group(0)), rules))
        text = pattern.sub(" ", text)
    for found in phonenumbers.PhoneNumberMatcher(text, "BE"):
        contacts.add(phonenumbers.format_number(found.number, phonenumbers.PhoneNumberFormat.E164))
        text = text.replace(found.raw_string, " ")
    amounts = {"€" + _number(match.group(1) or match.group(2)) for match in _AMOUNT.finditer(text)}
    text = _AMOUNT.sub(" ", text)
    numbers = {
        f"{int(match.group(1))}:{match.group(2) or match.group(3) or '00'}" for match in _TIME.finditer(text)
    }
    text = _TIME.sub(" ", text)
    numbers.update(_number(match.group(0)) for match in _NUMBER.finditer(text))
    return Figures(frozenset(contacts), frozenset(amounts), frozenset(numbers))


def _canonical_site(site: str, rules: Rules) -> str:
    for group in rules.same_site:
        if site in group:
            return min(group)
    return site


def figure_differences(text: str, reference: str, language: str, rules: Rules) -> list[str]:
    """Return how `text`'s contacts, amounts and numbers differ from `reference`'s (empty: same)."""
    ours, theirs = figures(text, rules), figures(reference, rules)
    extra_sites = {_canonical_site(site, rules) for site in rules.for_language(language).extra_sites}
    problems = []
    for name, mine, other in (
        ("contacts", ours.contacts - extra_sites, theirs.contacts),
        ("amounts", ours.amounts, theirs.amounts),
        ("numbers", ours.numbers, theirs.numbers),
    ):
        missing, added = sorted(other - mine), sorted(mine - other)
        if missing or added:
            parts = [f"missing {', '.join(missing)}"] if missing else []
            parts += [f"not in the reference {', '.join(added)}"] if added else []
            problems.append(f"{name}: " + "; ".join(parts))
    return problems


# -- the reference sheet ----------------------------------------------------------------------

_FACT_ID = re.compile(r"^S[1-9]\d*$")
_SOURCE_ITEM = re.compile(r"^\s*-\s*(S\d+)\s", re.MULTILINE)


def reference_fact_ids(path: Path) -> frozenset[str]:
    """Return the item numbers (S1, S2, …) of the reference sheet's source list."""
    return frozenset(_SOURCE_ITEM.findall(path.read_text(encoding="utf-8")))


def parse_fact_ids(raw: str) -> tuple[list[str], list[str]]:
    """Split a `facts:` value ("S9, S24") into well-formed IDs and malformed pieces."""
    good: list[str] = []
    bad: list[str] = []
    for piece in (piece.strip() for piece in raw.split(",")):
        if not piece:
            continue
        (good if _FACT_ID.match(piece) else bad).append(piece)
    return good, bad
