"""`bot content check`: what an editor must fix before content can be served."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

from babel.messages.catalog import Catalog
from rich.console import Console
from rich.table import Table

from bot.content.catalog import (
    ANSWERS_DOMAIN,
    CLOSING_KEY,
    MESSAGES_DOMAIN,
    REVIEW_KEYS,
    SOURCE_LANGUAGE,
    AnswerEntry,
    CatalogError,
    Status,
    answer_entries,
    available_languages,
    catalog_path,
    read_catalog,
    translated_text,
)
from bot.content.markup import TELEGRAM_MAX_CHARS, placeholders, sending_problems
from bot.content.rules import (
    RULES_FILE,
    Rules,
    RulesError,
    avoided_phrases,
    figure_differences,
    load_rules,
    missing_elements,
    parse_fact_ids,
    reference_fact_ids,
)
from bot.nlu.intents import INTENTS

ERROR_KINDS = (
    "missing",
    "fuzzy",
    "unreviewed",
    "expired",
    "review-stamp",
    "facts",
    "source",
    "placeholder",
    "markup",
    "too-long",
    "one-screen",
    "required",
    "avoid",
    "figures",
    "rules",
    "unreadable",
)
WARNING_KINDS = (
    "awaiting-review",
    "expiring-soon",
    "untranslated-interface",
    "reference-missing",
)
RULE_KINDS = ("one-screen", "required", "avoid", "figures")


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in one entry of one catalog."""

    language: str
    domain: str
    key: str
    kind: str
    detail: str

    @property
    def is_error(self) -> bool:
        """Return whether this finding blocks publishing (warnings do not)."""
        return self.kind in ERROR_KINDS


@dataclass(slots=True)
class Coverage:
    """How many of the intents' answers one language serves reviewed, and how many are drafts."""

    language: str
    intents: int
    reviewed: int = 0
    drafts: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def percent(self) -> float:
        """Return the share of intents with a reviewed, servable answer."""
        return 100.0 * self.reviewed / self.intents if self.intents else 0.0


@dataclass(slots=True)
class Report:
    """Everything `bot content check` found."""

    findings: list[Finding] = field(default_factory=list)
    coverage: list[Coverage] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        """Return the findings that block publishing."""
        return [finding for finding in self.findings if finding.is_error]

    def as_dict(self) -> dict[str, object]:
        """Return the report as JSON-ready data."""
        return {
            "ok": not self.errors,
            "coverage": [{**asdict(item), "percent": round(item.percent, 1)} for item in self.coverage],
            "findings": [asdict(finding) | {"error": finding.is_error} for finding in self.findings],
        }


@dataclass(frozen=True, slots=True)
class _Context:
    """What checking one language's answers needs besides the catalog itself."""

    today: date
    soon: date
    require_reviewed: bool
    rules: Rules | None
    known_facts: frozenset[str] | None
    reference: dict[str, AnswerEntry]
    """The reference language's entries, for placeholders and figures."""


def visible_length(text: str) -> int:
    """Return how many characters a reader sees: no markup, entities as one, no direction marks."""
    return len(re.sub("[\u2066-\u2069\u200e\u200f]", "", html.unescape(re.sub(r"<[^>]*>", "", text))))


def _review_findings(entry: AnswerEntry, context: _Context) -> list[tuple[str, str]]:
    review = entry.review
    status = entry.status
    found: list[tuple[str, str]] = []
    draft_kind = "unreviewed" if context.require_reviewed else "awaiting-review"
    if status is Status.DRAFT:
        found.append((draft_kind, "draft awaiting review"))
    elif status is Status.EDITED:
        found.append(
            (draft_kind, f"edited after review by {review.reviewed_by} on {review.reviewed_on}: draft again")
        )
    elif status is Status.INCOMPLETE:
        absent = [key for key in REVIEW_KEYS if key not in review.stamped]
        problems = [problem for problem in review.problems if not problem.startswith("source")]
        detail = "; ".join(
            ([f"missing {', '.join(f'# {key}:' for key in absent)}"] if absent else []) + problems
        )
        found.append(("review-stamp", f"{detail} (stamp with `bot content review`, or remove the stamp)"))
    elif review.valid_until is not None:
        if review.valid_until < context.today:
            found.append(("expired", f"valid-until {review.valid_until} has passed: review it again"))
        elif review.valid_until <= context.soon:
            found.append(("expiring-soon", f"valid-until {review.valid_until}"))
    if not review.source:
        found.append(("source", "missing # source: (the https:// page that holds the facts)"))
    found.extend(("source", problem) for problem in review.problems if problem.startswith("source"))
    if not review.facts:
        found.append(("facts", "missing # facts: (the reference items it rests on, e.g. S9, S24)"))
    else:
        good, bad = parse_fact_ids(review.facts)
        if bad:
            found.append(("facts", f"not reference items like S9: {', '.join(bad)}"))
        unknown = sorted(set(good) - context.known_facts) if context.known_facts is not None else []
        if unknown:
            found.append(("facts", f"not in the reference sheet: {', '.join(unknown)}"))
    return found


