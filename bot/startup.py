"""What stops the assistant from starting, found before anything runs and said in one line."""

from __future__ import annotations

import errno
import importlib.util
import socket
import sqlite3

from bot.cli import EXIT_USAGE
from bot.services import Services
from bot.settings import Settings


class StartupError(Exception):
    """The assistant cannot start; the message says what to do next."""

    def __init__(self, message: str, *, exit_status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_status = exit_status


# python-telegram-bot's extras the Telegram front-end uses: module -> what needs it.
_EXTRAS = {"aiolimiter": "rate-limiter", "apscheduler": "job-queue"}


def _require_module(module: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise StartupError(
            f"python-telegram-bot's {extra} extra is not installed (no module {module}): run `make setup`"
        )


def _require_free_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the webhook server does
        try:
            probe.bind((host, port))
        except OSError as error:
            reason = "in use" if error.errno == errno.EADDRINUSE else error.strerror or str(error)
            raise StartupError(
                f"cannot receive webhooks on {host}:{port} ({reason}): stop what uses that port,"
                " or set WEBHOOK_PORT (and WEBHOOK_LISTEN)"
            ) from None


def _require_database_folder(settings: Settings) -> None:
    folder = settings.database_path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StartupError(
            f"cannot create the database folder {folder} ({error.strerror or error}):"
            " set DATABASE_PATH to a file in a folder you can write to"
        ) from None


def check_before_start(settings: Settings, *, telegram: bool) -> None:
    """Check what can be checked before starting anything, so that a start fails early and whole."""
    _require_database_folder(settings)
    if not telegram:
        return
    settings.require_token()
    for module, extra in _EXTRAS.items():
        _require_module(module, extra)
    if settings.webhook_url:
        _require_module("tornado", "webhooks")
        _require_free_port(settings.webhook_listen, settings.webhook_port)


def open_services(settings: Settings, nlu_url: str) -> Services:
    """Create the services; a database that cannot be opened is a `StartupError`."""
    try:
        return Services.create(settings, nlu_url)
    except (OSError, sqlite3.Error) as error:
        raise StartupError(
            f"cannot open the database {settings.database_path} ({error}):"
            " set DATABASE_PATH to a file in a folder you can write to"
        ) from None
