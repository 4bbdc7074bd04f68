"""The safety and neutrality rules of locales/rules.toml, enforced by `bot content check`.

Each test starts from a small set of clean catalogs (en and fr, every topic, the closing)
checked against the repository's own rules file, plants one violation, and expects it found.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from bot.content.catalog import ANSWERS_DOMAIN, CLOSING_KEY, catalog_path
from bot.content.check import Finding, check_catalogs
from bot.content.rules import RULES_FILE, contains_phrase, figures, load_rules
from bot.nlu.intents import INTENTS
from bot.settings import PROJECT_ROOT

TODAY = date(2026, 12, 1)
RULES = PROJECT_ROOT / "locales" / RULES_FILE
PERSONAL = "family_children"
CLOSINGS = {
    "en": "Asking commits you to nothing, and you can change your mind until departure. Independent"
    " legal advice: a lawyer through the legal aid office (pro deo). A counsellor: 0800 32 745.",
    "fr": "Vous renseigner ne vous engage à rien, et vous pouvez changer d'avis jusqu'au départ."
    " Conseil juridique indépendant : un avocat pro deo. Un conseiller : 0800 32 745.",
}
BODIES = {
    "en": "<b>{topic}</b>\n\nThe premium is €350 per adult, paid within 30 days. Call 0800 32 745.",
    "fr": "<b>{topic}</b>\n\nLa prime est de 350 € par adulte, versée sous 30 jours. Appelez le 0800 32 745.",
}


def write_catalog(locales: Path, language: str, texts: dict[str, str], facts: str = "S2") -> None:
    catalog = Catalog(locale=language, domain=ANSWERS_DOMAIN)
    for key, text in texts.items():
        catalog.add(key, text, user_comments=[f"facts: {facts}", "source: https://www.fedasil.be/fr"])
    path = catalog_path(locales, language, ANSWERS_DOMAIN)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=0)


def clean_texts(language: str) -> dict[str, str]:
    texts = {intent: BODIES[language].format(topic=intent) for intent in INTENTS}
    return texts | {CLOSING_KEY: CLOSINGS[language]}


@pytest.fixture
def content(tmp_path: Path) -> Path:
    """Clean en and fr catalogs, the repository's rules, and a reference sheet with S1 and S2."""
    locales = tmp_path / "locales"
    locales.mkdir()
    (tmp_path / "reference.md").write_text("## Sources\n- S1 a page\n- S2 another page\n", encoding="utf-8")
    rules = RULES.read_text(encoding="utf-8")
    rules = re.sub(r"(?m)^reference_file = .*$", 'reference_file = "../reference.md"', rules)
    (locales / RULES_FILE).write_text(rules, encoding="utf-8")
    for language in ("en", "fr"):
        write_catalog(locales, language, clean_texts(language))
    return locales


def errors(locales: Path, **options: bool) -> set[tuple[str, str, str]]:
    return {(f.language, f.key, f.kind) for f in check_catalogs(locales, TODAY, **options).errors}


def findings(locales: Path, kind: str) -> list[Finding]:
    return [f for f in check_catalogs(locales, TODAY).findings if f.kind == kind]


def plant(locales: Path, language: str, key: str, text: str) -> None:
    write_catalog(locales, language, clean_texts(language) | {key: text})


def test_rules_clean_catalogs_pass_with_every_answer_awaiting_review(content: Path) -> None:
    assert errors(content) == set()
    drafts = findings(content, "awaiting-review")
    assert len(drafts) == 2 * (len(INTENTS) + 1)


def test_rules_require_reviewed_turns_drafts_into_errors(content: Path) -> None:
    found = errors(content, require_reviewed=True)
    assert ("fr", "costs", "unreviewed") in found
    assert {kind for _, _, kind in found} == {"unreviewed"}


def test_rules_personal_topic_needs_legal_advice_and_the_rest_in_the_closing(content: Path) -> None:
    closing = CLOSINGS["en"].replace(
        "Independent legal advice: a lawyer through the legal aid office (pro deo).", ""
    )
    plant(content, "en", CLOSING_KEY, closing)
    found = [f for f in findings(content, "required") if f.language == "en"]
    assert {f.key for f in found} == load_rules(content / RULES_FILE).personal_topics
    assert all("independent legal advice" in f.detail and "a counsellor" not in f.detail for f in found)
    assert ("en", "costs", "required") not in errors(content)  # not a personal topic


def test_rules_personal_topic_counts_what_its_own_text_says(content: Path) -> None:
    closing = CLOSINGS["fr"].replace("et vous pouvez changer d'avis jusqu'au départ", "voilà")
    plant(content, "fr", CLOSING_KEY, closing)
    write_catalog(
        content,
        "fr",
        clean_texts("fr")
        | {CLOSING_KEY: closing, PERSONAL: BODIES["fr"].format(topic="x") + " Vous pouvez changer d'avis."},
    )
    personal_errors = {key for language, key, kind in errors(content) if kind == "required"}
    assert PERSONAL not in personal_errors
    assert "medical_vulnerable" in personal_errors


