"""`make bench-bot`: simulated Telegram users through the fake Bot API, assistant vs. echo floor.

In one run, side by side and under the same load:

* the real assistant: a Rasa server from the newest model in models/, `Services.create`,
  `build_application` and `receiving(...)` (long polling) against `tests.fakebotapi.FakeBotApi`;
* the floor: a minimal python-telegram-bot echo bot on the same kind of fake, same polling.

Every simulated user is a closed loop: send a question (real held-out utterances in fa, fr,
nl and en), wait for the first message the bot sends to that chat, send the next. All users
run concurrently in this process's event loop, next to the bot and the fake. Latency is
measured from queuing the update in the fake to the fake receiving the first sendMessage for
that chat. For the assistant, the time of the whole handler chain and of each NLU call are
measured per update, so that its own added latency (handler − NLU) can be reported. Prints a
table and writes reports/bench-bot.json; everything is stopped at the end, on errors and on
Ctrl-C. Loopback only.

    .venv/bin/python -m benchmarks.bot [--users 200] [--messages 10] [--max-seconds 300]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import re
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, TypeHandler, filters

from bot.frontends.telegram import build_application, receiving
from bot.nlu.client import NLUUnavailable, Prediction
from bot.nlu.intents import LANGUAGES
from bot.nlu.resilient import Understanding
from bot.nlu.server import ModelMissing, RasaServer, ServerFailed, latest_model
from bot.services import Services
from bot.settings import PROJECT_ROOT, Settings
from tests.fakebotapi import DEFAULT_TOKEN, FakeBotApi, JsonDict

AnyApplication = Application[Any, Any, Any, Any, Any, Any]

MODELS_DIR = PROJECT_ROOT / "models"
RASA_VENV = PROJECT_ROOT / ".venv-rasa"
HELDOUT_DIR = PROJECT_ROOT / "eval" / "heldout"
REPORT_PATH = PROJECT_ROOT / "reports" / "bench-bot.json"

OUTBOUND_PER_SECOND = 1000
"""Telegram's own limit (30 messages/s) would otherwise be what the benchmark measures."""
USER_MESSAGES_PER_MINUTE = 600
"""The highest value Settings accepts: closed-loop users are never throttled below it."""
MAX_MESSAGES = USER_MESSAGES_PER_MINUTE - 100
"""Upper bound of --messages, so that a fast floor cannot trip the per-user limit."""
SAMPLE_EVERY = 0.5
"""Seconds between two memory samples."""
SETTLE_QUIET = 0.5
"""After the warm-up, the fake must see no sendMessage for this long before timing starts."""
FLAT_TOLERANCE_MIB = 5.0
"""Memory is "flat" when the second half of the run averages at most this much above the first."""
TARGET_UPDATES_PER_SECOND = 100.0
TARGET_ADDED_P95_MS = 5.0
LANGUAGE_CODES = {"fa": "fa-IR", "fr": "fr-BE", "nl": "nl-BE", "en": "en-GB"}
FIRST_USER_ID = 100_000
# Intents whose answer is two messages (the answer, then the language keyboard): a closed
# loop that waits for one reply per question would take the second for the next question's.
TWO_MESSAGE_INTENTS = frozenset({"change_language"})
FALLBACK_QUESTIONS: dict[str, tuple[str, ...]] = {
    "fa": ("میخوام برگردم ایران چیکار باید بکنم", "pasport nadaram chikar konam"),
    "fr": ("je veux rentrer au maroc comment faire", "qui paie le billet d avion?"),
    "nl": ("ik wil terug naar mijn land hoe werkt dat", "wie betaalt het vliegticket?"),
    "en": ("i want to go back home how do i apply", "who pays for the plane ticket?"),
}

_INTENT_LINE = re.compile(r"^-\s*intent:\s*(\S+)")
_EXAMPLE_LINE = re.compile(r"^\s+-\s+(.+?)\s*$")


# -- the questions ---------------------------------------------------------------------------


def heldout_questions(path: Path) -> list[str]:
    """Return the example texts of a Rasa NLU YAML file, skipping two-message intents."""
    texts: list[str] = []
    intent: str | None = None
    in_examples = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := _INTENT_LINE.match(line):
            intent, in_examples = match.group(1), False
        elif line.strip().startswith("examples:"):
            in_examples = True
        elif in_examples and (match := _EXAMPLE_LINE.match(line)):
            if intent not in TWO_MESSAGE_INTENTS:
                texts.append(match.group(1))
        elif line.strip() and not line.startswith(" "):
            in_examples = False
    return texts


