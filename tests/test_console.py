"""`bot chat`: the dialogue core in a terminal, buttons as numbered choices."""

from __future__ import annotations

import io
import os
import re
import subprocess
from pathlib import Path

from bot.clock import FixedClock
from bot.dialogue.replies import Button, Reply
from bot.frontends.console import ConsoleChat, render, to_terminal
from bot.services import Services
from bot.settings import PROJECT_ROOT, Settings
from tests.conftest import CONTENT_DAY

PERSIAN = re.compile(r"[\u0600-\u06FF]")


def test_console_render_numbers_the_buttons_and_strips_markup() -> None:
    reply = Reply(
        '<b>Title</b> &amp; <a href="https://x.be">site</a>', ((Button("A", "a"), Button("B", "b")),)
    )
    assert render(reply) == "Title & site (https://x.be)\n  [1] A\n  [2] B"
    assert to_terminal("<b>x</b>", ansi=True) == "\033[1mx\033[0m"


async def test_console_number_taps_the_last_replys_button(tmp_path: Path, rasa_url: str) -> None:
    settings = Settings.from_env(
        {"DATABASE_PATH": str(tmp_path / "a.db"), "RASA_URL": rasa_url, "SERVE_DRAFT_ANSWERS": "true"}
    )
    services = Services.create(settings, rasa_url, clock=FixedClock(CONTENT_DAY))
    out = io.StringIO()
    chat = ConsoleChat(services.dialogue, out)
    try:
        await chat.begin(None)
        french = next(i for i, button in enumerate(chat.choices, 1) if button.data == "l:fr")
        await chat.handle(str(french))
        assert "je vous réponds en Français" in out.getvalue()
        await chat.handle("/menu")
        assert len(chat.choices) == 20
    finally:
        await services.aclose()


def test_console_chat_answers_finglish_in_farsi(tmp_path: Path, rasa_url: str) -> None:
    result = subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "bot"), "chat"],
        input="salam, mikham bargardam iran\n/quit\n", capture_output=True, text=True, timeout=120,
        env={**os.environ, "RASA_URL": rasa_url, "DATABASE_PATH": str(tmp_path / "a.db")}, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    after_question = result.stdout.split("Français", 1)[-1]
    assert PERSIAN.search(after_question), result.stdout
