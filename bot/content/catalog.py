"""Reading gettext catalogs with Babel, and the review state of each vetted answer."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import PoFileError, read_po

ANSWERS_DOMAIN = "answers"
MESSAGES_DOMAIN = "messages"
SOURCE_LANGUAGE = "en"

_REVIEW_LINE = re.compile(r"^\s*(reviewed-by|reviewed-on|valid-until|source)\s*:\s*(.*?)\s*$")


class CatalogError(ValueError):
    """A catalog file cannot be read; the message names the file and the problem."""


def catalog_path(locales_dir: Path, language: str, domain: str) -> Path:
    """Return where the `domain` catalog of `language` lives."""
    return locales_dir / language / "LC_MESSAGES" / f"{domain}.po"


# A keyword line or a continuation line, its string closed by an unescaped quote.
_PO_LINE = re.compile(r'^(?:(?:msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?)\s+)?"(?:[^"\\]|\\.)*"$')


def _check_syntax(text: str) -> None:
    """Reject what Babel's lenient parser would silently accept (an unclosed string)."""
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#") and not _PO_LINE.match(line):
            raise CatalogError(f"line {number}: not a valid catalog line: {line[:60]!r}")


def read_catalog(path: Path, language: str) -> Catalog:
    """Parse one .po file strictly; raise `CatalogError` on any syntax error."""
    try:
        data = path.read_bytes()
        _check_syntax(data.decode("utf-8"))
        return read_po(io.BytesIO(data), locale=None, abort_invalid=True, domain=path.stem)
    except CatalogError as error:
        raise CatalogError(f"{path}: {error}") from None
    except (PoFileError, UnicodeDecodeError, ValueError, OSError) as error:
        raise CatalogError(f"{path}: {error}") from error


def available_languages(locales_dir: Path) -> list[str]:
    """Return the languages that have an answers catalog, the source language first."""
    languages = sorted(
        path.parent.parent.name for path in locales_dir.glob(f"*/LC_MESSAGES/{ANSWERS_DOMAIN}.po")
    )
    return sorted(languages, key=lambda language: language != SOURCE_LANGUAGE)


@dataclass(frozen=True, slots=True)
class ReviewState:
    """Who checked an answer, when, until when it holds, and where its facts come from."""

    reviewed_by: str | None
    reviewed_on: date | None
    valid_until: date | None
    source: str | None
    problems: tuple[str, ...] = ()

    def is_current(self, today: date) -> bool:
        """Return whether the answer is reviewed, sourced and not expired on `today`."""
        return (
            not self.problems
            and bool(self.reviewed_by)
            and self.reviewed_on is not None
            and self.valid_until is not None
            and bool(self.source)
            and today <= self.valid_until
        )


def _date(key: str, raw: str | None, problems: list[str]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems.append(f"{key} is not a date like 2027-05-31: {raw!r}")
        return None


def review_state(message: Message) -> ReviewState:
    """Read the review comments (`# reviewed-by: …`) of a catalog entry."""
    found: dict[str, str] = {}
    for comment in message.user_comments:
        match = _REVIEW_LINE.match(comment)
        if match:
            found[match.group(1)] = match.group(2)
    problems: list[str] = []
    source = found.get("source") or None
    if source and not source.startswith("https://"):
        problems.append(f"source must be an https:// address: {source!r}")
    return ReviewState(
        reviewed_by=found.get("reviewed-by") or None,
        reviewed_on=_date("reviewed-on", found.get("reviewed-on"), problems),
        valid_until=_date("valid-until", found.get("valid-until"), problems),
        source=source,
        problems=tuple(problems),
    )


def translated_text(message: Message | None) -> str | None:
    """Return the entry's translation when there is one and it is not fuzzy."""
    if message is None or message.fuzzy or not isinstance(message.string, str):
        return None
    return message.string if message.string.strip() else None


@dataclass(frozen=True, slots=True)
class AnswerEntry:
    """One vetted answer as an editor wrote it, with its review state."""

    key: str
    language: str
    text: str | None
    fuzzy: bool
    review: ReviewState

    def is_servable(self, today: date) -> bool:
        """Return whether the assistant may show this answer on `today`."""
        return self.text is not None and not self.fuzzy and self.review.is_current(today)


def answer_entries(catalog: Catalog, language: str) -> dict[str, AnswerEntry]:
    """Return every answer entry of an answers catalog, keyed by msgid (the intent)."""
    entries = {}
    for message in catalog:
        if not message.id or not isinstance(message.id, str):
            continue
        entries[message.id] = AnswerEntry(
            key=message.id,
            language=language,
            text=translated_text(message),
            fuzzy=message.fuzzy,
            review=review_state(message),
        )
    return entries