def questions_by_language() -> tuple[dict[str, list[str]], dict[str, str]]:
    """Return the questions of each language and where they came from."""
    questions: dict[str, list[str]] = {}
    sources: dict[str, str] = {}
    for language in LANGUAGES:
        path = HELDOUT_DIR / f"{language}.yml"
        texts: list[str] = []
        with contextlib.suppress(OSError, UnicodeDecodeError):
            texts = heldout_questions(path)
        if texts:
            questions[language] = texts
            sources[language] = f"{path.relative_to(PROJECT_ROOT)} ({len(texts)} utterances)"
        else:
            questions[language] = list(FALLBACK_QUESTIONS[language])
            sources[language] = "built-in list (held-out file missing or empty)"
    return questions, sources


# -- the fake Telegram, with timestamps -------------------------------------------------------


class TimedFakeBotApi(FakeBotApi):
    """The fake Bot API, timing each update until the first sendMessage to its chat.

    It also forgets the messages the fake records for tests, so that a long run measures the
    bot's memory and not that record.
    """

    KEEP_RECORDS = 512

    def __init__(self) -> None:
        """Prepare the fake with the default token."""
        super().__init__(DEFAULT_TOKEN)
        self.recording = False
        self.unexpected = 0
        self.replies = 0
        self.last_reply_at = time.perf_counter()
        self._waiting: dict[int, asyncio.Future[float]] = {}

    async def ask(self, user_id: int, text: str, language_code: str, timeout: float) -> float | None:  # noqa: ASYNC109
        """Queue a text from the user; return seconds until the first reply, None if none came."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[user_id] = future
        self.send_text(user_id, text, language_code=language_code)
        queued = time.perf_counter()  # in the queue now; nothing can fetch it before we await
        try:
            replied = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            if self._waiting.get(user_id) is future:
                del self._waiting[user_id]
        return replied - queued

    async def wait_quiet(self, quiet: float, within: float) -> bool:
        """Wait until no message was sent for `quiet` seconds; False if that took over `within`."""
        deadline = time.perf_counter() + within
        while (idle := time.perf_counter() - self.last_reply_at) < quiet:
            if time.perf_counter() > deadline:
                return False
            await asyncio.sleep(quiet - idle)
        return True

    async def _send_message(self, params: JsonDict) -> JsonDict:
        received = time.perf_counter()
        message = await super()._send_message(params)
        self.last_reply_at = received
        chat_id = message["chat"]["id"]
        future = self._waiting.pop(chat_id, None)
        if future is not None and not future.done():
            future.set_result(received)
        if self.recording:
            self.replies += 1
            self.unexpected += future is None
        if len(self.sent) > self.KEEP_RECORDS:
            self.sent.clear()
            self.calls.clear()
            self._messages.clear()  # kept for edits and buttons, which the benchmark never uses
        return message


# -- timing inside the assistant -------------------------------------------------------------


@dataclass
class _UpdateTiming:
    started: float
    nlu_seconds: float = 0.0


_CURRENT_UPDATE: ContextVar[_UpdateTiming | None] = ContextVar("bench_bot_update", default=None)
"""Per update: python-telegram-bot processes each update in its own task (own context)."""


class TimingNLU:
    """Wraps the dialogue's NLU and adds the time of every parse to the current update."""

    def __init__(self, inner: Understanding) -> None:
        """Wrap `inner`."""
        self.inner = inner
        self.failures = 0

    async def parse(self, text: str) -> Prediction:
        """Classify `text` through the wrapped NLU, timing the call."""
        started = time.perf_counter()
        try:
            return await self.inner.parse(text)
        except NLUUnavailable:
            self.failures += 1
            raise
        finally:
            timing = _CURRENT_UPDATE.get()
            if timing is not None:
                timing.nlu_seconds += time.perf_counter() - started


