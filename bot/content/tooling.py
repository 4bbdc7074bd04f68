"""Babel's catalog tooling for editors: extract, update and start a language."""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po, write_po

from bot.content.catalog import (
    ANSWERS_DOMAIN,
    MESSAGES_DOMAIN,
    SOURCE_LANGUAGE,
    CatalogError,
    available_languages,
    catalog_path,
    read_catalog,
    translated_text,
)
from bot.nlu.intents import INTENTS
from bot.settings import PROJECT_ROOT

WRAP_WIDTH = 0
"""Catalog lines are never wrapped: one line per message, as the committed files are.
(Babel, like xgettext, still wraps comment lines at 76 columns whatever this says.)"""


def _pybabel(*arguments: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *arguments])  # type: ignore[no-untyped-call]


def template_path(locales_dir: Path) -> Path:
    """Return where the interface strings' template (.pot) lives."""
    return locales_dir / f"{MESSAGES_DOMAIN}.pot"


def _content(catalog: Catalog) -> list[tuple[object, ...]]:
    """Return what a catalog says, without its header (dates, tool version): what a review reads."""
    return [
        (message.id, message.context, message.string, tuple(message.locations), tuple(sorted(message.flags)),
         tuple(message.auto_comments), tuple(message.user_comments), tuple(message.previous_id), obsolete)
        for obsolete, messages in ((False, list(catalog)), (True, list(catalog.obsolete.values())))
        for message in messages
        if message.id
    ]  # fmt: skip


def _write_if_changed(path: Path, catalog: Catalog) -> bool:
    """Write `catalog` to `path` unless the file already says the same (its header aside).

    So `make update` on an unchanged tree leaves every file as it is, creation dates included.
    """
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=WRAP_WIDTH)
    written = buffer.getvalue()
    if path.exists() and _content(read_po(io.BytesIO(path.read_bytes()))) == _content(
        read_po(io.BytesIO(written))  # as it reads back: Babel wraps long comments
    ):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(written)
    return True


def extract(locales_dir: Path, project_root: Path = PROJECT_ROOT) -> None:
    """Extract interface strings from bot/ into the template; leave it alone when none changed.

    Locations name the file without a line number, so that moving code does not touch
    every catalog.
    """
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / template_path(locales_dir).name
        with contextlib.chdir(project_root):  # source references relative to the project
            _pybabel(
                "extract", "-F", "babel.cfg", "-o", str(fresh), "--project", "return-assistant",
                "--sort-by-file", "--no-wrap", "--add-location", "file", "-c", "TRANSLATORS:", "bot",
            )  # fmt: skip
        _write_if_changed(template_path(locales_dir), read_po(io.BytesIO(fresh.read_bytes())))


def update(locales_dir: Path) -> None:
    """Merge the template into every language's messages.po, and add missing answer keys.

    A catalog is rewritten only when its messages change; it is written unwrapped.
    """
    template = read_po(io.BytesIO(template_path(locales_dir).read_bytes()))
    for language in available_languages(locales_dir):
        path = catalog_path(locales_dir, language, MESSAGES_DOMAIN)
        if path.exists():
            catalog = read_po(io.BytesIO(path.read_bytes()), locale=language, domain=MESSAGES_DOMAIN)
            catalog.update(template)
            _write_if_changed(path, catalog)
        else:
            _pybabel("init", "-i", str(template_path(locales_dir)), "-d", str(locales_dir),
                     "-D", MESSAGES_DOMAIN, "-l", language, "--no-wrap")  # fmt: skip
        add_missing_answers(locales_dir, language)


def add_missing_answers(locales_dir: Path, language: str) -> list[str]:
    """Add an empty entry (with the English text as a comment) for each unanswered intent."""
    source = read_catalog(catalog_path(locales_dir, SOURCE_LANGUAGE, ANSWERS_DOMAIN), SOURCE_LANGUAGE)
    path = catalog_path(locales_dir, language, ANSWERS_DOMAIN)
    catalog = (
        read_catalog(path, language) if path.exists() else Catalog(locale=language, domain=ANSWERS_DOMAIN)
    )
    added = []
    for intent in [*INTENTS, *(m.id for m in source if isinstance(m.id, str) and m.id)]:
        if intent in catalog or (language == SOURCE_LANGUAGE):
            continue
        english = translated_text(source.get(intent)) or ""
        catalog.add(intent, "", auto_comments=["English: " + line for line in english.splitlines()])
        added.append(intent)
    if added or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write_po(handle, catalog, width=WRAP_WIDTH)
    return added


def init_language(locales_dir: Path, language: str) -> None:
    """Start the catalogs of a new language: interface strings and empty answers."""
    try:
        Locale.parse(language)
    except (UnknownLocaleError, ValueError) as error:
        raise CatalogError(f"{language!r} is not a language code Babel knows: {error}") from None
    _pybabel("init", "-i", str(template_path(locales_dir)), "-d", str(locales_dir),
             "-D", MESSAGES_DOMAIN, "-l", language, "--no-wrap")  # fmt: skip
    added = add_missing_answers(locales_dir, language)
    print(f"Created catalogs for {language}: {len(added)} answers to write in "
          f"{catalog_path(locales_dir, language, ANSWERS_DOMAIN)}")  # fmt: skip


def run_babel(action: str, locales_dir: Path, *, language: str | None = None) -> int:
    """Run an editors' catalog action; return the exit status."""
    try:
        if action == "extract":
            extract(locales_dir)
        elif action == "update":
            update(locales_dir)
        elif action == "init" and language:
            init_language(locales_dir, language)
        else:
            print(f"bot content: unknown action {action!r}", file=sys.stderr)
            return 2
    except CatalogError as error:
        print(f"bot content {action}: {error}", file=sys.stderr)
        return 1
    return 0
