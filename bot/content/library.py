"""The content the assistant serves: answers and interface strings, reloaded live.

Editors change `.po` files under `locales/`; the next request after a change reads the new
file. A file that fails to parse is refused: the previous content keeps serving and the
error is reported once (logged, and passed to `on_error`, which a staff chat can use). An
entry that Telegram would refuse is not served (its fallback is), and reported once too.
"""

from __future__ import annotations

import contextlib
import html
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog

from bot.clock import Clock, SystemClock, brussels_today
from bot.content.catalog import (
    ANSWERS_DOMAIN,
    CLOSING_KEY,
    MESSAGES_DOMAIN,
    SOURCE_LANGUAGE,
    AnswerEntry,
    CatalogError,
    answer_entries,
    available_languages,
    catalog_path,
    fingerprint,
    read_catalog,
    translated_text,
)
from bot.content.i18n import RTL_LANGUAGES, isolate_ltr
from bot.content.markup import placeholders, sending_problems
from bot.content.rules import RULES_FILE, Rules, RulesError, load_rules
from bot.content.topics import COUNSELLOR, LABELS, related_topics
from bot.nlu.intents import INTENTS

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


@dataclass(frozen=True, slots=True)
class _Answer:
    """An answer as it would be sent, with what keeps it from being sent."""

    entry: AnswerEntry
    text: str
    """The main text, followed by the standard closing for personal-situation topics."""
    closing: AnswerEntry | None
    """The closing entry the text includes (its review counts too), if any."""
    problems: tuple[str, ...]
    """Kinds of problem (markup, placeholder, too-long, no-closing): not servable at all."""


@dataclass(frozen=True, slots=True)
class DraftSummary:
    """How many answers of one language are drafts, and what a reader gets instead."""

    language: str
    answers: int
    """Topics with a text in this language."""
    drafts: tuple[str, ...]
    """Topics whose text (or closing) is not reviewed, or whose review expired."""
    served_as: dict[str, str]
    """For each draft topic: "draft" (served as it is), "en"/"fr" (a reviewed answer in that
    language, with a note) or "counsellor" (the offer to talk to a counsellor)."""

    def describe(self) -> str:
        """Return one log line, without any answer text."""
        if not self.drafts:
            return f"{self.language}: all {self.answers} answers reviewed"
        head = f"{self.language}: {len(self.drafts)} of {self.answers} answers are drafts"
        counts = Counter(self.served_as.values())
        if set(counts) == {"draft"}:
            return f"{head}, served as drafts (SERVE_DRAFT_ANSWERS is on)"
        parts = [f"{counts[how]} {label}" for how, label in _SERVED_AS_LABELS.items() if counts[how]]
        return f"{head}, not served: " + ", ".join(parts)


_SERVED_AS_LABELS = {
    "en": "get the reviewed English answer",
    "fr": "get the reviewed French answer",
    "counsellor": "get the counsellor offer",
    "draft": "served as drafts",
}


