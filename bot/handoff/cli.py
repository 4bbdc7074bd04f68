"""`bot queue` and `bot audit`: the staff queue from the command line, with the same rules as the buttons.

    bot queue list [--json] [--all]          waiting and claimed tickets, oldest first
    bot queue show ID [--json]
    bot queue claim|release|resolve ID --as ALIAS
    bot queue export [--format csv|json] [FILE]
    bot audit export [--format csv|json] [FILE]

A command-line actor is "cli:<alias>" in the audit log. When ALIAS is a counsellor's alias,
the command acts as that counsellor (so `release --as maryam` releases what Maryam holds).
Listings show the pseudonymous reference, never the person's Telegram id.
Exit status: 0 done, 1 refused (taken, not the holder, resolved, no such ticket), 2 usage or setup.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.handoff.models import AuditEntry, Ticket
    from bot.handoff.store import HandoffStore
    from bot.settings import Settings

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
Format = Literal["csv", "json"]
TICKET_EXPORT_COLUMNS: Final = (
    "id", "reference", "kind", "language", "state", "chat_id", "opened_at", "waiting_since",
    "claimed_alias", "claimed_at", "first_claimed_at", "wait_seconds", "resolved_at", "ended_by",
    "booking_id", "callback_id", "asked_topics", "blocked", "forgotten",
)  # fmt: skip
"""What an export holds of a ticket: everything but the person's Telegram id and the holder's."""
AUDIT_EXPORT_COLUMNS: Final = ("id", "at", "staff_id", "alias", "action", "ticket_id", "detail")

Handler = Callable[[argparse.Namespace, "Settings"], int]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `bot queue ...` and `bot audit ...` to the `bot` command."""
    queue = commands.add_parser(
        "queue", help="the staff handoff queue: list, show, claim, release, resolve, export tickets"
    )
    actions = queue.add_subparsers(dest="queue_command", required=True, metavar="ACTION")

    listing = actions.add_parser(
        "list", help="waiting and claimed tickets, oldest first, with wait and holder"
    )
    listing.add_argument("--json", action="store_true", help="print one JSON array of objects")
    listing.add_argument("--all", action="store_true", help="include resolved tickets still kept")
    listing.set_defaults(handler=_handler(_list))

    show = actions.add_parser("show", help="one ticket and its audit trail")
    show.add_argument("ticket", type=_ticket_id, metavar="ID")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(handler=_handler(_show))

    verbs = {
        "claim": "take a ticket",
        "release": "put a claimed ticket back in the queue",
        "resolve": "close a ticket",
    }
    for name, verb in verbs.items():
        action = actions.add_parser(name, help=f"{verb} (as ALIAS; audited as cli:ALIAS)")
        action.add_argument("ticket", type=_ticket_id, metavar="ID")
        action.add_argument("--as", dest="alias", required=True, metavar="ALIAS", help="who does it")
        action.set_defaults(handler=_handler(_act), queue_action=name)

    export = actions.add_parser("export", help="every stored ticket as CSV or JSON (no Telegram ids)")
    _export_arguments(export)
    export.set_defaults(handler=_handler(_export_tickets))

    audit = commands.add_parser("audit", help="the audit log of staff actions")
    audit_actions = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    audit_export = audit_actions.add_parser(
        "export", help="the audit log as CSV or JSON (never message text)"
    )
    _export_arguments(audit_export)
    audit_export.set_defaults(handler=_handler(_export_audit))


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["csv", "json"], help="default: from FILE's suffix, else csv")
    parser.add_argument("file", nargs="?", type=Path, metavar="FILE", help="write here instead of stdout")


