"""`bot content review` stamps what a named reviewer read; a later edit makes it a draft again."""

from __future__ import annotations

import io
import os
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from rich.console import Console

from bot.clock import FixedClock
from bot.content.catalog import (
    ANSWERS_DOMAIN,
    AnswerEntry,
    Status,
    answer_entries,
    catalog_path,
    fingerprint,
    read_catalog,
)
from bot.content.check import check_catalogs
from bot.content.library import ContentLibrary
from bot.content.review import add_months, default_validity, parse_reviewer, run_review, to_terminal
from bot.settings import PROJECT_ROOT

TODAY = date(2026, 12, 1)
REVIEWER = "Amina Haddad, return counsellor"


def review(locales: Path, language: str, *keys: str, **options: object) -> tuple[int, str]:
    out = io.StringIO()
    options = {"by": REVIEWER, "today": TODAY, "yes": True} | options
    status = run_review(
        locales,
        language,
        keys,
        console=Console(file=out, width=100, color_system=None),
        **options,  # type: ignore[arg-type]
    )
    return status, out.getvalue()


def entry(locales: Path, language: str, key: str) -> AnswerEntry:
    path = catalog_path(locales, language, ANSWERS_DOMAIN)
    return answer_entries(read_catalog(path, language), language)[key]


def served(locales: Path, key: str, language: str) -> bool:
    """Return whether the library, drafts off, serves the catalog's own text for `key`."""
    clock = FixedClock(datetime(2026, 12, 2, 10, 0, tzinfo=UTC))
    answer = ContentLibrary(locales, clock=clock, serve_drafts=False).answer(key, language)
    return (answer.language, answer.text) == (language, entry(locales, language, key).text)


def test_review_stamps_the_entry_and_changes_nothing_else(locales_copy: Path) -> None:
    path = catalog_path(locales_copy, "fr", ANSWERS_DOMAIN)
    before = path.read_text(encoding="utf-8").splitlines()
    status, _ = review(locales_copy, "fr", "costs")
    assert status == 0
    reviewed = entry(locales_copy, "fr", "costs")
    assert reviewed.status is Status.REVIEWED
    assert reviewed.review.reviewed_by == REVIEWER
    assert reviewed.review.reviewed_on == TODAY
    assert reviewed.review.fingerprint == fingerprint(reviewed.text or "")
    after = path.read_text(encoding="utf-8").splitlines()
    added = [line for line in after if line not in before]
    assert [line.split(":")[0] for line in added] == [
        "# reviewed-by", "# reviewed-on", "# valid-until", "# fingerprint",
    ]  # fmt: skip
    assert [line for line in before if line not in after] == []


def test_review_makes_the_answer_served_without_drafts(locales_copy: Path) -> None:
    assert not served(locales_copy, "goodbye", "nl")  # a draft
    review(locales_copy, "nl", "goodbye")
    assert served(locales_copy, "goodbye", "nl")


def test_review_then_an_edit_makes_the_answer_a_draft_again(locales_copy: Path) -> None:
    review(locales_copy, "fr", "goodbye")
    path = catalog_path(locales_copy, "fr", ANSWERS_DOMAIN)
    text = path.read_text(encoding="utf-8")
    start = text.index('msgid "goodbye"')
    end = text.index("\n\n", start)
    path.write_text(text[:end] + '\n"Texte ajouté après la relecture."' + text[end:], encoding="utf-8")
    assert entry(locales_copy, "fr", "goodbye").status is Status.EDITED
    report = check_catalogs(locales_copy, TODAY)
    found = [f for f in report.findings if (f.language, f.key) == ("fr", "goodbye")]
    assert [(f.kind, f.detail) for f in found] == [
        ("awaiting-review", f"edited after review by {REVIEWER} on {TODAY}: draft again")
    ]
    assert not served(locales_copy, "goodbye", "fr")


def test_review_asks_before_stamping_and_a_no_stamps_nothing(locales_copy: Path) -> None:
    questions: list[str] = []

    def answer_no(question: str) -> bool:
        questions.append(question)
        return False

    status, shown = review(locales_copy, "en", "costs", yes=False, ask=answer_no)
    assert status == 0 and len(questions) == 1 and REVIEWER in questions[0]
    assert entry(locales_copy, "en", "costs").status is Status.DRAFT
    assert "<b>" not in shown  # markup rendered, not printed