class ContentLibrary:
    """All catalogs under `locales_dir`, reparsed when their files change.

    An answer is served when its text is reviewed and its review holds today; a draft
    only when `serve_drafts` (the SERVE_DRAFT_ANSWERS setting) allows it. An entry that
    Telegram would refuse (markup, placeholders, length) is never served, whatever its
    review says; the problem is logged once, by key and kind.
    """

    def __init__(
        self,
        locales_dir: Path,
        *,
        clock: Clock | None = None,
        serve_drafts: bool = False,
        on_error: Callable[[str], None] | None = None,
        check_interval: float = 2.0,
    ) -> None:
        self.locales_dir = locales_dir
        self.serve_drafts = serve_drafts
        self._clock: Clock = clock or SystemClock()
        self._on_error = on_error
        self._check_interval = check_interval
        self._next_check = 0.0
        self._lock = threading.Lock()
        self._stamps: dict[Path, tuple[int, int] | None] = {}
        self._loaded: dict[Path, _Loaded] = {}
        self._rules: Rules | None = None
        self._reported: set[tuple[object, ...]] = set()
        self._unservable: set[str] = set()  # topics already logged as having no servable answer
        self._answers: dict[str, dict[str, _Answer]] = {}
        self._strings: dict[str, dict[str, str]] = {}
        self.languages: list[str] = []
        self.refresh(force=True)

    # -- loading ---------------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> None:
        """Reload when a catalog or the rules changed (looked at every `check_interval` seconds)."""
        now = time.monotonic()
        if not force and now < self._next_check:
            return
        with self._lock:
            self._next_check = now + self._check_interval
            languages = available_languages(self.locales_dir)
            paths = [self.locales_dir / RULES_FILE] + [
                catalog_path(self.locales_dir, language, domain)
                for language in languages
                for domain in (ANSWERS_DOMAIN, MESSAGES_DOMAIN)
            ]
            stamps = {path: _stamp(path) for path in paths}
            if stamps == self._stamps and not force:
                return
            self._stamps = stamps
            rules = self._load_rules()
            entries: dict[str, dict[str, AnswerEntry]] = {}
            strings: dict[str, dict[str, str]] = {}
            for language in languages:
                catalog = self._catalog(catalog_path(self.locales_dir, language, ANSWERS_DOMAIN), language)
                if catalog is not None:
                    entries[language] = answer_entries(catalog, language)
                catalog = self._catalog(catalog_path(self.locales_dir, language, MESSAGES_DOMAIN), language)
                if catalog is not None:
                    strings[language] = self._interface_strings(language, catalog)
            answers = {
                language: self._answers_of(language, found, entries.get(SOURCE_LANGUAGE, {}), rules)
                for language, found in entries.items()
            }
            # A language is offered once its catalog has at least one translated answer.
            self.languages = [
                language
                for language in languages
                if any(entry.text for entry in entries.get(language, {}).values())
            ]
            self._answers, self._strings = answers, strings
            self._unservable.clear()  # new content: say again what still cannot be served

    def _load_rules(self) -> Rules | None:
        """Return the rules, keeping the last good ones when the file breaks."""
        path = self.locales_dir / RULES_FILE
        if not path.exists():
            self._rules = None
            return None
        try:
            self._rules = load_rules(path)
        except RulesError as error:
            self._report(("rules", _stamp(path)), f"Rules refused, previous rules still apply: {error}")
        return self._rules

    def _answers_of(
        self,
        language: str,
        entries: dict[str, AnswerEntry],
        source: dict[str, AnswerEntry],
        rules: Rules | None,
    ) -> dict[str, _Answer]:
        """Return what each entry would send, and why it cannot be sent, logging new problems."""
        closing = entries.get(CLOSING_KEY)
        closing_text = closing.text if closing is not None else None
        answers = {}
        for key, entry in entries.items():
            # Without readable rules, every answer gets the closing there is: safer than none.
            personal = key != CLOSING_KEY and (rules is None or key in rules.personal_topics)
            text = entry.text or ""
            problems: list[tuple[str, str]] = []
            if personal and entry.text and closing_text is None and rules is not None:
                problems.append(("no-closing", f"no {CLOSING_KEY} entry to add to this personal topic"))
            elif personal and closing_text is not None:
                text = f"{text}\n\n{closing_text}"
            english = source.get(key)
            expected = placeholders(english.text) if english is not None and english.text else None
            if entry.text is not None:
                problems += sending_problems(text, expected)
            for kind, detail in problems:
                self._report(
                    (language, key, kind, fingerprint(text)),
                    f"Answer not served: {language}/{ANSWERS_DOMAIN} {key}: {kind} ({detail})",
                )
            answers[key] = _Answer(
                entry,
                text,
                closing if personal and closing_text else None,
                tuple(kind for kind, _ in problems),
            )
        return answers

    def _interface_strings(self, language: str, catalog: Catalog) -> dict[str, str]:
        """Return the translations that can be sent; the others fall back to the English msgid."""
        strings = {}
        for message in catalog:
            if not message.id or not isinstance(message.id, str) or not (text := translated_text(message)):
                continue
            problems = sending_problems(text, placeholders(message.id))
            for kind, detail in problems:
                self._report(
                    (language, MESSAGES_DOMAIN, message.id, kind, fingerprint(text)),
                    f"Translation not used, English shown: {language}/{MESSAGES_DOMAIN}"
                    f" {message.id!r}: {kind} ({detail})",
                )
            if not problems:
                strings[message.id] = text
        return strings

    def _report(self, problem: tuple[object, ...], message: str) -> None:
        """Log `message` (which never holds an answer's text) the first time `problem` is seen."""
        if problem in self._reported:
            return
        self._reported.add(problem)
        logger.error("%s", message)
        if self._on_error is not None:
            self._on_error(message)

    def _catalog(self, path: Path, language: str) -> Catalog | None:
        """Return the parsed catalog at `path`, keeping the last good one on errors."""
        stamp = _stamp(path)
        if stamp is None:
            self._loaded.pop(path, None)
            return None
        previous = self._loaded.get(path)
        if previous is not None and previous.stamp == stamp:
            return previous.catalog
        try:
            catalog = read_catalog(path, language)
        except CatalogError as error:
            self._report((path, stamp), f"Catalog refused, previous content still served: {error}")
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
        answer = self._answers.get(language, {}).get(intent)
        return answer.entry if answer is not None else None

    def _servable_text(self, intent: str, language: str, today: date) -> str | None:
        answer = self._answers.get(language, {}).get(intent)
        if answer is None or answer.problems:
            return None
        parts = (answer.entry, answer.closing) if answer.closing is not None else (answer.entry,)
        if all(part.is_servable(today, drafts=self.serve_drafts) for part in parts):
            return answer.text
        return None

    def _is_reviewed(self, answer: _Answer, today: date) -> bool:
        parts = (answer.entry, answer.closing) if answer.closing is not None else (answer.entry,)
        return all(part.is_reviewed(today) for part in parts)

    def answer(self, intent: str, language: str) -> ServedAnswer:
        """Return the answer to `intent` for a reader of `language`, never an empty one.

        Order: the servable answer in `language` (reviewed, or a draft where drafts are
        served); else the servable answer in English or French with a note in the reader's
        language; else an offer to talk to a counsellor.
        """
        self.refresh()
        return self._resolve(intent, language, brussels_today(self._clock))[0]

    def _resolve(self, intent: str, language: str, today: date) -> tuple[ServedAnswer, str]:
        """Return the answer and how it was found: "own", "en", "fr" or "counsellor"."""
        related = related_topics(intent)
        text = self._servable_text(intent, language, today)
        if text is not None:
            return ServedAnswer(intent, text, language, related), "own"
        tr = Translator(language, self._strings.get(language, {}))
        for fallback in FALLBACK_LANGUAGES:
            if fallback == language:
                continue
            text = self._servable_text(intent, fallback, today)
            if text is not None:
                note = tr.gettext(
                    "This answer is not yet available in your language. Here it is in {language}.",
                    language=language_name(fallback, language),
                )
                return ServedAnswer(intent, text, fallback, related, note=note), fallback
        if intent not in self._unservable:  # once per topic and content, not once per question
            self._unservable.add(intent)
            logger.warning("No servable answer for %s in any language", intent)
        counsellor = self._servable_text(COUNSELLOR, language, today)
        text = counsellor or tr.gettext(
            "I cannot show a checked answer on this topic right now. A counsellor can"
            " help you: call the free number {phone}, or visit a return desk.",
            phone=FREE_PHONE_LINE,
        )
        return ServedAnswer(intent, text, language, (COUNSELLOR,)), "counsellor"

    def draft_summary(self) -> list[DraftSummary]:
        """Return, per language, which answers are drafts and what a reader gets for each.

        For the start-up log of `bot run`: it names topics and counts, never texts.
        """
        self.refresh()
        today = brussels_today(self._clock)
        summaries = []
        for language in self.languages:
            answers = self._answers.get(language, {})
            written = [  # fuzzy entries count: a text is there, waiting for work
                intent
                for intent in INTENTS
                if intent in answers and (answers[intent].entry.text or answers[intent].entry.fuzzy)
            ]
            drafts = tuple(intent for intent in written if not self._is_reviewed(answers[intent], today))
            served_as = {}
            for intent in drafts:
                with _quiet():
                    _, how = self._resolve(intent, language, today)
                served_as[intent] = "draft" if how == "own" else how
            summaries.append(DraftSummary(language, len(written), drafts, served_as))
        return summaries


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the per-request "no servable answer" warning while summarising."""
    previous = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = previous


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


def language_name(language: str, in_language: str) -> str:
    """Return the name of `language` as a reader of `in_language` calls it."""
    try:
        name = Locale.parse(language).get_display_name(Locale.parse(in_language))
    except (UnknownLocaleError, ValueError):
        return language
    return name or language
