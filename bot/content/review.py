"""`bot content review`: a named reviewer reads each answer as a user will see it, and stamps it.

A stamp is four comment lines above the entry (reviewed-by, reviewed-on, valid-until and
the fingerprint of the exact text). The file is edited in place, line by line: Babel's
writer would re-wrap long comment lines (it always wraps comments at 76 columns, as
xgettext does, which splits a `# source:` line from its address) and rewrite the
hand-written header, so nothing but the stamp lines of the reviewed entries changes.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Sequence
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.prompt import Confirm
from rich.text import Text

from bot.content.catalog import (
    ANSWERS_DOMAIN,
    CLOSING_KEY,
    REVIEW_KEYS,
    AnswerEntry,
    CatalogError,
    Status,
    answer_entries,
    catalog_path,
    fingerprint,
    read_catalog,
)
from bot.content.check import check_catalogs
from bot.content.rules import RULES_FILE, RulesError, load_rules

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
# Kinds of check finding that a review itself resolves, and so does not block it.
_REVIEW_RESOLVES = frozenset({"awaiting-review", "unreviewed", "expired", "expiring-soon", "review-stamp"})

_REVIEWER = re.compile(r"^\s*([^,]*[^\W\d_][^,]*?)\s*,\s*([^,]*[^\W\d_][^,]*?)\s*$")

# What makes a text go stale sooner (valid 3 months instead of 6). Deliberately simple:
# - an amount: a number next to €, EUR, euro(s) or یورو;
# - phone hours: a time range such as 9:00-12:30, 09.00–12.30, 9h-12h30 or ۹:۰۰ تا ۱۲:۳۰;
# - an address: a street word (rue, avenue, boulevard, chaussée, street, or a Dutch name
#   ending in straat, laan, steenweg, plein, lei, kaai, dreef) a few words before a house
#   number ("rue de Fiennes 12", "Lombardstraat 5"). A postcode alone is not looked for:
#   "1 January 2022 Fedasil" looks like "2022 Fedasil".
_PERSIAN_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789")
_AMOUNT = re.compile(r"€\s*\d|\d\s*(?:€|eur\b|euros?\b|یورو)", re.IGNORECASE)
_TIME = r"\d{1,2}\s*(?:[:.]\s*\d{2}|h\s*(?:\d{2})?)"
_HOURS = re.compile(rf"{_TIME}\s*(?:[-–—]|to|à|tot|tot en met|تا)\s*{_TIME}", re.IGNORECASE)
_STREET = re.compile(
    r"\b(?:rue|avenue|boulevard|chaussée|street|\w{2,}(?:straat|laan|steenweg|plein|lei|kaai|dreef))\b"
    r"[^\n,.;]{0,40}?\b\d{1,4}\b",
    re.IGNORECASE,
)


class ReviewError(ValueError):
    """A review cannot start (bad arguments) or a stamp cannot be written."""


def parse_reviewer(raw: str) -> str:
    """Return "Name, Role" from `raw`, or raise `ReviewError` saying what is expected."""
    match = _REVIEWER.match(raw or "")
    if match is None:
        raise ReviewError(
            f'--by must name a person and their role, like "Amina Haddad, return counsellor", not {raw!r}'
        )
    return f"{match.group(1)}, {match.group(2)}"


def add_months(day: date, months: int) -> date:
    """Return `day` moved `months` ahead, on the month's last day when it is shorter."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    following = date(year + (month == 12), month % 12 + 1, 1)
    last = (following - date.resolution).day
    return date(year, month, min(day.day, last))


def default_validity(text: str, reviewed_on: date) -> tuple[date, str]:
    """Return how long a review of `text` holds, and why: 3 months for details that change."""
    plain = text.translate(_PERSIAN_DIGITS)
    reasons = [
        reason
        for reason, patterns in (
            ("amounts", (_AMOUNT,)),
            ("phone hours", (_HOURS,)),
            ("an address", (_STREET,)),
        )
        if any(pattern.search(plain) for pattern in patterns)
    ]
    if reasons:
        return add_months(reviewed_on, 3), f"3 months: it contains {' and '.join(reasons)}"
    return add_months(reviewed_on, 6), "6 months"


# -- showing a text as Telegram shows it ------------------------------------------------------

_STYLES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strike", "strike": "strike", "del": "strike", "code": "bold cyan", "pre": "bold cyan",
    "a": "underline blue", "tg-spoiler": "reverse", "span": "reverse", "blockquote": "italic",
}  # fmt: skip


class _TerminalText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = Text()
        self.styles: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.styles.append(_STYLES.get(tag, ""))
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if self.styles:
            self.styles.pop()
        if tag == "a" and self.links:
            self.text.append(f" ({self.links.pop()})", style="dim")

    def handle_data(self, data: str) -> None:
        self.text.append(data, style=" ".join(style for style in self.styles if style))


def to_terminal(html_text: str) -> Text:
    """Return Telegram HTML as rich text: bold as bold, links with their address after them."""
    parser = _TerminalText()
    parser.feed(html_text)
    parser.close()
    return parser.text


# -- stamping ---------------------------------------------------------------------------------

_STAMP_LINE = re.compile(r"^#\s+(?:" + "|".join(REVIEW_KEYS) + r")\s*:")


