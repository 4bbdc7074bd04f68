"""Staff commands: `bot slots`, `bot bookings`, `bot callbacks`, `bot stats`.

The flags and the CSV columns are a contract (staff scripts call them). Times are typed and
shown in Brussels time; every listing takes --json (one JSON array of objects). Errors are one
line; exit 0 on success, 1 when the store refuses (full, not found, already done), 2 for input
that cannot be used (a bad time, a bad CSV line, a bad setting). People are shown by their
pseudonymous reference (PSEUDONYM_KEY), never by their Telegram id.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TextIO

from rich.console import Console
from rich.table import Table

from bot.booking.brussels import TimeError, format_brussels, parse_brussels, parse_date, start_of_brussels_day
from bot.booking.models import MODES, Booking, BookingError, Callback, Mode, Slot
from bot.booking.settings import BookingSettings
from bot.booking.staff import pseudonym
from bot.booking.store import BookingStore
from bot.clock import Clock, SystemClock
from bot.settings import Settings
from bot.store.db import Store

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2
SLOT_COLUMNS = ("start", "minutes", "mode", "desk", "languages", "capacity", "counsellor")
REQUIRED_COLUMNS = ("start", "minutes", "mode", "languages")
BOOKING_COLUMNS = (
    "id", "reference", "start", "minutes", "mode", "desk", "language", "interpreter", "topics", "note",
    "phone", "status", "slot", "counsellor", "booked_at",
)  # fmt: skip

clock: Clock = SystemClock()
"""The commands' clock (tests set a fixed one)."""

Handler = Callable[[argparse.Namespace, Settings], int]


class InputError(ValueError):
    """Input staff gave that cannot be used; the message says where and what to write."""


# -- plumbing ------------------------------------------------------------------------------


@contextmanager
def _opened(settings: Settings) -> Iterator[tuple[BookingStore, BookingSettings]]:
    """Open the assistant's database (the same file the assistant uses) for one command."""
    booking_settings = settings.booking  # read and checked once, with every other setting
    store = Store.open(settings.database_path, clock=clock)
    try:
        yield BookingStore(store, reminder_hours=booking_settings.reminder_hours), booking_settings
    finally:
        store.close()


