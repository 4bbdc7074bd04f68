"""Vetted answers: coverage, review-state fallbacks, hot reload, bidi, formatting, the check."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from bot.clock import FixedClock
from bot.content.catalog import ANSWERS_DOMAIN, MESSAGES_DOMAIN, catalog_path, fingerprint
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
from bot.content.tooling import extract, init_language, update
from bot.nlu.intents import INTENTS, LANGUAGES
from bot.settings import PROJECT_ROOT

TODAY = date(2026, 12, 1)
NOON = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
PERSONAL = tomllib.loads((PROJECT_ROOT / "locales" / "rules.toml").read_text(encoding="utf-8"))["general"][
    "personal_topics"
]


def stamp(text: str, *, valid_until: str = "2027-06-01") -> list[str]:
    """The comments of an answer reviewed on 2026-11-01, for exactly `text`."""
    return [
        "facts: S2",
        "source: https://www.fedasil.be/en/voluntary-return",
        "reviewed-by: Test Editor, reviewer",
        "reviewed-on: 2026-11-01",
        f"valid-until: {valid_until}",
        f"fingerprint: {fingerprint(text)}",
    ]


DRAFT = ["facts: S2", "source: https://www.fedasil.be/en/voluntary-return"]


def reviewed(text: str) -> tuple[str, list[str], bool]:
    return text, stamp(text), False


def write_answers(locales: Path, language: str, entries: dict[str, tuple[str, list[str], bool]]) -> Path:
    """Write an answers catalog: intent -> (text, translator comments, fuzzy)."""
    catalog = Catalog(locale=language, domain=ANSWERS_DOMAIN)
    for intent, (text, comments, fuzzy) in entries.items():
        catalog.add(intent, text, user_comments=comments, flags=["fuzzy"] if fuzzy else [])
    path = catalog_path(locales, language, ANSWERS_DOMAIN)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=0)
    return path


def library_at(locales: Path, day: date = TODAY, **options: Any) -> ContentLibrary:
    """A library of `locales` as of noon in Brussels on `day`."""
    clock = FixedClock(datetime(day.year, day.month, day.day, 11, 0, tzinfo=UTC))
    return ContentLibrary(locales, clock=clock, **options)


_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def po_texts(path: Path) -> dict[str, str]:
    """Parse a .po file without Babel or the code under test: msgid -> msgstr (translated only)."""
    texts: dict[str, str] = {}
    field, msgid, msgstr = "", "", ""

    def flush() -> None:
        if msgid and msgstr:
            texts[msgid] = msgstr

    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        keyword = re.match(r'^(msgid|msgstr)\s+(".*")$', line)
        if keyword:
            if keyword.group(1) == "msgid":
                flush()
                msgid, msgstr = "", ""
            field, line = keyword.group(1), keyword.group(2)
        if line.startswith('"'):
            piece = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), line[1:-1])
            if field == "msgid":
                msgid += piece
            else:
                msgstr += piece
        elif not line or line.startswith("#"):
            field = "" if not line else field
    flush()
    return texts


# -- coverage of the repository's own catalogs -------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("intent", INTENTS)
def test_library_serves_every_intent_as_written_in_the_catalog(
    library: ContentLibrary, intent: str, language: str
) -> None:
    texts = po_texts(catalog_path(PROJECT_ROOT / "locales", language, ANSWERS_DOMAIN))
    expected = texts[intent] + ("\n\n" + texts["_closing"] if intent in PERSONAL else "")
    served = library.answer(intent, language)
    assert (served.text, served.language, served.note) == (expected, language, None)


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
        "costs": reviewed("<b>Costs</b> in English"),
        "eligibility": reviewed("Eligibility in English"),
        "talk_to_counsellor": reviewed("Call 0800 32 745 (English)"),
    })  # fmt: skip
    write_answers(locales, "fr", {
        "costs": reviewed("Coûts en français"),
        "timeline": reviewed("Délai en français"),
    })  # fmt: skip
    write_answers(locales, "fa", {
        "costs": ("هزینه", stamp("هزینه"), True),  # fuzzy
        "eligibility": ("شرایط", stamp("شرایط", valid_until="2026-06-01"), False),  # expired
        "timeline": ("زمان", DRAFT, False),  # a draft
        "talk_to_counsellor": reviewed("مشاور"),
    })  # fmt: skip
    return locales


def test_library_serves_the_reviewed_answer_in_the_users_language(tiny_locales: Path) -> None:
    served = library_at(tiny_locales).answer("talk_to_counsellor", "fa")
    assert (served.text, served.language, served.note) == ("مشاور", "fa", None)


@pytest.mark.parametrize(("intent", "reason"), [("costs", "fuzzy"), ("eligibility", "expired")])
def test_library_falls_back_to_english_with_a_note(tiny_locales: Path, intent: str, reason: str) -> None:
    served = library_at(tiny_locales).answer(intent, "fa")
    assert served.language == "en", reason
    assert "English" in served.text
    assert served.note is not None and "انگلیسی" in served.note  # "English", in Farsi


def test_library_falls_back_to_french_when_english_is_missing(tiny_locales: Path) -> None:
    served = library_at(tiny_locales).answer("timeline", "fa")  # a draft, drafts not served
    assert (served.text, served.language) == ("Délai en français", "fr")
    assert served.note


def test_library_serves_drafts_only_when_allowed(tiny_locales: Path) -> None:
    assert library_at(tiny_locales, serve_drafts=True).answer("timeline", "fa").text == "زمان"
    assert library_at(tiny_locales, serve_drafts=False).answer("timeline", "fa").language == "fr"


def test_library_never_serves_fuzzy_entries_even_with_drafts(tiny_locales: Path) -> None:
    assert library_at(tiny_locales, serve_drafts=True).answer("costs", "fa").language == "en"


def test_library_serves_a_text_edited_after_review_as_a_draft(tiny_locales: Path) -> None:
    write_answers(tiny_locales, "fr", {"costs": ("Coûts modifiés", stamp("Coûts en français"), False)})
    assert library_at(tiny_locales).answer("costs", "fr").language == "en"
    assert library_at(tiny_locales, serve_drafts=True).answer("costs", "fr").text == "Coûts modifiés"


def test_library_offers_a_counsellor_when_no_language_has_a_reviewed_answer(
    tiny_locales: Path,
) -> None:
    served = library_at(tiny_locales).answer("change_mind", "fa")
    assert served.text == "مشاور"
    assert served.related == ("talk_to_counsellor",)


def test_library_never_shows_a_raw_key_when_nothing_at_all_is_servable(tmp_path: Path) -> None:
    locales = tmp_path / "locales"
    write_answers(locales, "en", {"costs": ("", [], False)})
    served = library_at(locales).answer("costs", "en")
    assert served.text and served.text != "costs"
    assert "0800 32 745" in served.text


def test_library_expires_answers_on_their_valid_until_date(tiny_locales: Path) -> None:
    before = library_at(tiny_locales, date(2026, 6, 1)).answer("eligibility", "fa")
    after = library_at(tiny_locales, date(2026, 6, 2)).answer("eligibility", "fa")
    assert before.language == "fa"
    assert after.language == "en"


def test_library_adds_the_closing_to_personal_topics_only(tmp_path: Path) -> None:
    locales = tmp_path / "locales"
    locales.mkdir()
    shutil.copy(PROJECT_ROOT / "locales" / "rules.toml", locales / "rules.toml")
    write_answers(locales, "en", {
        "family_children": reviewed("Family."), "costs": reviewed("Costs."), "_closing": reviewed("Closing."),
    })  # fmt: skip
    library = library_at(locales)
    assert library.answer("family_children", "en").text == "Family.\n\nClosing."
    assert library.answer("costs", "en").text == "Costs."


def test_library_does_not_serve_a_personal_topic_without_a_reviewed_closing(tmp_path: Path) -> None:
    locales = tmp_path / "locales"
    locales.mkdir()
    shutil.copy(PROJECT_ROOT / "locales" / "rules.toml", locales / "rules.toml")
    write_answers(locales, "en", {"family_children": reviewed("Family."), "_closing": reviewed("Closing.")})
    write_answers(
        locales, "fr", {"family_children": reviewed("Famille."), "_closing": ("Fin.", DRAFT, False)}
    )
    served = library_at(locales).answer("family_children", "fr")
    assert (served.text, served.language) == ("Family.\n\nClosing.", "en")


# -- what Telegram would refuse is never served --------------------------------------------------


@pytest.mark.parametrize(
    "broken",
    ["Free & <b>no cost", "<b>Coûts</i>", "a < b", "Coûts {amount}", "x" * 4097],
    ids=["bare-ampersand", "unbalanced", "bare-less-than", "placeholder", "too-long"],
)
def test_library_falls_back_from_an_answer_telegram_would_refuse(
    tiny_locales: Path, broken: str, caplog: pytest.LogCaptureFixture
) -> None:
    write_answers(tiny_locales, "fr", {"costs": reviewed(broken)})
    library = library_at(tiny_locales, serve_drafts=True, check_interval=0)
    for _ in range(3):
        served = library.answer("costs", "fr")
        assert (served.language, served.text) == ("en", "<b>Costs</b> in English")
    refusals = [record for record in caplog.records if "fr/answers costs" in record.getMessage()]
    assert len(refusals) == 1  # logged once, by key and kind
    assert broken[:12] not in refusals[0].getMessage()


def test_library_logs_a_broken_answer_again_after_a_new_broken_edit(
    tiny_locales: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_answers(tiny_locales, "fr", {"costs": reviewed("Free & <b>no cost")})
    library = library_at(tiny_locales, check_interval=0)
    library.answer("costs", "fr")
    path = write_answers(tiny_locales, "fr", {"costs": reviewed("Free && <b>no cost</b>")})
    _touch_later(path)
    library.answer("costs", "fr")
    assert len([r for r in caplog.records if "fr/answers costs: markup" in r.getMessage()]) == 2


def test_translator_falls_back_to_english_for_a_broken_translation(tmp_path: Path) -> None:
    locales = tmp_path / "locales"
    write_answers(locales, "fr", {"costs": reviewed("Coûts")})
    catalog = Catalog(locale="fr", domain=MESSAGES_DOMAIN)
    catalog.add("Who can apply?", "Qui & <b>peut")
    catalog.add("I will answer in {language} from now on.", "Je réponds en {langue}.")
    catalog.add("Thanks", "Merci")
    with catalog_path(locales, "fr", MESSAGES_DOMAIN).open("wb") as handle:
        write_po(handle, catalog)
    tr = library_at(locales).translator("fr")
    assert tr.gettext("Who can apply?") == "Who can apply?"
    assert tr.gettext("I will answer in {language} from now on.", language="x") == (
        "I will answer in x from now on."
    )
    assert tr.gettext("Thanks") == "Merci"


def test_library_draft_summary_counts_drafts_and_names_their_fallback(tiny_locales: Path) -> None:
    summary = {item.language: item for item in library_at(tiny_locales).draft_summary()}
    fa = summary["fa"]
    assert set(fa.drafts) == {"costs", "eligibility", "timeline"}
    assert fa.served_as == {"costs": "en", "eligibility": "en", "timeline": "fr"}
    assert "3 of 4 answers are drafts" in fa.describe()
    assert summary["en"].drafts == ()
    served = {item.language: item for item in library_at(tiny_locales, serve_drafts=True).draft_summary()}
    assert served["fa"].served_as["timeline"] == "draft"
    assert "شرایط" not in fa.describe() and "زمان" not in served["fa"].describe()


# -- hot reload -------------------------------------------------------------------------------


def _touch_later(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))


def test_library_reloads_a_changed_catalog_without_restart(tiny_locales: Path) -> None:
    library = library_at(tiny_locales, check_interval=0)
    assert library.answer("costs", "fr").text == "Coûts en français"
    path = write_answers(tiny_locales, "fr", {"costs": reviewed("Nouveau texte")})
    _touch_later(path)
    assert library.answer("costs", "fr").text == "Nouveau texte"


def test_library_keeps_serving_and_reports_when_a_catalog_breaks(tiny_locales: Path) -> None:
    errors: list[str] = []
    library = library_at(tiny_locales, check_interval=0, on_error=errors.append)
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


def test_content_check_passes_on_the_repository_with_every_answer_a_draft() -> None:
    report = check_catalogs(PROJECT_ROOT / "locales", TODAY)
    assert [f"{f.language}/{f.key}: {f.kind} {f.detail}" for f in report.errors] == []
    assert {item.language: item.drafts for item in report.coverage} == dict.fromkeys(LANGUAGES, len(INTENTS))


def test_content_check_catches_planted_problems(locales_copy: Path) -> None:
    path = catalog_path(locales_copy, "nl", ANSWERS_DOMAIN)
    text = path.read_text(encoding="utf-8")
    text = text.replace('msgid "costs"', '#, fuzzy\nmsgid "costs"', 1)  # fuzzy
    text = re.sub(
        r'msgid "goodbye"\nmsgstr ""\n("[^\n]*"\n)+', 'msgid "goodbye"\nmsgstr "<b>Dag<b>"\n', text
    )  # markup
    text = re.sub(r'(#[^\n]*\n)*msgid "greet"\nmsgstr ""\n("[^\n]*"\n)+', "", text)  # missing
    text = text.replace('msgid "thanks"', '# reviewed-by: content-team\nmsgid "thanks"', 1)  # half a stamp
    path.write_text(text, encoding="utf-8")
    found = {(f.key, f.kind) for f in check_catalogs(locales_copy, TODAY).errors if f.language == "nl"}
    assert {
        ("costs", "fuzzy"),
        ("goodbye", "markup"),
        ("greet", "missing"),
        ("thanks", "review-stamp"),
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
    assert "ps" not in library_at(locales_copy).languages  # nothing translated yet
    path = catalog_path(locales_copy, "ps", ANSWERS_DOMAIN)
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        'msgid "greet"\nmsgstr ""', "# " + "\n# ".join(stamp("سلام")) + '\nmsgid "greet"\nmsgstr "سلام"'
    )
    path.write_text(text, encoding="utf-8")
    library = library_at(locales_copy, serve_drafts=True)
    assert "ps" in library.languages
    assert library.answer("greet", "ps").text == "سلام"
    assert library.answer("costs", "ps").language == "en"


# -- the catalog tools ------------------------------------------------------------------------


def test_extract_then_update_leaves_the_committed_catalogs_byte_identical(tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT / "bot", root / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PROJECT_ROOT / "locales", root / "locales")
    shutil.copy(PROJECT_ROOT / "babel.cfg", root / "babel.cfg")
    extract(root / "locales", project_root=root)
    update(root / "locales")
    committed = sorted(
        p.relative_to(PROJECT_ROOT / "locales") for p in (PROJECT_ROOT / "locales").rglob("*.po*")
    )
    after = sorted(p.relative_to(root / "locales") for p in (root / "locales").rglob("*.po*"))
    assert after == committed
    changed = [
        str(name)
        for name in committed
        if (root / "locales" / name).read_bytes() != (PROJECT_ROOT / "locales" / name).read_bytes()
    ]
    assert changed == [], "run `make update` and commit the catalogs it writes"


def test_update_adds_a_new_interface_string_to_every_language(tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT / "bot", root / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PROJECT_ROOT / "locales", root / "locales")
    shutil.copy(PROJECT_ROOT / "babel.cfg", root / "babel.cfg")
    (root / "bot" / "extra.py").write_text('_("A brand new button")\n', encoding="utf-8")
    extract(root / "locales", project_root=root)
    update(root / "locales")
    for language in LANGUAGES:
        text = catalog_path(root / "locales", language, MESSAGES_DOMAIN).read_text(encoding="utf-8")
        assert '#: bot/extra.py\nmsgid "A brand new button"\nmsgstr ""' in text


def test_library_logs_a_topic_without_servable_answer_once_not_per_question(
    locales_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    library = library_at(locales_copy, serve_drafts=False)  # every repository answer is a draft
    with caplog.at_level("WARNING", logger="bot.content.library"):
        for _ in range(3):
            library.answer("costs", "fa")
            library.answer("timeline", "fr")
    warned = [record.getMessage() for record in caplog.records if "No servable answer" in record.getMessage()]
    assert warned == [
        "No servable answer for costs in any language",
        "No servable answer for timeline in any language",
    ]