def _rule_findings(
    entry: AnswerEntry, text: str, closing: AnswerEntry | None, context: _Context
) -> list[tuple[str, str]]:
    rules = context.rules
    if rules is None:
        return []
    language_rules = rules.for_language(entry.language)
    found: list[tuple[str, str]] = []
    length = visible_length(text)
    if length > rules.max_main_chars:
        found.append(("one-screen", f"{length} characters to read (limit {rules.max_main_chars})"))
    found.extend(
        ("avoid", f"pressuring wording: {phrase!r}") for phrase in avoided_phrases(text, language_rules)
    )
    if entry.key in rules.personal_topics:
        served = f"{text}\n\n{closing.text}" if closing is not None and closing.text else text
        missing = missing_elements(served, language_rules)
        if missing:
            found.append(("required", "with the closing, does not say: " + "; ".join(missing)))
    reference = context.reference.get(entry.key)
    if entry.language != rules.reference_language and reference is not None and reference.text:
        found.extend(
            ("figures", f"{difference} (compared with {rules.reference_language})")
            for difference in figure_differences(text, reference.text, entry.language, rules)
        )
    return found


def _check_answers(language: str, catalog: Catalog, context: _Context) -> tuple[list[Finding], Coverage]:
    findings: list[Finding] = []
    coverage = Coverage(language, len(INTENTS))

    def add(key: str, kind: str, detail: str) -> None:
        findings.append(Finding(language, ANSWERS_DOMAIN, key, kind, detail))

    entries = answer_entries(catalog, language)
    for key in (*INTENTS, CLOSING_KEY):
        if key not in entries:
            add(key, "missing", "no entry" + (" (the standard closing)" if key == CLOSING_KEY else ""))
    closing = entries.get(CLOSING_KEY)
    for key, entry in entries.items():
        if entry.fuzzy:
            add(key, "fuzzy", "marked fuzzy (needs work): never served")
        if entry.text is None:
            if not entry.fuzzy:
                add(key, "missing", "no translation")
            continue
        before = len(findings)
        reference = context.reference.get(key)
        expected = placeholders(reference.text) if reference is not None and reference.text else None
        problems = sending_problems(entry.text, expected)
        personal = context.rules is not None and key in context.rules.personal_topics
        if personal and closing is not None and closing.text:
            total = len(entry.text) + 2 + len(closing.text)
            if total > TELEGRAM_MAX_CHARS and not any(kind == "too-long" for kind, _ in problems):
                problems.append(("too-long", f"{total} characters with the closing (Telegram's limit)"))
        for kind, detail in [
            *_review_findings(entry, context),
            *problems,
            *_rule_findings(entry, entry.text, closing, context),
        ]:
            add(key, kind, detail)
        if key in INTENTS and not entry.fuzzy:
            errors = any(finding.is_error for finding in findings[before:])
            if entry.is_reviewed(context.today) and not errors:
                coverage.reviewed += 1
            elif entry.status is not Status.REVIEWED:
                coverage.drafts += 1
    return findings, coverage


def _check_messages(language: str, catalog: Catalog) -> list[Finding]:
    findings: list[Finding] = []
    for message in catalog:
        if not message.id or not isinstance(message.id, str):
            continue
        text = translated_text(message)
        if text is None:
            if language != SOURCE_LANGUAGE:
                kind = "fuzzy" if message.fuzzy else "untranslated-interface"
                findings.append(Finding(language, MESSAGES_DOMAIN, message.id, kind,
                                        "falls back to English"))  # fmt: skip
            continue
        findings.extend(
            Finding(language, MESSAGES_DOMAIN, message.id, kind, detail)
            for kind, detail in sending_problems(text, placeholders(message.id))
        )
    return findings