def stamp_entry(path: Path, key: str, stamp: dict[str, str]) -> None:
    """Replace the review lines above `key`'s entry in `path` with `stamp`; nothing else changes."""
    original = path.read_text(encoding="utf-8")
    lines = original.split("\n")
    try:
        msgid = lines.index(f'msgid "{key}"')
    except ValueError:
        raise ReviewError(f"{path}: no entry {key!r}") from None
    start = msgid
    while start > 0 and lines[start - 1].startswith("#") and not lines[start - 1].startswith("#~"):
        start -= 1
    block = [line for line in lines[start:msgid] if not _STAMP_LINE.match(line)]
    # Translator comments ("# ") come first in an entry; the stamp goes after the last of them.
    after = max((i + 1 for i, line in enumerate(block) if line == "#" or line.startswith("# ")), default=0)
    stamp_lines = [f"# {name}: {value}" for name, value in stamp.items()]
    lines[start:msgid] = block[:after] + stamp_lines + block[after:]
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write("\n".join(lines))
        os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _verify(path: Path, language: str, key: str) -> None:
    entry = answer_entries(read_catalog(path, language), language).get(key)
    if entry is None or entry.status is not Status.REVIEWED:
        raise ReviewError(f"{path}: the stamp of {key!r} did not read back as a review; check the file")


def run_review(
    locales_dir: Path,
    language: str,
    keys: Sequence[str],
    *,
    by: str,
    today: date,
    valid_until: date | None = None,
    yes: bool = False,
    console: Console | None = None,
    ask: Callable[[str], bool] | None = None,
) -> int:
    """Show each answer (all drafts when `keys` is empty), and stamp those the reviewer confirms.

    Returns 0 when every shown entry was stamped or skipped by choice, 1 when an entry was
    refused because the content check finds errors in it, 2 on bad arguments.
    """
    console = console or Console()
    confirm = ask or (lambda question: Confirm.ask(question, console=console, default=False))
    try:
        reviewer = parse_reviewer(by)
        if valid_until is not None and valid_until <= today:
            raise ReviewError(f"--valid-until {valid_until} must be after today ({today})")
        path = catalog_path(locales_dir, language, ANSWERS_DOMAIN)
        if not path.exists():
            raise ReviewError(f"no answers catalog for {language!r}: {path} does not exist")
        entries = answer_entries(read_catalog(path, language), language)
        unknown = [key for key in keys if key not in entries]
        if unknown:
            raise ReviewError(f"no entry in {path} for: {', '.join(unknown)}")
    except (ReviewError, CatalogError) as error:
        console.print(f"bot content review: {error}", markup=False, highlight=False)
        return EXIT_USAGE
    try:
        personal = load_rules(locales_dir / RULES_FILE).personal_topics
    except RulesError:
        personal = frozenset()  # the check below reports the rules file as an error
    report = check_catalogs(locales_dir, today)
    blocking: dict[str, list[str]] = {}
    for finding in report.errors:
        if finding.language == language and finding.kind not in _REVIEW_RESOLVES:
            blocking.setdefault(finding.key, []).append(f"{finding.kind}: {finding.detail}")
    chosen = list(keys) or [
        key for key, entry in entries.items() if entry.text and not entry.is_reviewed(today)
    ]
    stamped = skipped = refused = 0
    for key in chosen:
        entry = entries[key]
        problems = blocking.get(key, []) + blocking.get("*", [])
        if entry.text is None or entry.fuzzy:
            problems.append("fuzzy or without text")
        if problems:
            refused += 1
            console.print(f"[red]refused[/red] {language} {key}: fix what `bot content check` finds first:")
            for problem in problems:
                console.print(f"  {problem}", markup=False, highlight=False)
            continue
        assert entry.text is not None
        until, why = (valid_until, "as asked") if valid_until else default_validity(entry.text, today)
        _show(console, entry, entries.get(CLOSING_KEY) if key in personal else None, until, why)
        if not yes and not confirm(f"Stamp {key} ({language}) as reviewed by {reviewer} until {until}?"):
            skipped += 1
            continue
        stamp_entry(
            path,
            key,
            {
                "reviewed-by": reviewer,
                "reviewed-on": today.isoformat(),
                "valid-until": until.isoformat(),
                "fingerprint": fingerprint(entry.text),
            },
        )
        _verify(path, language, key)
        stamped += 1
    console.print(f"{stamped} stamped, {skipped} skipped, {refused} refused ({path})")
    return EXIT_FAILURE if refused else EXIT_OK


def _show(console: Console, entry: AnswerEntry, closing: AnswerEntry | None, until: date, why: str) -> None:
    """Print the answer as the reader gets it; the closing, reviewed on its own, set apart."""
    assert entry.text is not None
    body = to_terminal(entry.text)
    if closing is not None and closing.text:
        body.append("\n\n")
        body.append(to_terminal(closing.text))
        body.stylize("dim", len(body) - len(to_terminal(closing.text)))
    state = {Status.EDITED: " (edited after its review)", Status.REVIEWED: " (review expired)"}
    subtitle = f"valid until {until} ({why})"
    console.print(
        Panel(body, title=f"{entry.language} · {entry.key}{state.get(entry.status, '')}", subtitle=subtitle)
    )
    if closing is not None:
        console.print("  (dimmed: the standard closing, shown after this answer and reviewed as _closing)")


def run_fingerprint(locales_dir: Path, language: str, key: str) -> int:
    """Print the fingerprint of an entry's current text, for stamping by hand."""
    path = catalog_path(locales_dir, language, ANSWERS_DOMAIN)
    try:
        entry = answer_entries(read_catalog(path, language), language).get(key)
    except CatalogError as error:
        print(f"bot content fingerprint: {error}")
        return EXIT_USAGE
    if entry is None or entry.text is None:
        print(f"bot content fingerprint: {path} has no text for {key!r}")
        return EXIT_USAGE
    print(fingerprint(entry.text))
    return EXIT_OK
