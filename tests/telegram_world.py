"""What the end-to-end Telegram tests share: the real Application receiving from the fake Bot API.

Each test file keeps its own view of the world (a person tapping through a booking, staff in a
forum); how the assistant is started against the fake, and how a message's buttons are read,
is written once here.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telegram.ext import Application

from bot.clock import FixedClock
from bot.frontends.telegram import build_application, receiving
from bot.services import Services
from bot.settings import Settings
from tests.conftest import CONTENT_DAY
from tests.fakebotapi import DEFAULT_TOKEN, FakeBotApi, SentMessage


@dataclass
class RunningAssistant:
    """The assistant as a test drives it: its settings, services, clock and Application."""

    settings: Settings
    services: Services
    clock: FixedClock
    app: Application[Any, Any, Any, Any, Any, Any]


@contextlib.asynccontextmanager
async def running_assistant(
    api: FakeBotApi, tmp_path: Path, rasa_url: str, **env: str
) -> AsyncIterator[RunningAssistant]:
    """The assistant on a SQLite file in `tmp_path`, on a clock standing at CONTENT_DAY, receiving from `api`.

    Draft answers are served (as `make chat` does: the catalogs await review); `env` adds or
    overrides settings. The services are closed when the block ends, however it ends.
    """
    settings = Settings.from_env(
        {
            "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN,
            "TELEGRAM_BASE_URL": api.base_url,
            "RASA_URL": rasa_url,
            "DATABASE_PATH": str(tmp_path / "assistant.db"),
            "SERVE_DRAFT_ANSWERS": "true",
            **env,
        }
    )
    clock = FixedClock(CONTENT_DAY)
    services = Services.create(settings, rasa_url, clock=clock)
    try:
        app = build_application(settings, services)
        async with receiving(app, settings, poll_timeout=1):
            yield RunningAssistant(settings, services, clock, app)
    finally:
        await services.aclose()


def buttons(message: SentMessage) -> list[str]:
    """The callback data of a message's inline buttons, row by row."""
    markup = message.reply_markup or {}
    return [button["callback_data"] for row in markup.get("inline_keyboard", []) for button in row]