@pytest.mark.parametrize(
    ("language", "phrase"),
    [("en", "This is your best option."), ("en", "Hurry: places are limited."), ("en", "Don’t wait!"),
     ("fr", "N'attendez pas !"), ("fr", "C'est votre dernière chance.")],
)  # fmt: skip
def test_rules_refuse_pressuring_wording(content: Path, language: str, phrase: str) -> None:
    plant(content, language, "costs", BODIES[language].format(topic="x") + " " + phrase)
    assert (language, "costs", "avoid") in errors(content)


def test_rules_avoid_matches_whole_words_only(content: Path) -> None:
    plant(
        content, "en", "costs", BODIES["en"].format(topic="x") + " No hurrying anyone."
    )  # "hurry" is not there
    assert ("en", "costs", "avoid") not in errors(content)


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("La prime est de 350 € par adulte, versée sous 30 jours. Appelez le 0800 32 746.", "contacts"),
        ("La prime est de 250 € par adulte, versée sous 30 jours. Appelez le 0800 32 745.", "amounts"),
        ("La prime est de 350 € par adulte, versée sous 60 jours. Appelez le 0800 32 745.", "numbers"),
        ("La prime est de 350 € par adulte, versée sous 30 jours. Appelez le 0800 32 745 ou"
         " https://www.example.org.", "contacts"),
    ],
)  # fmt: skip
def test_rules_contacts_amounts_and_numbers_match_the_reference_language(
    content: Path, text: str, what: str
) -> None:
    plant(content, "fr", "costs", "<b>x</b>\n\n" + text)
    found = [f for f in findings(content, "figures") if f.key == "costs"]
    assert [f.detail.split(":")[0] for f in found] == [what]


def test_rules_figures_fold_persian_digits_times_and_sister_sites() -> None:
    rules = load_rules(RULES)
    farsi = "تماس: ⁦۰۸۰۰ ۳۲ ۷۴۵⁩، ساعت ۹:۰۰ تا ۱۲:۳۰، ⁦۳۵۰ €⁩، www.retourvolontaire.be"
    english = "Call 0800 32 745, 9:00–12:30, €350, www.voluntaryreturn.be"
    french = "Appelez le 0800 32 745, de 9h à 12h30, 350 €, www.vrijwilligeterugkeer.be"
    assert figures(farsi, rules) == figures(english, rules) == figures(french, rules)


def test_rules_one_screen_counts_what_the_reader_sees(content: Path) -> None:
    limit = load_rules(RULES).max_main_chars
    plant(content, "en", "costs", "<b>" + "a" * limit + "</b>")  # markup is not read
    assert ("en", "costs", "one-screen") not in errors(content)
    plant(content, "en", "costs", "a" * (limit + 1))
    assert ("en", "costs", "one-screen") in errors(content)


def test_rules_every_answer_names_its_facts_and_source(content: Path) -> None:
    write_catalog(content, "fr", clean_texts("fr"), facts="S2, S99, page 3")
    details = {f.detail for f in findings(content, "facts") if f.key == "costs"}
    assert details == {"not reference items like S9: page 3", "not in the reference sheet: S99"}
    catalog = catalog_path(content, "en", ANSWERS_DOMAIN)
    catalog.write_text(
        catalog.read_text(encoding="utf-8").replace("# source: https://www.fedasil.be/fr\n", "")
    )
    assert ("en", "costs", "source") in errors(content)


def test_rules_a_missing_closing_is_an_error(content: Path) -> None:
    write_catalog(content, "fr", {k: v for k, v in clean_texts("fr").items() if k != CLOSING_KEY})
    assert ("fr", CLOSING_KEY, "missing") in errors(content)


def test_rules_a_broken_rules_file_fails_the_check(content: Path) -> None:
    (content / RULES_FILE).write_text("[general\npersonal_topics = [", encoding="utf-8")
    assert ("*", "*", "rules") in errors(content)


def test_rules_phrases_ignore_markup_case_apostrophes_and_zero_width_non_joiners() -> None:
    assert contains_phrase("<b>Don’t</b> WAIT", "don't wait")
    assert contains_phrase("پرسیدن شما را متعهد نمی‌کند", "متعهد نمی کند")
    assert contains_phrase("talk to our counsellors", "counsellor*")
    assert not contains_phrase("مشاوره حقوقی رایگان", "مشاور")  # legal advice is not a counsellor


def test_rules_the_repository_rules_name_real_topics() -> None:
    rules = load_rules(RULES)
    assert rules.personal_topics <= set(INTENTS)
    assert len(rules.personal_topics) == 7
    assert {"en", "fr", "nl", "fa"} <= set(rules.languages)
    assert all(len(rules.for_language(language).required) == 4 for language in ("en", "fr", "nl", "fa"))
