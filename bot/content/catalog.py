"""Reading gettext catalogs with Babel, and the review state of each answer."""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import PoFileError, read_po

ANSWERS_DOMAIN = "answers"
MESSAGES_DOMAIN = "messages"
SOURCE_LANGUAGE = "en"


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


REVIEW_KEYS = ("reviewed-by", "reviewed-on", "valid-until", "fingerprint")
"""The comment lines a review stamps; an entry without any of them is a draft."""
_COMMENT_LINE = re.compile(
    r"^\s*(reviewed-by|reviewed-on|valid-until|fingerprint|facts|source)\s*:\s*(.*?)\s*$"
)
FINGERPRINT_LENGTH = 12
CLOSING_KEY = "_closing"
"""The answers entry holding the standard closing added after personal-situation answers."""


def fingerprint(text: str) -> str:
    """Return the short fingerprint of an answer's exact text: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:FINGERPRINT_LENGTH]


class Status(StrEnum):
    """Where an answer stands in review."""

    DRAFT = "draft"
    """No review stamp: nobody has signed for this text yet."""
    REVIEWED = "reviewed"
    """Stamped, and the stamp's fingerprint is that of the text."""
    EDITED = "edited"
    """Stamped, but the text changed since: a draft again."""
    INCOMPLETE = "incomplete"
    """Some stamp lines are missing or malformed: a draft until stamped properly."""


@dataclass(frozen=True, slots=True)
class ReviewState:
    """Who checked an answer, when, until when it holds, and where its facts come from."""

    reviewed_by: str | None = None
    reviewed_on: date | None = None
    valid_until: date | None = None
    fingerprint: str | None = None
    facts: str | None = None
    source: str | None = None
    problems: tuple[str, ...] = ()
    """Malformed stamp lines (a date that is not one, a source that is not https://)."""
    stamped: tuple[str, ...] = ()
    """The review keys present, in `REVIEW_KEYS` order."""


def _date(key: str, raw: str | None, problems: list[str]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems.append(f"{key} is not a date like 2027-05-31: {raw!r}")
        return None


def review_state(message: Message) -> ReviewState:
    """Read the review and provenance comments (`# reviewed-by: …`) of a catalog entry."""
    found: dict[str, str] = {}
    for comment in message.user_comments:
        match = _COMMENT_LINE.match(comment)
        if match:
            found[match.group(1)] = match.group(2)
    problems: list[str] = []
    source = found.get("source") or None
    if source and not source.startswith("https://"):
        problems.append(f"source must be an https:// address: {source!r}")
    mark = found.get("fingerprint") or None
    if mark is not None and not re.fullmatch(f"[0-9a-f]{{{FINGERPRINT_LENGTH}}}", mark):
        problems.append(f"fingerprint must be {FINGERPRINT_LENGTH} hex digits: {mark!r}")
    return ReviewState(
        reviewed_by=found.get("reviewed-by") or None,
        reviewed_on=_date("reviewed-on", found.get("reviewed-on"), problems),
        valid_until=_date("valid-until", found.get("valid-until"), problems),
        fingerprint=mark,
        facts=found.get("facts") or None,
        source=source,
        problems=tuple(problems),
        stamped=tuple(key for key in REVIEW_KEYS if found.get(key)),
    )


def translated_text(message: Message | None) -> str | None:
    """Return the entry's translation when there is one and it is not fuzzy."""
    if message is None or message.fuzzy or not isinstance(message.string, str):
        return None
    return message.string if message.string.strip() else None


@dataclass(frozen=True, slots=True)
class AnswerEntry:
    """One answer as an editor wrote it, with its review state."""

    key: str
    language: str
    text: str | None
    fuzzy: bool
    review: ReviewState

    @property
    def status(self) -> Status:
        """Return where this text stands in review (a stamp for another text counts as none)."""
        review = self.review
        if not review.stamped:
            return Status.DRAFT
        stamp_problems = [p for p in review.problems if not p.startswith("source")]
        if len(review.stamped) < len(REVIEW_KEYS) or stamp_problems:
            return Status.INCOMPLETE
        if self.text is None or review.fingerprint != fingerprint(self.text):
            return Status.EDITED
        return Status.REVIEWED

    def is_reviewed(self, today: date) -> bool:
        """Return whether this exact text is reviewed, not marked fuzzy since, and still valid on `today`."""
        valid_until = self.review.valid_until
        return (
            not self.fuzzy
            and self.status is Status.REVIEWED
            and valid_until is not None
            and today <= valid_until
        )

    def is_servable(self, today: date, *, drafts: bool = False) -> bool:
        """Return whether the assistant may show this text: reviewed, or any draft when `drafts`."""
        if self.text is None or self.fuzzy:
            return False
        return drafts or self.is_reviewed(today)


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