def _guarded(handler: Handler) -> Handler:
    """Turn refusals and bad input into one line on stderr and an exit code."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        try:
            return handler(args, settings)
        except BookingError as error:
            print(f"bot: {error}", file=sys.stderr)
            return EXIT_REFUSED
        except (InputError, TimeError) as error:
            print(f"bot: {error}", file=sys.stderr)
            return EXIT_USAGE

    run.__doc__ = handler.__doc__
    return run


def _print_json(rows: Sequence[dict[str, Any]], out: TextIO | None = None) -> None:
    json.dump(list(rows), out or sys.stdout, ensure_ascii=False, indent=2)
    (out or sys.stdout).write("\n")


def _print_table(title: str, rows: Sequence[dict[str, Any]], empty: str) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # piped or in a file: do not fold to 80 columns
    if not rows:
        console.print(empty)
        return
    table = Table(title=title)
    for name in rows[0]:
        table.add_column(name.replace("_", " "), overflow="fold")
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row.values()))
    console.print(table)


def _show(args: argparse.Namespace, title: str, rows: Sequence[dict[str, Any]], empty: str) -> int:
    if args.json:
        _print_json(rows)
    else:
        _print_table(title, rows, empty)
    return EXIT_OK


def _from(args: argparse.Namespace) -> datetime | None:
    """The moment listings start: --from DATE (Brussels), none with --all, else now."""
    if getattr(args, "from_date", None):
        return start_of_brussels_day(parse_date(args.from_date))
    return None if getattr(args, "all", False) else clock.now()


def _languages(text: str) -> list[str]:
    codes = [code for code in text.replace(";", ",").replace(" ", ",").split(",") if code]
    if not codes:
        raise InputError("languages: list at least one language code, e.g. fa,en")
    for code in codes:
        if not code.isalpha() or not 2 <= len(code) <= 3 or not code.islower():
            raise InputError(f"languages: {code!r} is not a language code (two or three lowercase letters)")
    return codes


def _reference(user_id: str, settings: BookingSettings) -> str:
    return pseudonym(user_id, settings.pseudonym_key) if settings.pseudonym_key else "-"


def _slot_row(slot: Slot) -> dict[str, Any]:
    return {
        "id": slot.id,
        "start": format_brussels(slot.starts_at),
        "minutes": slot.minutes,
        "mode": slot.mode,
        "desk": slot.desk,
        "languages": ",".join(slot.languages),
        "capacity": slot.capacity,
        "booked": slot.booked,
        "counsellor": slot.counsellor,
        "example": slot.example,
        "removed": slot.removed,
    }


def _booking_row(booking: Booking, settings: BookingSettings) -> dict[str, Any]:
    return {
        "id": booking.id,
        "reference": _reference(booking.user_id, settings),
        "start": format_brussels(booking.starts_at),
        "minutes": booking.slot.minutes,
        "mode": booking.mode,
        "desk": booking.slot.desk,
        "language": booking.language,
        "interpreter": booking.interpreter_language,
        "topics": ",".join(booking.topics),
        "note": booking.note,
        # Stored only for phone meetings (and erased once they are over).
        "phone": booking.phone if booking.mode == "phone" else None,
        "status": booking.status,
        "slot": booking.slot.id,
        "counsellor": booking.slot.counsellor,
        "booked_at": format_brussels(booking.created_at),
    }


def _callback_row(callback: Callback, settings: BookingSettings) -> dict[str, Any]:
    return {
        "id": callback.id,
        "reference": _reference(callback.user_id, settings),
        "requested": format_brussels(callback.created_at),
        "language": callback.language,
        "part_of_day": callback.part_of_day,
        "phone": callback.phone,
        "status": callback.status,
        "done": format_brussels(callback.done_at) if callback.done_at else None,
    }


def _check_desk(mode: str, desk: str | None, settings: BookingSettings) -> str | None:
    """Refuse a desk for remote meetings, a missing desk, or one desks.toml does not know."""
    if mode != "desk":
        if desk:
            raise InputError("desk: only in-person meetings (--mode desk) take a desk")
        return None
    if not desk:
        raise InputError("desk: an in-person meeting needs --desk, e.g. --desk brussels")
    from bot.booking.desks import DeskFileError, load_desks

    try:
        desks = load_desks(settings.desks_file)
    except DeskFileError as error:
        raise InputError(str(error)) from None
    if desk not in desks:
        raise InputError(f"desk: {desk!r} is not in {settings.desks_file} (known: {', '.join(desks.ids)})")
    return desk


# -- slots ---------------------------------------------------------------------------------


_DIGITS: Final = re.compile(r"[0-9]{1,9}", re.ASCII)


def _positive(text: str, what: str, low: int, high: int) -> int:
    # ASCII digits only: "²".isdigit() is True but int("²") fails; a bounded length never overflows.
    digits = text.strip()
    if not _DIGITS.fullmatch(digits) or not low <= int(digits) <= high:
        raise InputError(f"{what}: {text!r} is not a whole number from {low} to {high}")
    return int(digits)


def _slots_add(args: argparse.Namespace, settings: Settings) -> int:
    """Open a slot, or the same slot every week until a date."""
    starts_at = parse_brussels(args.start)
    mode: Mode = args.mode
    languages = _languages(args.languages)
    with _opened(settings) as (booking, booking_settings):
        desk = _check_desk(mode, args.desk, booking_settings)
        options: dict[str, Any] = {"desk": desk, "capacity": args.capacity, "counsellor": args.counsellor}
        if args.weekly_until:
            until = parse_date(args.weekly_until)
            slots = booking.add_weekly(starts_at, until, args.minutes, mode, languages, **options)
        else:
            slots = [booking.add_slot(starts_at, args.minutes, mode, languages, **options)]
    if args.json:
        _print_json([_slot_row(slot) for slot in slots])
    else:
        for slot in slots:
            print(f"added slot {slot.id}: {format_brussels(slot.starts_at)} {slot.mode}")
    return EXIT_OK


def _slots_list(args: argparse.Namespace, settings: Settings) -> int:
    """List slots, upcoming first."""
    with _opened(settings) as (booking, _):
        slots = booking.list_slots(_from(args), include_removed=args.all)
    return _show(args, "Slots (Brussels time)", [_slot_row(slot) for slot in slots], "No slots.")


def _slots_remove(args: argparse.Namespace, settings: Settings) -> int:
    """Withdraw a slot; its upcoming meetings are cancelled and the people told."""
    with _opened(settings) as (booking, _):
        cancelled = booking.remove_slot(args.id)
    print(f"removed slot {args.id}; {len(cancelled)} meeting(s) cancelled, the people will be told")
    return EXIT_OK


def read_slot_csv(text: str) -> list[tuple[int, dict[str, Any]]]:
    """Read and check a slots CSV; return (line, add_slot arguments) pairs or raise InputError."""
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    unknown = [name for name in header if name not in SLOT_COLUMNS]
    if unknown:
        raise InputError(
            f"line 1, column {unknown[0]!r}: unknown column (columns: {', '.join(SLOT_COLUMNS)})"
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise InputError(f"line 1: column {missing[0]!r} is missing (columns: {', '.join(SLOT_COLUMNS)})")
    reader.fieldnames = header
    slots: list[tuple[int, dict[str, Any]]] = []
    for row in reader:
        line = reader.line_num
        if None in row:
            raise InputError(f'line {line}: more values than columns (quote a list: "fa,en")')
        values = {name: (value or "").strip() for name, value in row.items()}
        column = "start"
        try:
            starts_at = parse_brussels(values["start"])
            column = "minutes"
            minutes = _positive(values["minutes"], "minutes", 5, 480)
            column = "mode"
            if values["mode"] not in MODES:
                raise InputError(f"mode must be one of {', '.join(MODES)}")
            column = "languages"
            languages = _languages(values["languages"])
            column = "capacity"
            capacity = _positive(values.get("capacity") or "1", "capacity", 1, 500)
        except (InputError, TimeError) as error:
            raise InputError(f"line {line}, column {column!r}: {error}") from None
        slots.append(
            (
                line,
                {
                    "starts_at": starts_at,
                    "minutes": minutes,
                    "mode": values["mode"],
                    "languages": languages,
                    "desk": values.get("desk") or None,
                    "capacity": capacity,
                    "counsellor": values.get("counsellor") or None,
                },
            )
        )
    return slots


def _slots_import(args: argparse.Namespace, settings: Settings) -> int:
    """Open the slots of a CSV file: all of them, or none if any line is wrong."""
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise InputError(f"{args.file}: {error.strerror}") from None
    except UnicodeDecodeError as error:  # e.g. Excel's "CSV" in Windows-1252
        raise InputError(
            f"{args.file}: byte {error.start + 1} is not UTF-8: save the file as CSV UTF-8;"
            " nothing was imported"
        ) from None
    try:
        slots = read_slot_csv(text)
    except csv.Error as error:  # e.g. a NUL byte: not a text file
        raise InputError(
            f"{args.file}: not a readable CSV ({error}): save the file as CSV UTF-8; nothing was imported"
        ) from None
    except InputError as error:
        raise InputError(f"{args.file}: {error}; nothing was imported") from None
    with _opened(settings) as (booking, booking_settings), booking.transaction():
        for line, values in slots:
            try:
                values["desk"] = _check_desk(values["mode"], values["desk"], booking_settings)
                booking.add_slot(**values)
            except (InputError, BookingError) as error:
                column = "desk" if isinstance(error, InputError) else "start"
                raise InputError(
                    f"{args.file}: line {line}, column {column!r}: {error}; nothing was imported"
                ) from None
    print(f"imported {len(slots)} slot(s) from {args.file}")
    return EXIT_OK


def _slots_export(args: argparse.Namespace, settings: Settings) -> int:
    """Write upcoming slots as CSV (the import's columns), to FILE or the screen."""
    with _opened(settings) as (booking, _):
        slots = booking.list_slots(_from(args))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SLOT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for slot in slots:
        row = _slot_row(slot)
        writer.writerow({name: "" if row[name] is None else row[name] for name in SLOT_COLUMNS})
    _write_out(args.file, buffer.getvalue())
    return EXIT_OK


def _write_out(file: str | None, text: str) -> None:
    if file:
        Path(file).write_text(text, encoding="utf-8")
        print(f"wrote {file}", file=sys.stderr)
    else:
        sys.stdout.write(text)


# -- bookings ------------------------------------------------------------------------------


def _bookings_list(args: argparse.Namespace, settings: Settings) -> int:
    """List meetings, upcoming first (booked only, unless --all)."""
    with _opened(settings) as (booking, booking_settings):
        found = booking.list_bookings(_from(args), statuses=None if args.all else ("booked",))
        rows = [_booking_row(item, booking_settings) for item in found]
    if not args.json:  # the screen: the columns staff read, the rest is in --json and export
        rows = [{name: row[name] for name in _BOOKING_SCREEN} for row in rows]
    return _show(args, "Meetings (Brussels time)", rows, "No meetings.")


_BOOKING_SCREEN = (
    "id", "start", "minutes", "mode", "desk", "language", "interpreter", "phone", "topics", "note", "status",
    "reference",
)  # fmt: skip


def _bookings_show(args: argparse.Namespace, settings: Settings) -> int:
    """Show one meeting."""
    with _opened(settings) as (booking, booking_settings):
        row = _booking_row(booking.booking(args.id), booking_settings)
    if args.json:
        _print_json([row])
    else:
        width = max(len(name) for name in row)
        for name, value in row.items():
            print(f"{name.replace('_', ' '):<{width}}  {'' if value is None else value}")
    return EXIT_OK


def _bookings_cancel(args: argparse.Namespace, settings: Settings) -> int:
    """Cancel a meeting on staff's side; the person is told and offered another time."""
    with _opened(settings) as (booking, _):
        cancelled = booking.cancel(args.id, by="staff")
    print(f"cancelled meeting {cancelled.id}; the person will be told")
    return EXIT_OK


def _bookings_move(args: argparse.Namespace, settings: Settings) -> int:
    """Move a meeting to another slot; the person is told."""
    with _opened(settings) as (booking, _):
        moved = booking.change(args.id, args.to, by="staff")
    print(f"moved meeting {moved.id} to {format_brussels(moved.starts_at)}; the person will be told")
    return EXIT_OK


def _bookings_mark(args: argparse.Namespace, settings: Settings) -> int:
    """Record whether the person came."""
    with _opened(settings) as (booking, _):
        marked = booking.mark(args.id, args.outcome)
    print(f"meeting {marked.id} marked {marked.status}")
    return EXIT_OK


def _bookings_export(args: argparse.Namespace, settings: Settings) -> int:
    """Write every stored meeting as CSV or JSON, to FILE or the screen."""
    with _opened(settings) as (booking, booking_settings):
        rows = [_booking_row(item, booking_settings) for item in booking.list_bookings()]
    buffer = io.StringIO()
    if args.format == "json":
        _print_json(rows, buffer)
    else:
        writer = csv.DictWriter(buffer, fieldnames=BOOKING_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    _write_out(args.file, buffer.getvalue())
    return EXIT_OK


# -- call-backs and statistics -------------------------------------------------------------


def _callbacks_list(args: argparse.Namespace, settings: Settings) -> int:
    """List call-back requests waiting (all with --all), oldest first."""
    with _opened(settings) as (booking, booking_settings):
        rows = [
            _callback_row(item, booking_settings) for item in booking.list_callbacks(include_done=args.all)
        ]
    return _show(args, "Call-back requests (Brussels time)", rows, "No call-back requests waiting.")


def _callbacks_done(args: argparse.Namespace, settings: Settings) -> int:
    """Record that the person was called (their number is erased)."""
    with _opened(settings) as (booking, _):
        booking.callback_done(args.id)
    print(f"call-back {args.id} done; the phone number is erased")
    return EXIT_OK


def _stats(args: argparse.Namespace, settings: Settings) -> int:
    """Count meetings, attendance, cancellations and call-backs by ISO week and language."""
    after = start_of_brussels_day(parse_date(args.from_date)) if args.from_date else None
    with _opened(settings) as (booking, _):
        rows = [asdict(row) for row in booking.stats(after)]
    return _show(args, "Meetings by week (Brussels) and language", rows, "Nothing to count yet.")


# -- wiring --------------------------------------------------------------------------------


def _command(
    parent: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    handler: Handler,
    help_text: str,
    *,
    listing: bool = False,
) -> argparse.ArgumentParser:
    parser = parent.add_parser(name, help=help_text, description=handler.__doc__)
    parser.set_defaults(handler=_guarded(handler))
    if listing:
        parser.add_argument("--json", action="store_true", help="print one JSON array of objects")
    return parser


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `slots`, `bookings`, `callbacks` and `stats` to the `bot` command."""
    slots = commands.add_parser("slots", help="open, list, remove, import and export meeting slots")
    slot_commands = slots.add_subparsers(dest="slots_command", required=True, metavar="ACTION")
    add = _command(slot_commands, "add", _slots_add, "open a slot (Brussels time)", listing=True)
    add.add_argument("--start", required=True, help='start in Brussels time, e.g. "2026-12-10 14:00"')
    add.add_argument("--minutes", type=int, required=True, help="length in minutes, e.g. 45")
    add.add_argument("--mode", choices=MODES, required=True, help="phone, video or desk (in person)")
    add.add_argument("--desk", help="the desk id in desks.toml, for --mode desk, e.g. brussels")
    add.add_argument("--languages", required=True, help="languages offered, e.g. fa,en")
    add.add_argument("--capacity", type=int, default=1, help="people per slot (1 for a personal meeting)")
    add.add_argument("--counsellor", help="the counsellor's alias (optional)")
    add.add_argument("--weekly-until", help="repeat every week until this date, e.g. 2027-01-31")
    listing = _command(slot_commands, "list", _slots_list, "list slots from now on", listing=True)
    listing.add_argument("--from", dest="from_date", help="from this date (YYYY-MM-DD) instead of now")
    listing.add_argument("--all", action="store_true", help="include past and removed slots")
    remove = _command(slot_commands, "remove", _slots_remove, "withdraw a slot (its meetings are cancelled)")
    remove.add_argument("id", type=int, help="the slot's id (see `bot slots list`)")
    importing = _command(slot_commands, "import", _slots_import, "open the slots of a CSV file (all or none)")
    importing.add_argument("file", help=f"CSV with the columns {', '.join(SLOT_COLUMNS)}")
    export = _command(slot_commands, "export", _slots_export, "write upcoming slots as CSV")
    export.add_argument("file", nargs="?", help="the CSV file to write (default: the screen)")
    export.add_argument("--from", dest="from_date", help="from this date (YYYY-MM-DD) instead of now")

    bookings = commands.add_parser("bookings", help="list, show, cancel, move, mark and export meetings")
    booking_commands = bookings.add_subparsers(dest="bookings_command", required=True, metavar="ACTION")
    listing = _command(booking_commands, "list", _bookings_list, "list upcoming meetings", listing=True)
    listing.add_argument("--from", dest="from_date", help="from this date (YYYY-MM-DD) instead of now")
    listing.add_argument("--all", action="store_true", help="every stored meeting, past and cancelled too")
    show = _command(booking_commands, "show", _bookings_show, "show one meeting", listing=True)
    show.add_argument("id", type=int)
    cancel = _command(booking_commands, "cancel", _bookings_cancel, "cancel a meeting (the person is told)")
    cancel.add_argument("id", type=int)
    move = _command(booking_commands, "move", _bookings_move, "move a meeting to another slot")
    move.add_argument("id", type=int)
    move.add_argument("--to", type=int, required=True, help="the new slot's id")
    mark = _command(booking_commands, "mark", _bookings_mark, "mark a meeting attended or missed")
    mark.add_argument("id", type=int)
    mark.add_argument("outcome", choices=("attended", "missed"))
    export = _command(booking_commands, "export", _bookings_export, "write every stored meeting")
    export.add_argument("file", nargs="?", help="the file to write (default: the screen)")
    export.add_argument("--format", choices=("csv", "json"), default="csv")

    callbacks = commands.add_parser("callbacks", help="list call-back requests, mark them done")
    callback_commands = callbacks.add_subparsers(dest="callbacks_command", required=True, metavar="ACTION")
    listing = _command(callback_commands, "list", _callbacks_list, "list call-backs waiting", listing=True)
    listing.add_argument("--all", action="store_true", help="include the done ones")
    done = _command(callback_commands, "done", _callbacks_done, "mark a call-back done (erases the number)")
    done.add_argument("id", type=int)

    stats = _command(
        commands, "stats", _stats, "meetings, attendance, cancellations, call-backs", listing=True
    )
    stats.add_argument("--from", dest="from_date", help="count from this date (YYYY-MM-DD)")