class HandlerTimer:
    """Times the whole handler chain of each update with two bracketing handler groups.

    python-telegram-bot runs one matching handler per group, groups in order, all in the
    update's task; a `TypeHandler` in the first and in the last group therefore brackets the
    assistant's own handlers (and its error handler) without changing them.
    """

    FIRST_GROUP = -(2**31)
    LAST_GROUP = 2**31 - 1

    def __init__(self) -> None:
        """Start with nothing recorded."""
        self.recording = False
        self.handler_seconds: list[float] = []
        self.nlu_seconds: list[float] = []
        self.added_seconds: list[float] = []

    def install(self, application: AnyApplication) -> None:
        """Add the two bracketing handlers to `application`."""
        application.add_handler(TypeHandler(Update, self._begin), group=self.FIRST_GROUP)
        application.add_handler(TypeHandler(Update, self._end), group=self.LAST_GROUP)

    async def _begin(self, update: Update, context: Any) -> None:
        _CURRENT_UPDATE.set(_UpdateTiming(time.perf_counter()))

    async def _end(self, update: Update, context: Any) -> None:
        timing = _CURRENT_UPDATE.get()
        if timing is None or not self.recording:
            return
        handler = time.perf_counter() - timing.started
        self.handler_seconds.append(handler)
        self.nlu_seconds.append(timing.nlu_seconds)
        self.added_seconds.append(handler - timing.nlu_seconds)


# -- memory ---------------------------------------------------------------------------------


def resident_mib(process: psutil.Process, *, children: bool = False) -> float | None:
    """Return the resident memory of a process (and its children), in MiB; None if it is gone."""
    try:
        members = [process, *(process.children(recursive=True) if children else [])]
    except psutil.Error:
        return None
    total = 0
    for member in members:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total / 2**20 if total else None


@dataclass
class MemorySampler:
    """Samples this process's (and optionally the Rasa server's) RSS every `SAMPLE_EVERY` s."""

    rasa_pid: int | None = None
    samples: list[tuple[float, float, float | None]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        """Take one sample now."""
        own = resident_mib(psutil.Process())
        rasa = resident_mib(psutil.Process(self.rasa_pid), children=True) if self.rasa_pid else None
        self.samples.append((time.perf_counter(), own or 0.0, rasa))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_EVERY)
            self.sample()

    def start(self) -> None:
        """Take the first sample and keep sampling in the background."""
        self.sample()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop sampling and take the last sample."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sample()


def memory_figures(samples: Sequence[tuple[float, float, float | None]]) -> dict[str, Any]:
    """Return start, peak, end and half-over-half growth of the sampled memory."""
    own = [value for _, value, _ in samples]
    middle = (samples[0][0] + samples[-1][0]) / 2
    first = [value for at, value, _ in samples if at <= middle]
    second = [value for at, value, _ in samples if at > middle] or own[-1:]
    rasa = [value for _, _, value in samples if value is not None]
    return {
        "samples": len(samples),
        "rss_start_mib": own[0],
        "rss_peak_mib": max(own),
        "rss_end_mib": own[-1],
        "rss_first_half_mean_mib": sum(first) / len(first),
        "rss_second_half_mean_mib": sum(second) / len(second),
        "rss_growth_mib": sum(second) / len(second) - sum(first) / len(first),
        "rasa_rss_start_mib": rasa[0] if rasa else None,
        "rasa_rss_peak_mib": max(rasa) if rasa else None,
        "rasa_rss_end_mib": rasa[-1] if rasa else None,
    }


# -- the load -------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Return the `fraction` percentile of sorted values, interpolating linearly."""
    if not sorted_values:
        return float("nan")
    position = fraction * (len(sorted_values) - 1)
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def distribution_ms(seconds: Sequence[float]) -> dict[str, float]:
    """Return p50, p95, p99, mean and max of durations in seconds, as milliseconds."""
    ms = sorted(value * 1000 for value in seconds)
    return {
        "p50_ms": percentile(ms, 0.50),
        "p95_ms": percentile(ms, 0.95),
        "p99_ms": percentile(ms, 0.99),
        "mean_ms": sum(ms) / len(ms) if ms else float("nan"),
        "max_ms": ms[-1] if ms else float("nan"),
    }


@dataclass(frozen=True)
class SimulatedUser:
    """One user: a private chat, a language and the questions they ask in turn."""

    user_id: int
    language: str
    questions: tuple[str, ...]

    @property
    def language_code(self) -> str:
        """The Telegram client's language code."""
        return LANGUAGE_CODES.get(self.language, self.language)