def check_catalogs(
    locales_dir: Path, today: date, *, soon_days: int = 30, require_reviewed: bool = False
) -> Report:
    """Check every catalog under `locales_dir` against the rules file, as of `today`."""
    report = Report()
    rules: Rules | None = None
    known_facts: frozenset[str] | None = None
    try:
        rules = load_rules(locales_dir / RULES_FILE)
    except RulesError as error:
        report.findings.append(Finding("*", "rules", "*", "rules", str(error)))
    if rules is not None and rules.reference_file is not None:
        try:
            known_facts = reference_fact_ids(rules.reference_file)
        except OSError:
            report.findings.append(Finding("*", "rules", "*", "reference-missing",
                                           f"{rules.reference_file} cannot be read: fact IDs checked"
                                           " for their form only"))  # fmt: skip
    reference_language = rules.reference_language if rules is not None else SOURCE_LANGUAGE
    reference: dict[str, AnswerEntry] = {}
    try:
        path = catalog_path(locales_dir, reference_language, ANSWERS_DOMAIN)
        reference = answer_entries(read_catalog(path, reference_language), reference_language)
    except CatalogError:
        pass  # reported below, with the reference catalog's own row
    context = _Context(
        today, today + timedelta(days=soon_days), require_reviewed, rules, known_facts, reference
    )
    for language in available_languages(locales_dir):
        coverage = Coverage(language, len(INTENTS))
        for domain in (ANSWERS_DOMAIN, MESSAGES_DOMAIN):
            path = catalog_path(locales_dir, language, domain)
            if not path.exists():
                if domain == MESSAGES_DOMAIN:
                    report.findings.append(Finding(language, domain, "*", "untranslated-interface",
                                                   f"{path} does not exist"))  # fmt: skip
                continue
            try:
                catalog = read_catalog(path, language)
            except CatalogError as error:
                report.findings.append(Finding(language, domain, "*", "unreadable", str(error)))
                continue
            if domain == ANSWERS_DOMAIN:
                findings, coverage = _check_answers(language, catalog, context)
            else:
                findings = _check_messages(language, catalog)
            report.findings.extend(findings)
        coverage.counts = dict(
            Counter(finding.kind for finding in report.findings if finding.language == language)
        )
        report.coverage.append(coverage)
    if not report.coverage:
        report.findings.append(Finding("*", ANSWERS_DOMAIN, "*", "missing",
                                       f"no catalogs under {locales_dir}"))  # fmt: skip
    return report


def print_report(report: Report, console: Console) -> None:
    """Print the coverage table and every finding, errors first; plain drafts one line per language."""
    table = Table(title="Answers per language")
    shown = ("missing", "fuzzy", "expired")
    for column in ("lang", "reviewed", "cover", "drafts", *shown, "rules", "other", "warn."):
        table.add_column(column, justify="left" if column == "lang" else "right")
    for item in report.coverage:
        counted = (*shown, *RULE_KINDS)
        other = sum(n for kind, n in item.counts.items() if kind in ERROR_KINDS and kind not in counted)
        warnings = sum(n for kind, n in item.counts.items() if kind in WARNING_KINDS)
        table.add_row(
            item.language,
            f"{item.reviewed}/{item.intents}",
            f"{item.percent:.0f} %",
            str(item.drafts),
            *(str(item.counts.get(kind, 0)) for kind in shown),
            str(sum(item.counts.get(kind, 0) for kind in RULE_KINDS)),
            str(other),
            str(warnings),
        )
    console.print(table)
    drafts: dict[tuple[str, str], list[str]] = {}
    for finding in sorted(report.findings, key=lambda f: (not f.is_error, f.language, f.key)):
        if finding.detail == "draft awaiting review":
            drafts.setdefault((finding.language, finding.kind), []).append(finding.key)
            continue
        level = "[red]error[/red]" if finding.is_error else "[yellow]warning[/yellow]"
        console.print(
            f"{level} {finding.language}/{finding.domain} {finding.key}: {finding.kind} — {finding.detail}",
            markup=True,
            highlight=False,
        )
    for (language, kind), keys in drafts.items():
        level = "[red]error[/red]" if kind in ERROR_KINDS else "[yellow]warning[/yellow]"
        console.print(
            f"{level} {language}/{ANSWERS_DOMAIN}: {len(keys)} draft(s) awaiting review"
            f" (`bot content review {language}`): {', '.join(keys)}",
            markup=True,
            highlight=False,
        )
    errors = len(report.errors)
    console.print(f"{errors} error(s), {len(report.findings) - errors} warning(s)")


def run_check(
    locales_dir: Path,
    *,
    today: date,
    as_json: bool = False,
    soon_days: int = 30,
    require_reviewed: bool = False,
) -> int:
    """Run the check, print it, and return 1 when anything blocks publishing."""
    report = check_catalogs(locales_dir, today, soon_days=soon_days, require_reviewed=require_reviewed)
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print_report(report, Console())
    return 1 if report.errors else 0
