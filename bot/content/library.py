"""The content the assistant serves: vetted answers and interface strings, reloaded live.

Editors change `.po` files under `locales/`; the next request after a change reads the new
file. A file that fails to parse is refused: the previous content keeps serving and the
error is reported once (logged, and passed to `on_error`, which a staff chat can use).
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog

from bot.content.catalog import (
    ANSWERS_DOMAIN,
    MESSAGES_DOMAIN,
    AnswerEntry,
    CatalogError,
    answer_entries,
    available_languages,
    catalog_path,
    read_catalog,
    translated_text,
)
from bot.content.i18n import RTL_LANGUAGES, isolate_ltr
from bot.content.topics import COUNSELLOR, LABELS, related_topics

logger = logging.getLogger(__name__)

# Where a reviewed answer is looked for when the user's language has none, in this order.
FALLBACK_LANGUAGES = ("en", "fr")
FREE_PHONE_LINE = "0800 32 745"


@dataclass(frozen=True, slots=True)
class ServedAnswer:
    """An answer ready to show: Telegram-safe HTML, and the topics to offer next."""

    intent: str
    text: str
    language: str
    related: tuple[str, ...]
    note: str | None = None
    """Set when the answer is in another language than the user's: says so, in theirs."""


class Translator:
    """Interface strings of one language; falls back to the English msgid."""

    def __init__(self, language: str, strings: dict[str, str]) -> None:
        self.language = language
        self._strings = strings

    def gettext(self, msgid: str, /, **values: object) -> str:
        """Translate `msgid` (English when untranslated), then fill in HTML-escaped values.

        Values are isolated left-to-right in right-to-left languages, so that a phone
        number or a time keeps its order inside Farsi text.
        """
        text = self._strings.get(msgid) or msgid
        if not values:
            return text
        rtl = self.language in RTL_LANGUAGES
        escaped = {
            name: isolate_ltr(html.escape(str(value))) if rtl else html.escape(str(value))
            for name, value in values.items()
        }
        try:
            return text.format(**escaped)
        except (KeyError, IndexError, ValueError):
            # A translation with a broken placeholder must not break the conversation.
            logger.error("Broken placeholder in the %s translation of %r", self.language, msgid)
            return msgid.format(**escaped)

    def label(self, intent: str) -> str:
        """Return the button label of a topic."""
        return self.gettext(LABELS.get(intent, intent))


@dataclass(frozen=True, slots=True)
class _Loaded:
    stamp: tuple[int, int]
    catalog: Catalog


class ContentLibrary:
    """All catalogs under `locales_dir`, reparsed when their file changes."""

    def __init__(
        self,
        locales_dir: Path,
        *,
        today: Callable[[], date] = date.today,
        on_error: Callable[[str], None] | None = None,
        check_interval: float = 2.0,
    ) -> None:
        self.locales_dir = locales_dir
        self._today = today
        self._on_error = on_error
        self._check_interval = check_interval
        self._next_check = 0.0
        self._lock = threading.Lock()
        self._loaded: dict[Path, _Loaded] = {}
        self._reported: set[tuple[Path, tuple[int, int]]] = set()
        self._answers: dict[str, dict[str, AnswerEntry]] = {}
        self._strings: dict[str, dict[str, str]] = {}
        self.languages: list[str] = []
        self.refresh(force=True)

    # -- loading ---------------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> None:
        """Reload catalogs whose files changed (at most every `check_interval` seconds)."""
        now = time.monotonic()
        if not force and now < self._next_check:
            return
        with self._lock:
            self._next_check = now + self._check_interval
            languages = available_languages(self.locales_dir)
            answers: dict[str, dict[str, AnswerEntry]] = {}
            strings: dict[str, dict[str, str]] = {}
            for language in languages:
                catalog = self._catalog(catalog_path(self.locales_dir, language, ANSWERS_DOMAIN), language)
                if catalog is not None:
                    answers[language] = answer_entries(catalog, language)
                catalog = self._catalog(catalog_path(self.locales_dir, language, MESSAGES_DOMAIN), language)
                if catalog is not None:
                    strings[language] = {
                        message.id: text
                        for message in catalog
                        if isinstance(message.id, str) and (text := translated_text(message))
                    }
            # A language is offered once its catalog has at least one translated answer.
            self.languages = [
                language
                for language in languages
                if any(entry.text for entry in answers.get(language, {}).values())
            ]
            self._answers, self._strings = answers, strings

    def _catalog(self, path: Path, language: str) -> Catalog | None:
        """Return the parsed catalog at `path`, keeping the last good one on errors."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            self._loaded.pop(path, None)
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        previous = self._loaded.get(path)
        if previous is not None and previous.stamp == stamp:
            return previous.catalog
        try:
            catalog = read_catalog(path, language)
        except CatalogError as error:
            if (path, stamp) not in self._reported:
                self._reported.add((path, stamp))
                message = f"Catalog refused, previous content still served: {error}"
                logger.error("%s", message)
                if self._on_error is not None:
                    self._on_error(message)
            return previous.catalog if previous is not None else None
        self._loaded[path] = _Loaded(stamp, catalog)
        if previous is not None:
            logger.info("Reloaded %s", path)
        return catalog

    # -- serving ---------------------------------------------------------------------------

    def translator(self, language: str) -> Translator:
        """Return the interface strings of `language`."""
        self.refresh()
        return Translator(language, self._strings.get(language, {}))

    def entry(self, intent: str, language: str) -> AnswerEntry | None:
        """Return the raw catalog entry (for editors' tools and tests)."""
        self.refresh()
        return self._answers.get(language, {}).get(intent)

    def _servable_text(self, intent: str, language: str, today: date) -> str | None:
        entry = self._answers.get(language, {}).get(intent)
        return entry.text if entry is not None and entry.is_servable(today) else None

    def answer(self, intent: str, language: str) -> ServedAnswer:
        """Return the vetted answer to `intent` for a reader of `language`, never an empty one.

        Order: the reviewed answer in `language`; else the reviewed answer in English or
        French with a note in the reader's language; else an offer to talk to a counsellor.
        """
        self.refresh()
        today = self._today()
        related = related_topics(intent)
        text = self._servable_text(intent, language, today)
        if text is not None:
            return ServedAnswer(intent, text, language, related)
        tr = self.translator(language)
        for fallback in FALLBACK_LANGUAGES:
            if fallback == language:
                continue
            text = self._servable_text(intent, fallback, today)
            if text is not None:
                note = tr.gettext(
                    "This answer is not yet available in your language. Here it is in {language}.",
                    language=language_name(fallback, language),
                )
                return ServedAnswer(intent, text, fallback, related, note=note)
        logger.warning("No servable answer for %s in any language", intent)
        counsellor = self._servable_text(COUNSELLOR, language, today)
        text = counsellor or tr.gettext(
            "I cannot show a checked answer on this topic right now. A counsellor can"
            " help you: call the free number {phone}, or visit a return desk.",
            phone=FREE_PHONE_LINE,
        )
        return ServedAnswer(intent, text, language, (COUNSELLOR,))


def language_name(language: str, in_language: str) -> str:
    """Return the name of `language` as a reader of `in_language` calls it."""
    try:
        name = Locale.parse(language).get_display_name(Locale.parse(in_language))
    except (UnknownLocaleError, ValueError):
        return language
    return name or language