def make_users(count: int, messages: int, questions: dict[str, list[str]]) -> list[SimulatedUser]:
    """Spread `count` users over the languages; each gets a warm-up plus `messages` questions."""
    users: list[SimulatedUser] = []
    for index in range(count):
        language = LANGUAGES[index % len(LANGUAGES)]
        pool = questions[language]
        start = (index // len(LANGUAGES)) * 7
        asked = tuple(pool[(start + turn) % len(pool)] for turn in range(messages + 1))
        users.append(SimulatedUser(FIRST_USER_ID + index, language, asked))
    return users


@dataclass
class LoadResult:
    """What the users saw during the timed run."""

    latencies: list[float]
    lost: int
    seconds: float


async def run_load(api: TimedFakeBotApi, users: Sequence[SimulatedUser], reply_timeout: float) -> LoadResult:
    """Run every user's timed questions concurrently, each user waiting for each reply."""
    latencies: list[float] = []

    async def user_loop(user: SimulatedUser) -> int:
        lost = 0
        for text in user.questions[1:]:
            seconds = await api.ask(user.user_id, text, user.language_code, reply_timeout)
            if seconds is None:
                lost += 1
            else:
                latencies.append(seconds)
        return lost

    started = time.perf_counter()
    lost = await asyncio.gather(*(user_loop(user) for user in users))
    return LoadResult(latencies, sum(lost), time.perf_counter() - started)


async def warm_up(api: TimedFakeBotApi, users: Sequence[SimulatedUser], reply_timeout: float) -> int:
    """Send each user's first message untimed (first contact adds a privacy notice); settle."""
    answers = await asyncio.gather(
        *(api.ask(user.user_id, user.questions[0], user.language_code, reply_timeout) for user in users)
    )
    await api.wait_quiet(SETTLE_QUIET, within=reply_timeout)
    return sum(answer is None for answer in answers)


# -- the two bots ---------------------------------------------------------------------------


@dataclass
class Phase:
    """One bot measured under the load."""

    name: str
    updates: int = 0
    lost: int = 0
    warmup_lost: int = 0
    seconds: float = 0.0
    updates_per_second: float = 0.0
    replies_per_update: float = 0.0
    unexpected_replies: int = 0
    latency: dict[str, float] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    handler: dict[str, float] | None = None
    nlu: dict[str, float] | None = None
    added: dict[str, float] | None = None
    nlu_failures: int | None = None


async def measure(
    phase: Phase,
    api: TimedFakeBotApi,
    users: Sequence[SimulatedUser],
    args: argparse.Namespace,
    sampler: MemorySampler,
    console: Console,
    on_timed: Callable[[bool], None] = lambda recording: None,
) -> Phase:
    """Warm up, then run the timed load while sampling memory; fill in `phase`."""
    progress(console, f"{phase.name}: warming up {len(users)} users (one untimed message each)")
    phase.warmup_lost = await warm_up(api, users, args.reply_timeout)
    progress(console, f"{phase.name}: {len(users)} users × {args.messages} messages, timed")
    api.recording = True
    on_timed(True)
    sampler.start()
    try:
        load = await run_load(api, users, args.reply_timeout)
    finally:
        await sampler.stop()
        api.recording = False
        on_timed(False)
    phase.updates = len(load.latencies) + load.lost
    phase.lost = load.lost
    phase.seconds = load.seconds
    phase.updates_per_second = len(load.latencies) / load.seconds if load.seconds > 0 else 0.0
    phase.replies_per_update = api.replies / phase.updates if phase.updates else 0.0
    phase.unexpected_replies = api.unexpected
    phase.latency = distribution_ms(load.latencies)
    phase.memory = memory_figures(sampler.samples)
    progress(console, f"{phase.name}: {phase.updates_per_second:.0f} updates/s")
    return phase


def settings_for(api: TimedFakeBotApi, rasa_url: str, scratch: Path, nlu_timeout: float) -> Settings:
    """Return the assistant's settings for the benchmark."""
    return Settings.from_env(
        {
            "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN,
            "TELEGRAM_BASE_URL": api.base_url,
            "RASA_URL": rasa_url,
            "DATABASE_PATH": str(scratch / "assistant.db"),
            "OUTBOUND_MESSAGES_PER_SECOND": str(OUTBOUND_PER_SECOND),
            "USER_MESSAGES_PER_MINUTE": str(USER_MESSAGES_PER_MINUTE),
            "NLU_TIMEOUT": f"{nlu_timeout:g}",
            "LOG_LEVEL": "WARNING",
        }
    )


async def measure_assistant(
    rasa: RasaServer, users: Sequence[SimulatedUser], args: argparse.Namespace, console: Console
) -> Phase:
    """Measure the real assistant: services, `build_application` and `receiving`."""
    assert rasa.process is not None
    phase = Phase("assistant")
    timer = HandlerTimer()
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as scratch:
        async with TimedFakeBotApi() as api:
            settings = settings_for(api, rasa.url, Path(scratch), args.nlu_timeout)
            services = Services.create(settings, rasa.url)
            nlu = TimingNLU(services.dialogue.nlu)
            services.dialogue.nlu = nlu
            try:
                application = build_application(settings, services)
                timer.install(application)
                async with receiving(application, settings, poll_timeout=1):

                    def recording(on: bool) -> None:
                        timer.recording = on

                    sampler = MemorySampler(rasa_pid=rasa.process.pid)
                    await measure(phase, api, users, args, sampler, console, recording)
            finally:
                await services.aclose()
    phase.handler = distribution_ms(timer.handler_seconds)
    phase.nlu = distribution_ms(timer.nlu_seconds)
    phase.added = distribution_ms(timer.added_seconds)
    phase.nlu_failures = nlu.failures
    return phase


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply with the same text."""
    message = update.effective_message
    if message is not None and message.text:
        await context.bot.send_message(message.chat_id, message.text)


def build_echo_application(api: TimedFakeBotApi) -> AnyApplication:
    """Build the floor: a plain echo bot, with the assistant's update concurrency."""
    application = (
        ApplicationBuilder()
        .token(DEFAULT_TOKEN)
        .base_url(api.base_url)
        .base_file_url(api.base_file_url)
        .concurrent_updates(256)
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    return application


@contextlib.asynccontextmanager
async def polling(application: AnyApplication) -> AsyncIterator[None]:
    """Start `application` and long-poll as `receiving` does, until the block ends."""
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield
        finally:
            await application.updater.stop()
            await application.stop()


async def measure_floor(users: Sequence[SimulatedUser], args: argparse.Namespace, console: Console) -> Phase:
    """Measure the echo floor under the same load."""
    phase = Phase("echo floor")
    async with TimedFakeBotApi() as api, polling(build_echo_application(api)):
        await measure(phase, api, users, args, MemorySampler(), console)
    return phase


# -- running, reporting ---------------------------------------------------------------------


def progress(console: Console, message: str) -> None:
    """Print one progress line on stderr."""
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}")


async def run(
    model: Path, users: list[SimulatedUser], args: argparse.Namespace, console: Console
) -> dict[str, Any]:
    """Start Rasa, measure the floor and the assistant, and always stop everything."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    rasa = RasaServer(model, RASA_VENV)
    try:
        async with asyncio.timeout(args.max_seconds):
            progress(console, f"starting rasa run on port {rasa.port} with {model.name}")
            rasa.start()
            await rasa.wait_ready()
            progress(console, f"NLU server ready in {rasa.startup_seconds or 0:.1f} s")
            floor = await measure_floor(users, args, console)
            assistant = await measure_assistant(rasa, users, args, console)
    finally:
        progress(console, "stopping the NLU server")
        rasa.stop()
        loop.remove_signal_handler(signal.SIGTERM)
    return {
        "assistant": asdict(assistant),
        "floor": asdict(floor),
        "nlu_startup_seconds": rasa.startup_seconds,
    }


def targets(assistant: dict[str, Any]) -> list[dict[str, Any]]:
    """Return each target with the measured value and whether it is met."""
    added_p95 = assistant["added"]["p95_ms"]
    growth = assistant["memory"]["rss_growth_mib"]
    return [
        {
            "target": f"throughput ≥ {TARGET_UPDATES_PER_SECOND:.0f} updates/s",
            "value": f"{assistant['updates_per_second']:.1f} updates/s",
            "passed": assistant["updates_per_second"] >= TARGET_UPDATES_PER_SECOND and assistant["lost"] == 0,
        },
        {
            "target": f"added latency p95 ≤ {TARGET_ADDED_P95_MS:.0f} ms (handler − NLU)",
            "value": f"{added_p95:.2f} ms",
            "passed": added_p95 <= TARGET_ADDED_P95_MS,
        },
        {
            "target": f"memory flat (2nd-half mean ≤ 1st-half mean + {FLAT_TOLERANCE_MIB:.0f} MiB)",
            "value": f"{growth:+.1f} MiB",
            "passed": growth <= FLAT_TOLERANCE_MIB,
        },
    ]


def _ms(figures: dict[str, float] | None, key: str) -> str:
    return "—" if figures is None else f"{figures[key]:.1f}"


def _mib(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def render(results: dict[str, Any], console: Console) -> None:
    """Print the figures side by side and the targets."""
    a, f = results["assistant"], results["floor"]
    table = Table(title=f"Telegram bot under load: {results['users']} users × {results['messages']} messages")
    table.add_column("metric")
    table.add_column("assistant", justify="right")
    table.add_column("echo floor", justify="right")
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("timed updates (lost: no reply in time)", lambda p: f"{p['updates']} ({p['lost']} lost)"),
        ("wall time of the timed run", lambda p: f"{p['seconds']:.1f} s"),
        ("updates per second", lambda p: f"{p['updates_per_second']:.1f}"),
        ("update → reply p50", lambda p: f"{p['latency']['p50_ms']:.1f} ms"),
        ("update → reply p95", lambda p: f"{p['latency']['p95_ms']:.1f} ms"),
        ("update → reply p99", lambda p: f"{p['latency']['p99_ms']:.1f} ms"),
        ("update → reply max", lambda p: f"{p['latency']['max_ms']:.1f} ms"),
        (
            "handler chain p50 / p95 (ms)",
            lambda p: f"{_ms(p['handler'], 'p50_ms')} / {_ms(p['handler'], 'p95_ms')}",
        ),
        (
            "NLU call per update p50 / p95 (ms)",
            lambda p: f"{_ms(p['nlu'], 'p50_ms')} / {_ms(p['nlu'], 'p95_ms')}",
        ),
        (
            "added (handler − NLU) p50 (ms)",
            lambda p: "—" if p["added"] is None else f"{p['added']['p50_ms']:.2f}",
        ),
        (
            "added (handler − NLU) p95 (ms)",
            lambda p: "—" if p["added"] is None else f"{p['added']['p95_ms']:.2f}",
        ),
        (
            "NLU failures (degraded replies)",
            lambda p: "—" if p["nlu_failures"] is None else str(p["nlu_failures"]),
        ),
        ("messages sent per timed update", lambda p: f"{p['replies_per_update']:.2f}"),
        ("benchmark process RSS start (MiB)", lambda p: _mib(p["memory"]["rss_start_mib"])),
        ("benchmark process RSS peak (MiB)", lambda p: _mib(p["memory"]["rss_peak_mib"])),
        ("benchmark process RSS end (MiB)", lambda p: _mib(p["memory"]["rss_end_mib"])),
        ("RSS growth, 2nd vs 1st half of the run", lambda p: f"{p['memory']['rss_growth_mib']:+.1f} MiB"),
        (
            "Rasa server RSS start / peak / end (MiB)",
            lambda p: (
                "—"
                if p["memory"]["rasa_rss_start_mib"] is None
                else " / ".join(
                    _mib(p["memory"][k])
                    for k in ("rasa_rss_start_mib", "rasa_rss_peak_mib", "rasa_rss_end_mib")
                )
            ),
        ),
    ]
    for name, cell in rows:
        table.add_row(name, cell(a), cell(f))
    console.print(table)

    verdicts = Table(title="Targets (assistant)")
    verdicts.add_column("target")
    verdicts.add_column("measured", justify="right")
    verdicts.add_column("result", justify="center")
    for target in results["targets"]:
        verdict = "[green]PASS[/green]" if target["passed"] else "[red]FAIL[/red]"
        verdicts.add_row(target["target"], target["value"], verdict)
    console.print(verdicts)
    for note in results["notes"]:
        console.print(f"• {note}")


def positive(value: str) -> int:
    """Parse a positive integer option."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bot",
        description="Simulated Telegram users through the fake Bot API: the assistant vs. an echo bot.",
    )
    parser.add_argument("--users", type=positive, default=200, help="concurrent users (default 200)")
    parser.add_argument(
        "--messages",
        type=positive,
        default=10,
        help=f"timed messages per user (default 10, ≤ {MAX_MESSAGES})",
    )
    parser.add_argument(
        "--max-seconds", type=float, default=300.0, help="safety limit of the whole run (default 300)"
    )
    parser.add_argument(
        "--reply-timeout", type=float, default=30.0, help="a reply later than this is lost (default 30 s)"
    )
    parser.add_argument(
        "--nlu-timeout",
        type=float,
        default=30.0,
        help="the assistant's NLU_TIMEOUT (default 30 s, so that queueing at Rasa is measured"
        " rather than turned into degraded replies; production default 2 s)",
    )
    parser.add_argument("--model", type=Path, help="model archive (default: newest in models/)")
    args = parser.parse_args(argv)
    if args.messages > MAX_MESSAGES:
        parser.error(f"--messages must be at most {MAX_MESSAGES} (the per-user limit is 600/min)")
    if not 0.1 <= args.nlu_timeout <= 30:
        parser.error("--nlu-timeout must be between 0.1 and 30")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console = Console()
    if not console.is_terminal:  # piped or in CI: do not squeeze the tables into 80 columns
        console = Console(width=120)
    err = Console(stderr=True)
    try:
        model = args.model.resolve() if args.model else latest_model(MODELS_DIR)
        if not model.is_file():
            raise ModelMissing(f"{model} does not exist")
    except ModelMissing as error:
        err.print(f"[red]error:[/red] {error}")
        return 2
    questions, sources = questions_by_language()
    users = make_users(args.users, args.messages, questions)
    results: dict[str, Any] = {
        "generated_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "model": model.name,
        "users": args.users,
        "messages": args.messages,
        "question_sources": sources,
        "outbound_messages_per_second": OUTBOUND_PER_SECOND,
        "user_messages_per_minute": USER_MESSAGES_PER_MINUTE,
        "nlu_timeout_seconds": args.nlu_timeout,
    }
    try:
        results |= asyncio.run(run(model, users, args, err))
    except KeyboardInterrupt:
        err.print("[yellow]interrupted: everything stopped, nothing written[/yellow]")
        return 130
    except asyncio.CancelledError:
        err.print("[yellow]terminated: everything stopped, nothing written[/yellow]")
        return 143
    except TimeoutError:
        err.print(f"[red]error:[/red] the run exceeded --max-seconds {args.max_seconds:g}; nothing written")
        return 1
    except (ModelMissing, ServerFailed) as error:
        err.print(f"[red]error:[/red] {error}")
        return 1
    results["targets"] = targets(results["assistant"])
    results["notes"] = [
        f"CPU cores (os.cpu_count): {results['cpu_count']}; {args.users} users × {args.messages} messages,"
        " plus one untimed warm-up message per user (first contact adds a privacy notice)",
        f"the assistant's outbound limiter is raised to {OUTBOUND_PER_SECOND}/s for the benchmark:"
        " Telegram's own 30/s limit would otherwise be what is measured",
        f"USER_MESSAGES_PER_MINUTE={USER_MESSAGES_PER_MINUTE} (never throttles the simulated users);"
        f" NLU_TIMEOUT={args.nlu_timeout:g} s",
        "echo floor: a plain ApplicationBuilder bot with concurrent_updates(256), no rate limiter,"
        " same fake Bot API, same long polling (timeout 1 s)",
        "update → reply: from queuing the update in the fake to the fake receiving the first"
        " sendMessage to that chat; users, fake and bot share this process's event loop",
        "handler chain: TypeHandlers in the first and last handler groups bracket the assistant's"
        " handlers (python-telegram-bot's update_processor is read-only, so build_application"
        " is reused as is); it excludes polling and the per-chat queue, includes sendMessage",
        f"questions: {', '.join(f'{k}: {v}' for k, v in sources.items())}",
    ]
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    render(results, console)
    console.print(f"Wrote {REPORT_PATH.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
