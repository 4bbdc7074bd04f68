"""Vetted answers: coverage, review-state fallbacks, hot reload, bidi, formatting, the check."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from bot.content.catalog import ANSWERS_DOMAIN, catalog_path
from bot.content.check import check_catalogs
from bot.content.i18n import (
    LRI,
    PDI,
    format_amount,
    format_appointment,
    negotiate_language,
)
from bot.content.library import ContentLibrary
from bot.content.markup import telegram_html_errors
from bot.content.tooling import init_language
from bot.nlu.intents import INTENTS, LANGUAGES
from bot.settings import PROJECT_ROOT

TODAY = date(2026, 12, 1)
REVIEWED = [
    "reviewed-by: test-editor",
    "reviewed-on: 2026-11-01",
    "valid-until: 2027-06-01",
    "source: https://www.fedasil.be/en/voluntary-return",
]


def write_answers(locales: Path, language: str, entries: dict[str, tuple[str, list[str], bool]]) -> Path:
    """Write an answers catalog: intent -> (text, translator comments, fuzzy)."""
    catalog = Catalog(locale=language, domain=ANSWERS_DOMAIN)
    for intent, (text, comments, fuzzy) in entries.items():
        catalog.add(intent, text, user_comments=comments, flags=["fuzzy"] if fuzzy else [])
    path = catalog_path(locales, language, ANSWERS_DOMAIN)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog)
    return path


# -- coverage of the repository's own catalogs -------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("intent", INTENTS)
def test_library_serves_every_intent_in_every_language(
    library: ContentLibrary, intent: str, language: str
) -> None:
    served = library.answer(intent, language)
    assert served.language == language
    assert served.note is None
    assert served.text.strip() and served.text.strip() != intent
    assert telegram_html_errors(served.text) == []
    assert len(served.text) <= 900


def test_library_farsi_answers_isolate_every_number_and_url(library: ContentLibrary) -> None:
    for intent in INTENTS:
        text = library.answer(intent, "fa").text
        outside = re.sub(f"{LRI}[^{PDI}]*{PDI}", "", text)
        outside = re.sub(r'href="[^"]*"', "", outside)
        assert not re.search(r"[0-9]|https?:|[A-Za-z]{2,}(?![^<]*>)", re.sub(r"<[^>]+>", "", outside)), intent


def test_translator_isolates_values_in_farsi_only(library: ContentLibrary) -> None:
    message = "This answer is not yet available in your language. Here it is in {language}."
    assert f"{LRI}0800 32 745{PDI}" in library.translator("fa").gettext(message, language="0800 32 745")
    assert LRI not in library.translator("fr").gettext(message, language="0800 32 745")


def test_translator_escapes_html_in_values(library: ContentLibrary) -> None:
    text = library.translator("en").gettext("I will answer in {language} from now on.", language="<b>x</b>&")
    assert "&lt;b&gt;x&lt;/b&gt;&amp;" in text


# -- fallbacks --------------------------------------------------------------------------------


@pytest.fixture
def tiny_locales(tmp_path: Path) -> Path:
    locales = tmp_path / "locales"
    write_answers(locales, "en", {
        "costs": ("<b>Costs</b> in English", REVIEWED, False),
        "eligibility": ("Eligibility in English", REVIEWED, False),
        "talk_to_counsellor": ("Call 0800 32 745 (English)", REVIEWED, False),
    })  # fmt: skip
    write_answers(locales, "fr", {
        "costs": ("Coûts en français", REVIEWED, False),
        "timeline": ("Délai en français", REVIEWED, False),
    })  # fmt: skip
    write_answers(locales, "fa", {
        "costs": ("هزینه", REVIEWED, True),  # fuzzy
        "eligibility": ("شرایط", ["reviewed-by: x", "reviewed-on: 2026-01-01",
                                  "valid-until: 2026-06-01", "source: https://x.be"], False),  # expired
        "timeline": ("زمان", [], False),  # unreviewed
        "talk_to_counsellor": ("مشاور", REVIEWED, False),
    })  # fmt: skip
    return locales


def test_library_serves_the_reviewed_answer_in_the_users_language(tiny_locales: Path) -> None:
    served = ContentLibrary(tiny_locales, today=lambda: TODAY).answer("talk_to_counsellor", "fa")
    assert (served.text, served.language, served.note) == ("مشاور", "fa", None)


@pytest.mark.parametrize(("intent", "reason"), [("costs", "fuzzy"), ("eligibility", "expired")])
def test_library_falls_back_to_english_with_a_note(tiny_locales: Path, intent: str, reason: str) -> None:
    served = ContentLibrary(tiny_locales, today=lambda: TODAY).answer(intent, "fa")
    assert served.language == "en", reason
    assert "English" in served.text
    assert served.note is not None and "انگلیسی" in served.note  # "English", in Farsi


def test_library_falls_back_to_french_when_english_is_missing(tiny_locales: Path) -> None:
    served = ContentLibrary(tiny_locales, today=lambda: TODAY).answer("timeline", "fa")  # unreviewed
    assert (served.text, served.language) == ("Délai en français", "fr")
    assert served.note


def test_library_offers_a_counsellor_when_no_language_has_a_reviewed_answer(
    tiny_locales: Path,
) -> None:
    served = ContentLibrary(tiny_locales, today=lambda: TODAY).answer("change_mind", "fa")
    assert served.text == "مشاور"
    assert served.related == ("talk_to_counsellor",)


def test_library_never_shows_a_raw_key_when_nothing_at_all_is_servable(tmp_path: Path) -> None:
    locales = tmp_path / "locales"
    write_answers(locales, "en", {"costs": ("", [], False)})
    served = ContentLibrary(locales, today=lambda: TODAY).answer("costs", "en")
    assert served.text and served.text != "costs"
    assert "0800 32 745" in served.text


def test_library_expires_answers_on_their_valid_until_date(tiny_locales: Path) -> None:
    before = ContentLibrary(tiny_locales, today=lambda: date(2026, 5, 1)).answer("eligibility", "fa")
    after = ContentLibrary(tiny_locales, today=lambda: date(2026, 6, 2)).answer("eligibility", "fa")
    assert before.language == "fa"
    assert after.language == "en"


# -- hot reload -------------------------------------------------------------------------------


def _touch_later(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))


def test_library_reloads_a_changed_catalog_without_restart(tiny_locales: Path) -> None:
    library = ContentLibrary(tiny_locales, today=lambda: TODAY, check_interval=0)
    assert library.answer("costs", "fr").text == "Coûts en français"
    path = write_answers(tiny_locales, "fr", {"costs": ("Nouveau texte", REVIEWED, False)})
    _touch_later(path)
    assert library.answer("costs", "fr").text == "Nouveau texte"


def test_library_keeps_serving_and_reports_when_a_catalog_breaks(tiny_locales: Path) -> None:
    errors: list[str] = []
    library = ContentLibrary(tiny_locales, today=lambda: TODAY, check_interval=0, on_error=errors.append)
    path = catalog_path(tiny_locales, "fr", ANSWERS_DOMAIN)
    path.write_text('msgid "costs"\nmsgstr "unterminated\n', encoding="utf-8")
    _touch_later(path)
    assert library.answer("costs", "fr").text == "Coûts en français"
    assert library.answer("costs", "fr").text == "Coûts en français"
    assert len(errors) == 1 and "fr" in errors[0]


# -- locale handling and formatting -----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [("fa-IR", "fa"), ("fa-AF", "fa"), ("prs", "fa"), ("nl-BE", "nl"), ("fr-BE", "fr"),
     ("en-US", "en"), ("de", "en"), (None, "en"), ("", "en"), ("not a tag!", "en")],
)  # fmt: skip
def test_negotiate_language_maps_telegram_codes(code: str | None, expected: str) -> None:
    assert negotiate_language(code, LANGUAGES, "en") == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Thursday, 3 December 2026, 14:30"),
        ("fr", "jeudi 3 décembre 2026, 14:30"),
        ("nl", "donderdag 3 december 2026, 14:30"),
        ("fa", "پنجشنبه ۳ دسامبر ۲۰۲۶، ساعت ۱۴:۳۰"),
    ],
)
def test_format_appointment_uses_brussels_time_and_the_users_locale(language: str, expected: str) -> None:
    moment = datetime(2026, 12, 3, 13, 30, tzinfo=UTC)  # 14:30 in Brussels (winter time)
    assert format_appointment(moment, language) == expected


def test_format_amount_per_locale() -> None:
    assert format_amount(350, "fr") == "350,00\xa0€"
    assert format_amount(350, "en") == "€350.00"
    assert format_amount(350, "fa").startswith(LRI) and "۳۵۰" in format_amount(350, "fa")


# -- the editors' check -----------------------------------------------------------------------


def test_content_check_passes_on_the_repository() -> None:
    report = check_catalogs(PROJECT_ROOT / "locales")
    assert report.errors == []
    assert {item.language: item.servable for item in report.coverage} == dict.fromkeys(
        LANGUAGES, len(INTENTS)
    )


def test_content_check_catches_planted_problems(locales_copy: Path) -> None:
    path = catalog_path(locales_copy, "nl", ANSWERS_DOMAIN)
    text = path.read_text(encoding="utf-8")
    text = text.replace('msgid "costs"', '#, fuzzy\nmsgid "costs"', 1)  # fuzzy
    text = re.sub(r'(valid-until: )\S+(\n(?:#.*\n)*msgid "timeline")', r"\g<1>2020-01-01\2", text)  # expired
    text = re.sub(
        r'msgid "goodbye"\nmsgstr ""\n("[^\n]*"\n)+', 'msgid "goodbye"\nmsgstr "<b>Dag<b>"\n', text
    )  # markup
    text = re.sub(r'(#[^\n]*\n)*msgid "greet"\nmsgstr ""\n("[^\n]*"\n)+', "", text)  # missing
    path.write_text(text, encoding="utf-8")
    found = {(f.key, f.kind) for f in check_catalogs(locales_copy).errors if f.language == "nl"}
    assert {
        ("costs", "fuzzy"),
        ("timeline", "expired"),
        ("goodbye", "markup"),
        ("greet", "missing"),
    } <= found


def test_content_check_cli_exits_1_with_json_on_a_broken_catalog(locales_copy: Path) -> None:
    catalog_path(locales_copy, "fr", ANSWERS_DOMAIN).write_text(
        'msgid "x"\nmsgstr "broken\n', encoding="utf-8"
    )
    result = subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "bot"), "content", "check", "--json"],
        env={**os.environ, "LOCALES_DIR": str(locales_copy)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert any(f["language"] == "fr" and f["kind"] == "unreadable" for f in report["findings"])


@pytest.mark.parametrize(
    ("text", "ok"),
    [("<b>ok</b> &amp; <a href=\"https://x.be\">x</a>", True), ("<b>x", False), ("a < b", False),
     ("<br>", False), ("<p>x</p>", False), ("a & b", False), ("<i><b>x</i></b>", False)],
)  # fmt: skip
def test_telegram_html_errors_matches_what_telegram_accepts(text: str, ok: bool) -> None:
    assert (telegram_html_errors(text) == []) is ok


def test_adding_a_language_needs_only_catalogs(locales_copy: Path) -> None:
    init_language(locales_copy, "ps")
    assert "ps" not in ContentLibrary(locales_copy).languages  # nothing translated yet
    path = catalog_path(locales_copy, "ps", ANSWERS_DOMAIN)
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        'msgid "greet"\nmsgstr ""', "# " + "\n# ".join(REVIEWED) + '\nmsgid "greet"\nmsgstr "سلام"'
    )
    path.write_text(text, encoding="utf-8")
    library = ContentLibrary(locales_copy, today=lambda: TODAY)
    assert "ps" in library.languages
    assert library.answer("greet", "ps").text == "سلام"
    assert library.answer("costs", "ps").language == "en"
