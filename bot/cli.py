"""The `bot` command: one entry point with a subcommand per task."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date

from bot.booking.cli import register as register_booking
from bot.handoff.cli import register as register_handoff
from bot.settings import Settings, SettingsError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _classify(args: argparse.Namespace, settings: Settings) -> int:
    """Classify stdin, one utterance per line, as JSON lines."""
    from bot.nlu.classify import classify

    return asyncio.run(classify(settings, sys.stdin.buffer, sys.stdout))


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    """Talk to the assistant in the terminal."""
    from bot.frontends.console import run_console

    return asyncio.run(run_console(settings, language=args.language))


def _run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the assistant on Telegram."""
    from bot.frontends.telegram import run_telegram

    return run_telegram(settings)


def _content_check(args: argparse.Namespace, settings: Settings) -> int:
    """Check every catalog and print the coverage per language."""
    from bot.clock import SystemClock, brussels_today
    from bot.content.check import run_check

    return run_check(
        settings.locales_dir,
        today=brussels_today(SystemClock()),
        as_json=args.json,
        soon_days=args.soon_days,
        require_reviewed=args.require_reviewed,
    )


def _content_review(args: argparse.Namespace, settings: Settings) -> int:
    """Show answers as users see them and stamp those a named reviewer confirms."""
    from bot.clock import SystemClock, brussels_today
    from bot.content.review import run_review

    return run_review(
        settings.locales_dir,
        args.language,
        args.intents,
        by=args.by,
        today=brussels_today(SystemClock()),
        valid_until=args.valid_until,
        yes=args.yes,
    )


def _content_fingerprint(args: argparse.Namespace, settings: Settings) -> int:
    """Print the fingerprint of an answer's current text, for stamping by hand."""
    from bot.content.review import run_fingerprint

    return run_fingerprint(settings.locales_dir, args.language, args.intent)


def _content_babel(action: str) -> Callable[[argparse.Namespace, Settings], int]:
    def run(args: argparse.Namespace, settings: Settings) -> int:
        from bot.content.tooling import run_babel

        return run_babel(action, settings.locales_dir, language=getattr(args, "language", None))

    run.__doc__ = f"Run pybabel {action} on the catalogs."
    return run


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the `bot` command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="bot", description="The voluntary-return assistant: chat, Telegram, NLU and content."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    classify = commands.add_parser(
        "classify",
        help="classify utterances from stdin (one per line) into JSON lines",
        description="Reads one utterance per line on stdin and writes one JSON object per line."
        " Uses the NLU server at RASA_URL (default http://127.0.0.1:5005) when it answers,"
        " otherwise starts a local one from the latest model in models/.",
    )
    classify.set_defaults(handler=_classify)

    chat = commands.add_parser("chat", help="talk to the assistant in this terminal")
    chat.add_argument("--language", choices=["fa", "fr", "nl", "en"], help="skip the language menu")
    chat.set_defaults(handler=_chat)

    run = commands.add_parser("run", help="serve the assistant on Telegram (needs a bot token)")
    run.set_defaults(handler=_run)

    content = commands.add_parser("content", help="editors' tools for the answer catalogs")
    content_commands = content.add_subparsers(dest="content_command", required=True, metavar="ACTION")
    check = content_commands.add_parser(
        "check", help="report missing, fuzzy, unreviewed, expired and malformed entries"
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--soon-days", type=int, default=30, help="warn about entries expiring within N days")
    check.add_argument(
        "--require-reviewed", action="store_true", help="count drafts awaiting review as errors"
    )
    check.set_defaults(handler=_content_check)
    review = content_commands.add_parser(
        "review",
        help="read answers as users see them and stamp them as reviewed",
        description="Shows each answer (every draft of LANG when no INTENT is given) as the user"
        " will see it, asks for confirmation, and stamps reviewed-by, reviewed-on, valid-until and"
        " the text's fingerprint into the catalog. Entries with check errors are refused.",
    )
    review.add_argument("language", metavar="LANG", help="the catalog's language, e.g. fa")
    review.add_argument(
        "intents", metavar="INTENT", nargs="*", help="the answers to review (default: drafts)"
    )
    review.add_argument("--by", required=True, help='the reviewer, "NAME, ROLE"')
    review.add_argument(
        "--valid-until",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="last day the review holds (default: 3 months for amounts, phone hours and addresses,"
        " else 6 months)",
    )
    review.add_argument("--yes", action="store_true", help="stamp without asking for each entry")
    review.set_defaults(handler=_content_review)
    fingerprint = content_commands.add_parser(
        "fingerprint", help="print the fingerprint of an answer's text (to stamp a review by hand)"
    )
    fingerprint.add_argument("language", metavar="LANG")
    fingerprint.add_argument("intent", metavar="INTENT")
    fingerprint.set_defaults(handler=_content_fingerprint)
    extract = content_commands.add_parser(
        "extract", help="extract interface strings from bot/ into locales/messages.pot"
    )
    extract.set_defaults(handler=_content_babel("extract"))
    update = content_commands.add_parser("update", help="merge new interface strings into every messages.po")
    update.set_defaults(handler=_content_babel("update"))
    init = content_commands.add_parser("init", help="start the catalogs of a new language")
    init.add_argument("language", help="the new language's code, e.g. ar or ps")
    init.set_defaults(handler=_content_babel("init"))
    register_handoff(commands)  # bot queue ..., bot audit ...
    register_booking(commands)  # bot slots|bookings|callbacks ..., bot stats
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `bot` command; return its exit status.

    Whatever stops a start (a setting, a missing extra or model, a port, the database, the
    NLU server) is one line on stderr that says what to do, never a traceback.
    """
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        return _fail(str(error), EXIT_USAGE)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL at INFO, and the Bot API URL contains the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from bot.nlu.server import ModelMissing, ServerFailed
    from bot.startup import StartupError

    try:
        status: int = args.handler(args, settings)
    except (SettingsError, ModelMissing) as error:
        return _fail(str(error), EXIT_USAGE)
    except StartupError as error:
        return _fail(str(error), error.exit_status)
    except ServerFailed as error:
        return _fail(str(error), EXIT_FAILURE)
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as error:  # the promise above: no traceback, but LOG_LEVEL=DEBUG shows it
        logging.getLogger("bot").debug("Stopped by an unexpected error", exc_info=error)
        return _fail(
            f"stopped by an unexpected {type(error).__name__}: {error}"
            " (LOG_LEVEL=DEBUG shows where; please report it)",
            EXIT_FAILURE,
        )
    return status


def _fail(message: str, status: int) -> int:
    print(f"bot: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
