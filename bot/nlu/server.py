"""Starting and stopping a local Rasa NLU server from the latest trained model."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

from bot.nlu.client import NLUClient
from bot.settings import PROJECT_ROOT

logger = logging.getLogger(__name__)

START_TIMEOUT = 120.0


class ModelMissing(FileNotFoundError):
    """No trained model: the user must run `make train`."""


class ServerFailed(RuntimeError):
    """The Rasa server exited or did not become ready in time."""


def latest_model(models_dir: Path) -> Path:
    """Return the newest model archive in `models_dir`, or raise `ModelMissing`."""
    archives = sorted(models_dir.glob("*.tar.gz"), key=lambda path: path.stat().st_mtime)
    if not archives:
        raise ModelMissing(f"no trained NLU model in {models_dir}/: run `make train` first")
    return archives[-1]


def free_port() -> int:
    """Return a TCP port on loopback that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rasa_environment() -> dict[str, str]:
    """Return the environment Rasa runs in: our components importable, no telemetry."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env["RASA_TELEMETRY_ENABLED"] = "false"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    env.setdefault("PYTHONWARNINGS", "ignore")  # Rasa's own dependencies' deprecation noise
    # One parse is a few small matrix products: TensorFlow's thread pools only make the
    # server compete with the assistant for the cores.
    env.setdefault("TF_INTRA_OP_PARALLELISM_THREADS", "1")
    env.setdefault("TF_INTER_OP_PARALLELISM_THREADS", "1")
    return env


class RasaServer:
    """A `rasa run --enable-api` child process bound to loopback."""

    def __init__(
        self,
        model: Path,
        rasa_venv: Path,
        *,
        port: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.model = model
        self.rasa_bin = rasa_venv / "bin" / "rasa"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or PROJECT_ROOT / "var" / "log" / "rasa.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    def start(self) -> None:
        """Spawn the server (returns at once; see `wait_ready`)."""
        if not self.rasa_bin.exists():
            raise ModelMissing(f"{self.rasa_bin} is missing: run `make setup` first")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            str(self.rasa_bin), "run", "--enable-api", "--interface", "127.0.0.1",
            "--port", str(self.port), "--model", str(self.model), "--log-file", str(self.log_path),
        ]  # fmt: skip
        self._started_at = time.perf_counter()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=rasa_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop Rasa.
            )
        logger.info("Starting the NLU server on port %d", self.port)

    async def wait_ready(self, within: float = START_TIMEOUT) -> None:
        """Wait until the model is loaded, or raise `ServerFailed`."""
        deadline = time.monotonic() + within
        async with NLUClient(self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise ServerFailed(f"the NLU server exited; see {self.log_path}")
                if await client.is_ready():
                    self.startup_seconds = time.perf_counter() - self._started_at
                    logger.info("NLU server ready in %.1f s", self.startup_seconds)
                    return
                await asyncio.sleep(0.25)
        self.stop()
        raise ServerFailed(f"the NLU server was not ready after {within:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        """Stop the server and everything it started."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@contextlib.asynccontextmanager
async def running_server(
    model: Path, rasa_venv: Path, *, port: int | None = None
) -> AsyncIterator[RasaServer]:
    """Run a Rasa server for the duration of the block."""
    server = RasaServer(model, rasa_venv, port=port)
    server.start()
    try:
        await server.wait_ready()
        yield server
    finally:
        server.stop()
