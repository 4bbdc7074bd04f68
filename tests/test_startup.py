"""Start-up failures of `bot run` and `bot chat`: one line that says what to do, nothing left running."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.cli import main
from bot.clock import FixedClock
from bot.frontends.telegram import build_application, receiving
from bot.nlu.server import free_port
from bot.services import Services
from bot.settings import PROJECT_ROOT, Settings
from bot.startup import StartupError
from tests.conftest import CONTENT_DAY
from tests.fakebotapi import DEFAULT_TOKEN, FakeBotApi

SECRET = "webhook-secret_0123456789"
# A stand-in for `rasa run`: answers /status like a server with a model loaded, and notes
# its process id, so that a test can tell whether it was stopped.
FAKE_RASA = f"""#!{sys.executable}
import http.server, json, os, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
open(os.environ["FAKE_RASA_PID"], "w").write(str(os.getpid()))
class Status(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({{"model_file": "fake.tar.gz"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Status).serve_forever()
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings come from the environment: start each test from a known one."""
    for name in list(os.environ):
        if name in {"TELEGRAM_BOT_TOKEN", "TELEGRAM_BASE_URL", "RASA_URL", "LOG_LEVEL", "LOCALES_DIR",
                    "MODELS_DIR", "RASA_VENV"} or name.startswith(("WEBHOOK_", "DATABASE_")):  # fmt: skip
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "assistant.db"))
    monkeypatch.setenv("RASA_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there


def run_bot(command: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Call `bot <command>` in this process; return its exit status and the line it printed."""
    status = main([command])
    error = capsys.readouterr().err
    lines = [line for line in error.splitlines() if line.startswith("bot: ")]
    assert len(lines) == 1 and "Traceback" not in error, error
    return status, lines[0]


@pytest.fixture
def fake_rasa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A models/ folder and a Rasa environment whose `rasa` is FAKE_RASA; yields its pid file."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "nlu-fake.tar.gz").write_bytes(b"")
    rasa = tmp_path / "venv-rasa" / "bin" / "rasa"
    rasa.parent.mkdir(parents=True)
    rasa.write_text(FAKE_RASA)
    rasa.chmod(rasa.stat().st_mode | stat.S_IEXEC)
    pid_file = tmp_path / "rasa.pid"
    monkeypatch.setenv("MODELS_DIR", str(models))
    monkeypatch.setenv("RASA_VENV", str(rasa.parent.parent))
    monkeypatch.setenv("FAKE_RASA_PID", str(pid_file))
    yield pid_file
    if pid_file.exists():  # never leave one behind, whatever the test found
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("command", ["run", "chat"])
def test_startup_bad_setting_is_one_line_and_status_2(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    assert run_bot(command, capsys) == (2, "bot: LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")


@pytest.mark.parametrize("command", ["run", "chat"])
def test_startup_database_folder_that_cannot_be_created_is_one_line(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("DATABASE_PATH", str(blocker / "db" / "assistant.db"))
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", DEFAULT_TOKEN)
    status, line = run_bot(command, capsys)
    assert status == 2
    assert line.startswith(f"bot: cannot create the database folder {blocker / 'db'}")
    assert line.endswith("set DATABASE_PATH to a file in a folder you can write to")


def test_startup_run_without_token_says_how_to_get_one(capsys: pytest.CaptureFixture[str]) -> None:
    status, line = run_bot("run", capsys)
    assert status == 2 and "TELEGRAM_BOT_TOKEN is not set" in line and "@BotFather" in line


def test_startup_missing_webhooks_extra_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tornado", None)  # `import tornado` now fails
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("WEBHOOK_URL", "https://assistant.example.org")
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("WEBHOOK_PORT", str(free_port()))
    status, line = run_bot("run", capsys)
    assert status == 2
    assert (
        line
        == "bot: python-telegram-bot's webhooks extra is not installed (no module tornado): run `make setup`"
    )


def test_startup_webhook_port_in_use_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("WEBHOOK_URL", "https://assistant.example.org")
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("WEBHOOK_PORT", str(port))
        status, line = run_bot("run", capsys)
    assert status == 2
    assert line.startswith(f"bot: cannot receive webhooks on 127.0.0.1:{port} (in use)")


async def test_receiving_stops_everything_when_the_webhook_port_is_taken(tmp_path: Path) -> None:
    """The port taken between the check and the start (a race): still one error, nothing running."""
    async with FakeBotApi(token=DEFAULT_TOKEN) as api:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            env = {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_BASE_URL": api.base_url,
                   "DATABASE_PATH": str(tmp_path / "a.db"), "WEBHOOK_URL": "https://assistant.example.org",
                   "WEBHOOK_SECRET": SECRET, "WEBHOOK_PORT": str(taken.getsockname()[1])}  # fmt: skip
            settings = Settings.from_env(env)
            services = Services.create(settings, "http://127.0.0.1:9", clock=FixedClock(CONTENT_DAY))
            application = build_application(settings, services)
            try:
                with pytest.raises(StartupError, match="stop what uses that port, or set WEBHOOK_PORT"):
                    async with receiving(application, settings):
                        raise AssertionError("started on a port in use")
            finally:
                await services.aclose()
    assert application.updater is not None and not application.updater.running
    assert not application.running  # so "This Application is still running!" cannot happen


async def test_receiving_with_a_token_telegram_refuses_is_one_error(tmp_path: Path) -> None:
    async with FakeBotApi(token="987654321:ANOTHER-bot-token-entirely") as api:
        env = {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_BASE_URL": api.base_url,
               "DATABASE_PATH": str(tmp_path / "a.db")}  # fmt: skip
        settings = Settings.from_env(env)
        services = Services.create(settings, "http://127.0.0.1:9", clock=FixedClock(CONTENT_DAY))
        application = build_application(settings, services)
        try:
            with pytest.raises(StartupError, match="Telegram refused TELEGRAM_BOT_TOKEN"):
                async with receiving(application, settings):
                    raise AssertionError("started with a refused token")
        finally:
            await services.aclose()
    assert not application.running


def test_startup_unreachable_bot_api_is_one_line_and_status_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("TELEGRAM_BASE_URL", f"http://127.0.0.1:{free_port()}/bot")
    status, line = run_bot("run", capsys)
    assert status == 1
    assert line.startswith("bot: cannot reach the Bot API") and line.endswith(
        "check the network or TELEGRAM_BASE_URL"
    )


def test_startup_nlu_server_that_exits_is_one_line_and_status_1(
    fake_rasa: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rasa = Path(os.environ["RASA_VENV"]) / "bin" / "rasa"
    rasa.write_text("#!/bin/sh\nexit 1\n")
    status, line = run_bot("chat", capsys)
    assert status == 1
    assert line.startswith("bot: the NLU server exited; see ")


def test_startup_failure_after_the_nlu_server_started_stops_it(
    fake_rasa: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A folder where the database file should be: found only when the store opens, after
    # the local NLU server has started.
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path))
    status, line = run_bot("chat", capsys)
    assert status == 2
    assert line.startswith(f"bot: cannot open the database {tmp_path}")
    pid = int(fake_rasa.read_text())
    assert not is_running(pid)


def test_startup_failure_of_the_real_command_prints_no_traceback(tmp_path: Path) -> None:
    """The installed `bot run` in its own process: the same one line, and status 2."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {**os.environ, "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "WEBHOOK_URL": "https://a.example.org",
               "WEBHOOK_SECRET": SECRET, "WEBHOOK_PORT": str(taken.getsockname()[1]),
               "DATABASE_PATH": str(tmp_path / "a.db"), "RASA_URL": "http://127.0.0.1:9"}  # fmt: skip
        result = subprocess.run(
            [str(PROJECT_ROOT / ".venv" / "bin" / "bot"), "run"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "still running" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("bot: cannot receive webhooks on 127.0.0.1:")


@pytest.mark.parametrize("webhook", [False, True], ids=["polling", "webhook"])
async def test_run_answers_then_stops_cleanly_on_sigterm(tmp_path: Path, webhook: bool) -> None:
    """The installed `bot run` against the fake: it answers, and SIGTERM ends it with status 0."""
    port = free_port()
    async with FakeBotApi(token=DEFAULT_TOKEN) as api:
        env = {**os.environ, "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_BASE_URL": api.base_url,
               "DATABASE_PATH": str(tmp_path / "a.db"), "RASA_URL": "http://127.0.0.1:9"}  # fmt: skip
        for name in ("WEBHOOK_URL", "WEBHOOK_SECRET", "WEBHOOK_PORT", "WEBHOOK_LISTEN"):
            env.pop(name, None)
        if webhook:
            env |= {
                "WEBHOOK_URL": "https://a.example.org",
                "WEBHOOK_SECRET": SECRET,
                "WEBHOOK_PORT": str(port),
            }
        process = await asyncio.create_subprocess_exec(
            str(PROJECT_ROOT / ".venv" / "bin" / "bot"), "run", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            update = api.send_command(4242, "/help")
            if webhook:
                headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
                async with httpx.AsyncClient(timeout=10) as client:
                    for _ in range(400):  # until the webhook server listens
                        with contextlib.suppress(httpx.ConnectError):
                            await client.post(
                                f"http://127.0.0.1:{port}/telegram", json=update, headers=headers
                            )
                            break
                        await asyncio.sleep(0.05)
            [reply] = await api.wait_for_messages(4242, 1, timeout=60)
            assert "/forget" in reply.text
            assert api.webhook_secret == (SECRET if webhook else None)
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert b"Traceback" not in stderr and b"still running" not in stderr