def _ticket_id(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a ticket number (a whole number like 12)")
    return int(text)


def _handler(run: Callable[[argparse.Namespace, HandoffStore, Clock], int]) -> Handler:
    """Open the database named by the settings, run the action, and turn refusals into one line."""

    def handle(args: argparse.Namespace, settings: Settings) -> int:
        from bot.clock import SystemClock
        from bot.handoff.models import HandoffError
        from bot.handoff.store import HandoffStore
        from bot.store.db import Store

        path = settings.database_path
        if not path.exists():
            return _fail(f"no database at {path}; set DATABASE_PATH to the assistant's database", EXIT_USAGE)
        clock = SystemClock()
        store = Store.open(path, clock=clock)
        try:
            return run(args, HandoffStore(store, clock), clock)
        except HandoffError as error:
            return _fail(str(error), EXIT_FAILURE)
        except OSError as error:
            return _fail(f"cannot write {error.filename or 'the file'}: {error.strerror}", EXIT_USAGE)
        finally:
            store.close()

    handle.__doc__ = run.__doc__
    return handle


def _fail(message: str, status: int) -> int:
    print(f"bot: {message}", file=sys.stderr)
    return status


# -- actions -------------------------------------------------------------------------------


def _list(args: argparse.Namespace, handoff: HandoffStore, clock: Clock) -> int:
    """List tickets oldest first."""
    tickets = handoff.tickets(include_resolved=args.all)
    now = clock.now()
    if args.json:
        records = [{**ticket_record(ticket), "waiting_seconds": _waiting(ticket, now)} for ticket in tickets]
        sys.stdout.write(json.dumps(records, ensure_ascii=False, indent=2) + "\n")
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Tickets ({len(tickets)})", title_justify="left")
    for column in (
        "#",
        "reference",
        "kind",
        "lang",
        "state",
        "opened (Brussels)",
        "waiting",
        "holder",
        "asked",
    ):
        table.add_column(column)
    for ticket in tickets:
        waiting = _waiting(ticket, now)
        table.add_row(
            str(ticket.id),
            ticket.reference,
            ticket.kind + (" (blocked)" if ticket.blocked else ""),
            ticket.language,
            ticket.state,
            _brussels(ticket.opened_at),
            "-" if waiting is None else _duration(waiting),
            ticket.claimed_alias if ticket.state == "claimed" and ticket.claimed_alias else "-",
            ", ".join(ticket.asked_topics) or "-",
        )
    Console(width=140).print(table if tickets else "No open tickets.")
    return EXIT_OK


def _show(args: argparse.Namespace, handoff: HandoffStore, clock: Clock) -> int:
    """Show one ticket with its audit trail."""
    ticket = handoff.ticket(args.ticket)
    trail = handoff.audit(ticket_id=ticket.id)
    record = {**ticket_record(ticket), "waiting_seconds": _waiting(ticket, clock.now())}
    if args.json:
        record["audit"] = [audit_record(entry) for entry in trail]
        sys.stdout.write(json.dumps(record, ensure_ascii=False, indent=2) + "\n")
        return EXIT_OK
    for name, value in record.items():
        if value not in (None, [], False):
            print(f"{name:>16}: {_cell(value)}")
    for entry in trail:
        print(f"{'audit':>16}: {_brussels(entry.at)} {entry.alias or entry.staff_id} {entry.action}")
    return EXIT_OK


def _act(args: argparse.Namespace, handoff: HandoffStore, clock: Clock) -> int:
    """Claim, release or resolve a ticket as ALIAS."""
    from bot.handoff.models import HandoffError

    try:
        actor = handoff.cli_actor(args.alias)
    except HandoffError as error:
        return _fail(str(error), EXIT_USAGE)
    action = {"claim": handoff.claim, "release": handoff.release, "resolve": handoff.resolve}[
        args.queue_action
    ]
    ticket = action(args.ticket, actor)
    done = {"claim": "claimed by", "release": "released by", "resolve": "resolved by"}[args.queue_action]
    print(f"ticket {ticket.id} ({ticket.reference}) {done} {actor.alias}")
    return EXIT_OK


def _export_tickets(args: argparse.Namespace, handoff: HandoffStore, clock: Clock) -> int:
    """Export every stored ticket."""
    records = [ticket_record(ticket) for ticket in handoff.tickets(include_resolved=True)]
    return _write(records, TICKET_EXPORT_COLUMNS, args.format, args.file)


def _export_audit(args: argparse.Namespace, handoff: HandoffStore, clock: Clock) -> int:
    """Export the audit log."""
    records = [audit_record(entry) for entry in handoff.audit()]
    return _write(records, AUDIT_EXPORT_COLUMNS, args.format, args.file)


# -- records -------------------------------------------------------------------------------


def ticket_record(ticket: Ticket) -> dict[str, Any]:
    """Return a ticket as a plain JSON-ready object, without the person's or holder's Telegram id."""
    values = asdict(ticket)
    record = {name: values[name] for name in TICKET_EXPORT_COLUMNS}
    record["asked_topics"] = list(ticket.asked_topics)
    return {name: _plain(value) for name, value in record.items()}


def audit_record(entry: AuditEntry) -> dict[str, Any]:
    """Return an audit entry as a plain JSON-ready object."""
    return {name: _plain(value) for name, value in asdict(entry).items()}


def _plain(value: Any) -> Any:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else value


def _waiting(ticket: Ticket, now: datetime) -> int | None:
    """Seconds a waiting ticket has waited (None once claimed or resolved)."""
    return max(0, int((now - ticket.waiting_since).total_seconds())) if ticket.state == "waiting" else None


def _write(
    records: Sequence[dict[str, Any]], columns: Sequence[str], chosen: Format | None, file: Path | None
) -> int:
    style: Format = chosen or ("json" if file is not None and file.suffix.lower() == ".json" else "csv")
    if style == "json":
        text = json.dumps(list(records), ensure_ascii=False, indent=2) + "\n"
    else:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for record in records:
            writer.writerow(["" if record.get(name) is None else _cell(record[name]) for name in columns])
        text = out.getvalue()
    if file is None:
        sys.stdout.write(text)
    else:
        file.write_text(text, encoding="utf-8")
        print(f"wrote {len(records)} rows to {file}", file=sys.stderr)
    return EXIT_OK


def _cell(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _brussels(when: datetime) -> str:
    from bot.clock import BRUSSELS

    return when.astimezone(BRUSSELS).strftime("%Y-%m-%d %H:%M")


def _duration(seconds: int) -> str:
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d}" if hours < 48 else f"{hours // 24} days"