def test_review_refuses_an_entry_with_check_errors(locales_copy: Path) -> None:
    path = catalog_path(locales_copy, "en", ANSWERS_DOMAIN)
    text = path.read_text(encoding="utf-8")
    start = text.index('msgid "costs"')
    path.write_text(
        text[:start] + 'msgid "costs"\nmsgstr "Free & <b>no cost"' + text[text.index("\n\n", start) :]
    )
    status, shown = review(locales_copy, "en", "costs", "goodbye")
    assert status == 1
    assert "refused en costs" in shown and "markup" in shown
    assert entry(locales_copy, "en", "costs").status is Status.DRAFT
    assert entry(locales_copy, "en", "goodbye").status is Status.REVIEWED


def test_review_without_intents_reviews_every_draft_of_the_language(locales_copy: Path) -> None:
    status, _ = review(locales_copy, "nl")
    assert status == 0
    path = catalog_path(locales_copy, "nl", ANSWERS_DOMAIN)
    entries = answer_entries(read_catalog(path, "nl"), "nl")
    assert {e.status for e in entries.values() if e.text} == {Status.REVIEWED}


@pytest.mark.parametrize("by", ["", "Amina", "content-team", ", counsellor", "Amina, ", "A, B, C"])
def test_review_needs_a_name_and_a_role(locales_copy: Path, by: str) -> None:
    status, shown = review(locales_copy, "fr", "costs", by=by)
    assert status == 2 and "--by" in shown
    assert entry(locales_copy, "fr", "costs").status is Status.DRAFT


def test_review_refuses_a_valid_until_in_the_past_and_an_unknown_intent(locales_copy: Path) -> None:
    assert review(locales_copy, "fr", "costs", valid_until=TODAY)[0] == 2
    assert review(locales_copy, "fr", "no_such_topic")[0] == 2
    assert review(locales_copy, "xx", "costs")[0] == 2


def test_review_valid_until_can_be_set(locales_copy: Path) -> None:
    review(locales_copy, "fr", "goodbye", valid_until=date(2027, 1, 15))
    assert entry(locales_copy, "fr", "goodbye").review.valid_until == date(2027, 1, 15)


@pytest.mark.parametrize(
    ("text", "months"),
    [("A premium of €350.", 3), ("Une prime de 350 €.", 3), ("Open 9:00–12:30 on weekdays.", 3),
     ("ساعت ۹:۰۰ تا ۱۲:۳۰", 3), ("Ouvert de 9h à 12h30.", 3), ("Lombardstraat 5, Brussel", 3),
     ("Rue de Fiennes 12", 3), ("You can change your mind until departure.", 6),
     ("Within about 12 months, since 1 January 2022 Fedasil decides.", 6)],
)  # fmt: skip
def test_review_validity_defaults_by_what_the_text_contains(text: str, months: int) -> None:
    until, _ = default_validity(text, TODAY)
    assert until == add_months(TODAY, months)


def test_add_months_keeps_the_end_of_short_months() -> None:
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 12, 1), 6) == date(2027, 6, 1)


def test_parse_reviewer_normalises_spacing() -> None:
    assert parse_reviewer("  Amina Haddad ,return counsellor ") == REVIEWER


def test_review_terminal_rendering_shows_links_and_no_tags() -> None:
    text = to_terminal('<b>Title</b> &amp; <a href="https://x.be">site</a>')
    assert text.plain == "Title & site (https://x.be)"
    assert any("bold" in str(span.style) for span in text.spans)


def test_content_review_and_fingerprint_commands(locales_copy: Path) -> None:
    bot = str(PROJECT_ROOT / ".venv" / "bin" / "bot")
    env = {**os.environ, "LOCALES_DIR": str(locales_copy)}
    result = subprocess.run(
        [bot, "content", "review", "fa", "goodbye", "--by", REVIEWER, "--yes"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert entry(locales_copy, "fa", "goodbye").status is Status.REVIEWED
    printed = subprocess.run(
        [bot, "content", "fingerprint", "fa", "goodbye"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert printed.stdout.strip() == entry(locales_copy, "fa", "goodbye").review.fingerprint
    missing_by = subprocess.run(
        [bot, "content", "review", "fa", "goodbye"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing_by.returncode == 2 and "--by" in missing_by.stderr
