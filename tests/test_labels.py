"""Topic buttons fit a phone: every label, in every language, as the assistant serves it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.clock import FixedClock
from bot.content.catalog import MESSAGES_DOMAIN, SOURCE_LANGUAGE, catalog_path, read_catalog, translated_text
from bot.content.library import ContentLibrary
from bot.content.topics import LABELS
from bot.nlu.intents import LANGUAGES
from bot.settings import PROJECT_ROOT

LOCALES = PROJECT_ROOT / "locales"
# Buttons come two to a row (replies.rows(per_row=2)): on a 360-pixel-wide phone Telegram
# cuts a label after about 20 characters.
MAX_LABEL_CHARS = 20


@pytest.fixture(scope="module")
def library() -> ContentLibrary:
    return ContentLibrary(LOCALES, clock=FixedClock(datetime(2026, 12, 1, 11, 0, tzinfo=UTC)))


@pytest.mark.parametrize("language", LANGUAGES)
def test_labels_fit_a_phone_button_in_every_language(library: ContentLibrary, language: str) -> None:
    served = {intent: library.translator(language).label(intent) for intent in LABELS}
    too_long = {intent: label for intent, label in served.items() if len(label) > MAX_LABEL_CHARS}
    assert not too_long, f"{language}: labels over {MAX_LABEL_CHARS} characters: {too_long}"


@pytest.mark.parametrize("language", [language for language in LANGUAGES if language != SOURCE_LANGUAGE])
def test_labels_are_translated_in_every_language(language: str) -> None:
    catalog = read_catalog(catalog_path(LOCALES, language, MESSAGES_DOMAIN), language)
    untranslated = [msgid for msgid in LABELS.values() if translated_text(catalog.get(msgid)) is None]
    assert not untranslated, f"{language}: labels shown in English: {untranslated}"
