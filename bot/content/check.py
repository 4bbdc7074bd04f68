"""`bot content check`: what an editor must fix before content can be served."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

from babel.messages.catalog import Catalog
from rich.console import Console
from rich.table import Table

from bot.content.catalog import (
    ANSWERS_DOMAIN,
    MESSAGES_DOMAIN,
    SOURCE_LANGUAGE,
    CatalogError,
    answer_entries,
    available_languages,
    catalog_path,
    read_catalog,
    translated_text,
)
from bot.content.markup import placeholders, telegram_html_errors
from bot.nlu.intents import INTENTS

MAX_ANSWER_CHARS = 900
ERROR_KINDS = (
    "missing",
    "fuzzy",
    "unreviewed",
    "expired",
    "placeholder",
    "markup",
    "too-long",
    "unreadable",
)
WARNING_KINDS = ("expiring-soon", "untranslated-interface")


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
    """How many of the intents' answers one language can serve."""

    language: str
    intents: int
    servable: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def percent(self) -> float:
        """Return the share of intents with a servable answer."""
        return 100.0 * self.servable / self.intents if self.intents else 0.0


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


def _check_answers(
    language: str, catalog: Catalog, source: Catalog | None, today: date, soon: date
) -> tuple[list[Finding], int]:
    findings: list[Finding] = []

    def add(key: str, kind: str, detail: str) -> None:
        findings.append(Finding(language, ANSWERS_DOMAIN, key, kind, detail))

    entries = answer_entries(catalog, language)
    servable = 0
    for intent in INTENTS:
        if intent not in entries:
            add(intent, "missing", "intent has no answer entry")
    for key, entry in entries.items():
        if entry.fuzzy:
            add(key, "fuzzy", "marked fuzzy (needs review)")
        if entry.text is None:
            if not entry.fuzzy:
                add(key, "missing", "no translation")
            continue
        review = entry.review
        for problem in review.problems:
            add(key, "unreviewed", problem)
        absent = [
            name
            for name, value in (
                ("reviewed-by", review.reviewed_by),
                ("reviewed-on", review.reviewed_on),
                ("valid-until", review.valid_until),
                ("source", review.source),
            )
            if not value
        ]
        if absent:
            add(
                key,
                "unreviewed",
                "missing comment(s): " + ", ".join(f"# {name}:" for name in absent),
            )
        if review.valid_until is not None:
            if review.valid_until < today:
                add(key, "expired", f"valid-until {review.valid_until} has passed")
            elif review.valid_until <= soon:
                add(key, "expiring-soon", f"valid-until {review.valid_until}")
        for error in telegram_html_errors(entry.text):
            add(key, "markup", error)
        if len(entry.text) > MAX_ANSWER_CHARS:
            add(key, "too-long", f"{len(entry.text)} characters (limit {MAX_ANSWER_CHARS})")
        source_message = source.get(key) if source is not None else None
        source_text = translated_text(source_message) if source_message is not None else None
        if source_text is not None and placeholders(source_text) != placeholders(entry.text):
            add(key, "placeholder", f"placeholders {sorted(placeholders(entry.text))} differ from"
                f" the English {sorted(placeholders(source_text))}")  # fmt: skip
        if entry.is_servable(today) and key in INTENTS:
            servable += 1
    return findings, servable


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
        if placeholders(message.id) != placeholders(text):
            findings.append(Finding(language, MESSAGES_DOMAIN, message.id, "placeholder",
                                    f"{sorted(placeholders(text))} instead of"
                                    f" {sorted(placeholders(message.id))}"))  # fmt: skip
        findings.extend(
            Finding(language, MESSAGES_DOMAIN, message.id, "markup", error)
            for error in telegram_html_errors(text)
        )
    return findings


def check_catalogs(locales_dir: Path, today: date | None = None, soon_days: int = 30) -> Report:
    """Check every catalog under `locales_dir`."""
    today = today or date.today()
    soon = today + timedelta(days=soon_days)
    report = Report()
    source: Catalog | None = None
    try:
        source = read_catalog(catalog_path(locales_dir, SOURCE_LANGUAGE, ANSWERS_DOMAIN), "en")
    except CatalogError:
        source = None  # reported below, with the English catalog's own row
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
                findings, coverage.servable = _check_answers(language, catalog, source, today, soon)
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
    """Print the coverage table and every finding, errors first."""
    table = Table(title="Answers per language")
    for column in ("lang", "served", "cover", "missing", "fuzzy", "unrev.", "expired", "other",
                   "warn."):  # fmt: skip
        table.add_column(column, justify="left" if column == "lang" else "right")
    shown = ("missing", "fuzzy", "unreviewed", "expired")
    for item in report.coverage:
        other = sum(n for kind, n in item.counts.items() if kind in ERROR_KINDS and kind not in shown)
        warnings = sum(n for kind, n in item.counts.items() if kind in WARNING_KINDS)
        table.add_row(
            item.language,
            f"{item.servable}/{item.intents}",
            f"{item.percent:.0f} %",
            *(str(item.counts.get(kind, 0)) for kind in shown),
            str(other),
            str(warnings),
        )
    console.print(table)
    for finding in sorted(report.findings, key=lambda f: (not f.is_error, f.language, f.key)):
        level = "[red]error[/red]" if finding.is_error else "[yellow]warning[/yellow]"
        console.print(
            f"{level} {finding.language}/{finding.domain} {finding.key}: {finding.kind} — {finding.detail}",
            markup=True,
            highlight=False,
        )
    errors = len(report.errors)
    console.print(f"{errors} error(s), {len(report.findings) - errors} warning(s)")


def run_check(locales_dir: Path, *, as_json: bool = False, soon_days: int = 30) -> int:
    """Run the check, print it, and return 1 when anything blocks publishing."""
    report = check_catalogs(locales_dir, soon_days=soon_days)
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print_report(report, Console())
    return 1 if report.errors else 0
