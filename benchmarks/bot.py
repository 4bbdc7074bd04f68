"""`make bench-bot`: simulated Telegram users through the fake Bot API, assistant vs. echo floor.

In one run, side by side and under the same load:

* the real assistant: a Rasa server from the newest model in models/, `Services.create`,
  `build_application` and `receiving(...)` (long polling) against `tests.fakebotapi.FakeBotApi`;
* the floor: a minimal python-telegram-bot echo bot on the same kind of fake, same polling.

Every simulated user is a closed loop: send a question (real held-out utterances in fa, fr,
nl and en), wait for the reply, send the next; one untimed warm-up message per user first
(the first contact adds a privacy notice). All users run concurrently in this process's event
loop, next to the bot and the fake. Latency is measured from queuing the update in the fake
to the fake receiving the first sendMessage for that chat; a user writes again once the bot
has finished the update, so that an answer of two messages is never taken for the next one.
The whole handler chain of each update, and each NLU call of the assistant, are timed too,
so that the assistant's own added latency (handler − NLU) can be reported. Prints a table
and writes reports/bench-bot.json; everything is stopped at the end, on errors and on
Ctrl-C (or SIGTERM). Loopback only; bounded by --max-seconds.

    .venv/bin/python -m benchmarks.bot [--users 200] [--messages 10] [--max-seconds 300]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import random
import signal
import sys
import tempfile
import time
import tracemalloc
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

from benchmarks.common import (
    chosen_model,
    consoles,
    heldout_questions,
    mib,
    percentile,
    positive,
    progress,
    resident_mib,
    run_facts,
    write_report,
)
from bot.dialogue.core import Policy
from bot.dialogue.limiter import InboundLimiter
from bot.frontends.telegram import build_application, receiving
from bot.nlu.cache import CachedNLU
from bot.nlu.client import NLUUnavailable, Prediction
from bot.nlu.intents import LANGUAGES
from bot.nlu.resilient import Understanding
from bot.nlu.server import ModelMissing, RasaServer, ServerFailed
from bot.services import Services
from bot.settings import DEFAULT_RASA_VENV, PROJECT_ROOT, Settings
from tests.fakebotapi import DEFAULT_TOKEN, FakeBotApi, SentMessage

AnyApplication = Application[Any, Any, Any, Any, Any, Any]

REPORT_PATH = PROJECT_ROOT / "reports" / "bench-bot.json"

OUTBOUND_PER_SECOND = 1000
"""Telegram's own limit (30 messages/s) would otherwise be what the benchmark measures."""
USER_MESSAGES_PER_MINUTE = 600
"""The highest value Settings accepts: closed-loop users are never throttled below it."""
CACHE_SIZE = Settings.from_env({}).nlu_cache_size
"""The assistant's default NLU cache; a second run measures it with the cache off."""
MAX_MESSAGES = USER_MESSAGES_PER_MINUTE - 100
"""Upper bound of --messages, so that a fast floor cannot trip the per-user limit."""
SAMPLE_EVERY = 0.5
"""Seconds between two memory samples."""
FLAT_TOLERANCE_MIB = 5.0
"""Memory is "flat" when the second half of the run averages at most this much above the first."""
TARGET_UPDATES_PER_SECOND = 100.0
TARGET_ADDED_P95_MS = 5.0
LANGUAGE_CODES = {"fa": "fa-IR", "fr": "fr-BE", "nl": "nl-BE", "en": "en-GB"}
FIRST_USER_ID = 100_000
FALLBACK_QUESTIONS: dict[str, tuple[str, ...]] = {
    "fa": ("میخوام برگردم ایران چیکار باید بکنم", "pasport nadaram chikar konam"),
    "fr": ("je veux rentrer au maroc comment faire", "qui paie le billet d avion?"),
    "nl": ("ik wil terug naar mijn land hoe werkt dat", "wie betaalt het vliegticket?"),
    "en": ("i want to go back home how do i apply", "who pays for the plane ticket?"),
}


# -- the questions ---------------------------------------------------------------------------


def questions_by_language() -> tuple[dict[str, list[str]], dict[str, str]]:
    """Return the questions of each language and where they came from."""
    questions: dict[str, list[str]] = {}
    sources: dict[str, str] = {}
    for language in LANGUAGES:
        texts, path = heldout_questions(language)
        if path is not None:
            # The files group examples by intent; a fixed shuffle mixes the topics of each user.
            random.Random(f"bench-bot-{language}").shuffle(texts)
            questions[language] = texts
            sources[language] = f"{path.relative_to(PROJECT_ROOT)} ({len(texts)} utterances)"
        else:
            questions[language] = list(FALLBACK_QUESTIONS[language])
            sources[language] = "built-in list (held-out file missing or empty)"
    return questions, sources


# -- the fake Telegram, with timestamps -------------------------------------------------------


class TimedFakeBotApi(FakeBotApi):
    """The fake Bot API, timing each update until the first sendMessage to its chat.

    A user's next message waits until the bot has also finished the previous update (see
    `handled`): an answer of two messages then never passes for the next question's reply.
    The fake also forgets the messages it records for tests, so that a long run measures the
    bot's memory and not that record. Only the fake's public interface is used.
    """

    KEEP_RECORDS = 512

    def __init__(self) -> None:
        """Prepare the fake with the default token."""
        super().__init__(DEFAULT_TOKEN)
        self.recording = False
        self.extra_messages = 0
        self.replies = 0
        self._first_reply: dict[int, asyncio.Future[float]] = {}
        self._handled: dict[int, asyncio.Future[None]] = {}
        self.add_listener(self._on_sent)

    async def ask(self, user_id: int, text: str, language_code: str, timeout: float) -> float | None:  # noqa: ASYNC109
        """Queue a text from the user; return seconds until the first reply, None if none came.

        Returns once the bot has finished handling the update (or `timeout` has passed).
        """
        loop = asyncio.get_running_loop()
        replied: asyncio.Future[float] = loop.create_future()
        handled: asyncio.Future[None] = loop.create_future()
        self._first_reply[user_id], self._handled[user_id] = replied, handled
        self.send_text(user_id, text, language_code=language_code)
        queued = time.perf_counter()  # in the queue now; nothing can fetch it before we await
        try:
            async with asyncio.timeout(timeout):
                await replied
                await handled
        except TimeoutError:
            return None
        finally:
            self._first_reply.pop(user_id, None)
            self._handled.pop(user_id, None)
        return replied.result() - queued

    def handled(self, chat_id: int) -> None:
        """The bot has finished handling the last update of `chat_id`."""
        future = self._handled.pop(chat_id, None)
        if future is not None and not future.done():
            future.set_result(None)

    async def __aexit__(self, *exc_info: object) -> None:
        """Let clients hang up first (Python 3.11 logs connections cancelled mid-read), then close."""
        await self.close(grace=1.0)

    def _on_sent(self, message: SentMessage) -> None:
        received = time.perf_counter()
        if message.method != "sendMessage" or not isinstance(message.chat_id, int):
            return
        future = self._first_reply.pop(message.chat_id, None)
        if future is not None and not future.done():
            future.set_result(received)
        if self.recording:
            self.replies += 1
            self.extra_messages += future is None
        if len(self.sent) > self.KEEP_RECORDS:
            self.forget_records()  # edits and buttons, which need them, are never used here


# -- timing inside the assistant -------------------------------------------------------------


@dataclass
class _UpdateTiming:
    started: float
    nlu_seconds: float = 0.0
    api_seconds: float = 0.0


_CURRENT_UPDATE: ContextVar[_UpdateTiming | None] = ContextVar("bench_bot_update", default=None)
"""Per update: python-telegram-bot processes each update in its own task (own context)."""


class TimingNLU:
    """Wraps the dialogue's NLU and adds the time of every parse to the current update."""

    def __init__(self, inner: Understanding) -> None:
        """Wrap `inner`."""
        self.inner = inner
        self.failures: dict[str, int] = {}

    async def parse(self, text: str) -> Prediction:
        """Classify `text` through the wrapped NLU, timing the call."""
        started = time.perf_counter()
        try:
            return await self.inner.parse(text)
        except NLUUnavailable as error:
            # The cause says which time-out fired; none: skipped while the NLU is marked down.
            kind = type(error.__cause__).__name__ if error.__cause__ else "skipped while marked down"
            self.failures[kind] = self.failures.get(kind, 0) + 1
            raise
        finally:
            timing = _CURRENT_UPDATE.get()
            if timing is not None:
                timing.nlu_seconds += time.perf_counter() - started


class HandlerTimer:
    """Times the whole handler chain of each update with two bracketing handler groups.

    python-telegram-bot runs one matching handler per group, groups in order, all in the
    update's task; a `TypeHandler` in the first and in the last group therefore brackets the
    bot's own handlers (and its error handler) without changing them. The last one also tells
    the fake that the update is done (`on_handled`), so that the user may write again.
    """

    FIRST_GROUP = -(2**31)
    LAST_GROUP = 2**31 - 1

    def __init__(self, on_handled: Callable[[int], None], *, with_nlu: bool) -> None:
        """Start with nothing recorded; call `on_handled(chat_id)` after each update."""
        self.on_handled = on_handled
        self.with_nlu = with_nlu
        self.recording = False
        self.handler_seconds: list[float] = []
        self.nlu_seconds: list[float] = []
        self.added_seconds: list[float] = []
        self.own_seconds: list[float] = []

    def clear(self) -> None:
        """Forget what was recorded."""
        self.handler_seconds.clear()
        self.nlu_seconds.clear()
        self.added_seconds.clear()
        self.own_seconds.clear()

    def install(self, application: AnyApplication) -> None:
        """Add the two bracketing handlers to `application`; time its Bot API calls."""
        application.add_handler(TypeHandler(Update, self._begin), group=self.FIRST_GROUP)
        application.add_handler(TypeHandler(Update, self._end), group=self.LAST_GROUP)
        request = application.bot.request  # the one for every method but getUpdates
        inner = request.do_request

        async def timed(*args: Any, **kwargs: Any) -> tuple[int, bytes]:
            started = time.perf_counter()
            try:
                result: tuple[int, bytes] = await inner(*args, **kwargs)
                return result
            finally:
                timing = _CURRENT_UPDATE.get()
                if timing is not None:
                    timing.api_seconds += time.perf_counter() - started

        request.do_request = timed

    async def _begin(self, update: Update, context: Any) -> None:
        _CURRENT_UPDATE.set(_UpdateTiming(time.perf_counter()))

    async def _end(self, update: Update, context: Any) -> None:
        timing = _CURRENT_UPDATE.get()
        if timing is not None and self.recording:
            handler = time.perf_counter() - timing.started
            self.handler_seconds.append(handler)
            self.nlu_seconds.append(timing.nlu_seconds)
            self.added_seconds.append(handler - timing.nlu_seconds)
            self.own_seconds.append(handler - timing.nlu_seconds - timing.api_seconds)
        if update.effective_chat is not None:
            self.on_handled(update.effective_chat.id)


# -- memory ---------------------------------------------------------------------------------


def cpu_seconds(process: psutil.Process, *, children: bool = False) -> float:
    """Return the user + system CPU time of a process (and its children) so far."""
    try:
        members = [process, *(process.children(recursive=True) if children else [])]
    except psutil.Error:
        return 0.0
    total = 0.0
    for member in members:
        with contextlib.suppress(psutil.Error):
            times = member.cpu_times()
            total += times.user + times.system
    return total


@dataclass
class MemorySampler:
    """Samples this process's (and optionally the Rasa server's) RSS every `SAMPLE_EVERY` s.

    It also reads the CPU time both used between `start` and `stop`, and how late each of its
    own wake-ups came: the event loop's lag, shared by every update in flight.
    """

    rasa_pid: int | None = None
    samples: list[tuple[float, float, float | None]] = field(default_factory=list)
    cpu_own: float = 0.0
    cpu_rasa: float | None = None
    lags: list[float] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def _cpu(self) -> tuple[float, float | None]:
        own = cpu_seconds(psutil.Process())
        if self.rasa_pid is None:
            return own, None
        with contextlib.suppress(psutil.Error):
            return own, cpu_seconds(psutil.Process(self.rasa_pid), children=True)
        return own, None

    def sample(self) -> None:
        """Take one sample now."""
        own = resident_mib(psutil.Process())
        rasa = resident_mib(psutil.Process(self.rasa_pid), children=True) if self.rasa_pid else None
        self.samples.append((time.perf_counter(), own or 0.0, rasa))

    async def _run(self) -> None:
        while True:
            due = time.perf_counter() + SAMPLE_EVERY
            await asyncio.sleep(SAMPLE_EVERY)
            self.lags.append(max(0.0, time.perf_counter() - due))
            self.sample()

    def start(self) -> None:
        """Take the first sample and keep sampling in the background."""
        self.cpu_own, self.cpu_rasa = self._cpu()
        self.sample()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop sampling and take the last sample."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sample()
        own, rasa = self._cpu()
        self.cpu_own = own - self.cpu_own
        self.cpu_rasa = None if rasa is None or self.cpu_rasa is None else rasa - self.cpu_rasa


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
        start = (index // len(LANGUAGES)) * (messages + 1)
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
    """Send each user's first message untimed: the first contact adds a privacy notice."""
    answers = await asyncio.gather(
        *(api.ask(user.user_id, user.questions[0], user.language_code, reply_timeout) for user in users)
    )
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
    extra_messages: int = 0
    latency: dict[str, float] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    handler: dict[str, float] | None = None
    nlu: dict[str, float] | None = None
    added: dict[str, float] | None = None
    own: dict[str, float] | None = None
    nlu_failures: int | None = None
    nlu_failure_kinds: dict[str, int] | None = None
    cpu_ms_per_update: float = 0.0
    cpu_utilisation: float = 0.0
    rasa_cpu_ms_per_update: float | None = None
    loop_lag: dict[str, float] = field(default_factory=dict)
    solo: dict[str, Any] = field(default_factory=dict)
    nlu_cache: dict[str, Any] | None = None


async def measure(
    phase: Phase,
    api: TimedFakeBotApi,
    users: Sequence[SimulatedUser],
    args: argparse.Namespace,
    timer: HandlerTimer,
    sampler: MemorySampler,
    console: Console,
) -> Phase:
    """Time messages one at a time, warm up, run the timed load sampling memory; fill in `phase`."""
    if args.solo_messages:
        progress(console, f"{phase.name}: {args.solo_messages} messages one at a time, timed")
        phase.solo = await measure_solo(api, users[: len(LANGUAGES)], args, timer)
    progress(console, f"{phase.name}: warming up {len(users)} users (one untimed message each)")
    phase.warmup_lost = await warm_up(api, users, args.reply_timeout)
    progress(console, f"{phase.name}: {len(users)} users × {args.messages} messages, timed")
    api.recording = timer.recording = True
    sampler.start()
    try:
        load = await run_load(api, users, args.reply_timeout)
    finally:
        await sampler.stop()
        api.recording = timer.recording = False
    phase.updates = len(load.latencies) + load.lost
    phase.lost = load.lost
    phase.seconds = load.seconds
    phase.updates_per_second = len(load.latencies) / load.seconds if load.seconds > 0 else 0.0
    phase.replies_per_update = api.replies / phase.updates if phase.updates else 0.0
    phase.extra_messages = api.extra_messages
    phase.handler = distribution_ms(timer.handler_seconds)
    if timer.with_nlu:
        phase.nlu = distribution_ms(timer.nlu_seconds)
        phase.added = distribution_ms(timer.added_seconds)
        phase.own = distribution_ms(timer.own_seconds)
    phase.latency = distribution_ms(load.latencies)
    phase.memory = memory_figures(sampler.samples)
    phase.loop_lag = distribution_ms(sampler.lags)
    if phase.updates:
        phase.cpu_ms_per_update = sampler.cpu_own * 1000 / phase.updates
        if sampler.cpu_rasa is not None:
            phase.rasa_cpu_ms_per_update = sampler.cpu_rasa * 1000 / phase.updates
    phase.cpu_utilisation = sampler.cpu_own / load.seconds if load.seconds > 0 else 0.0
    progress(console, f"{phase.name}: {phase.updates_per_second:.0f} updates/s")
    return phase


async def measure_solo(
    api: TimedFakeBotApi, users: Sequence[SimulatedUser], args: argparse.Namespace, timer: HandlerTimer
) -> dict[str, Any]:
    """Send `--solo-messages` messages one at a time, languages in turn, before any load."""
    for user in users:  # untimed: the first contact adds a privacy notice
        await api.ask(user.user_id, user.questions[0], user.language_code, args.reply_timeout)
    latencies: list[float] = []
    lost = 0
    timer.recording = True
    try:
        for turn in range(args.solo_messages):
            user = users[turn % len(users)]
            text = user.questions[1 + (turn // len(users)) % (len(user.questions) - 1)]
            seconds = await api.ask(user.user_id, text, user.language_code, args.reply_timeout)
            if seconds is None:
                lost += 1
            else:
                latencies.append(seconds)
    finally:
        timer.recording = False
    solo = {
        "updates": args.solo_messages,
        "lost": lost,
        "latency": distribution_ms(latencies),
        "handler": distribution_ms(timer.handler_seconds),
        "added": distribution_ms(timer.added_seconds) if timer.with_nlu else None,
        "own": distribution_ms(timer.own_seconds) if timer.with_nlu else None,
    }
    timer.clear()
    return solo


def settings_for(
    api: TimedFakeBotApi, rasa_url: str, scratch: Path, nlu_timeout: float, cache_size: int
) -> Settings:
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
            "NLU_CACHE_SIZE": str(cache_size),
            "SERVE_DRAFT_ANSWERS": "true",  # every answer is a draft until reviewed: measure answers
            "LOG_LEVEL": "WARNING",
        }
    )


async def measure_assistant(
    rasa: RasaServer,
    users: Sequence[SimulatedUser],
    args: argparse.Namespace,
    console: Console,
    *,
    cache_size: int,
) -> Phase:
    """Measure the real assistant: services, `build_application` and `receiving`."""
    assert rasa.process is not None
    phase = Phase("assistant" if cache_size else "assistant, NLU cache off")
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as scratch:
        async with TimedFakeBotApi() as api:
            timer = HandlerTimer(api.handled, with_nlu=True)
            settings = settings_for(api, rasa.url, Path(scratch), args.nlu_timeout, cache_size)
            services = Services.create(settings, rasa.url)
            cache = services.dialogue.nlu
            nlu = TimingNLU(cache)
            services.dialogue.nlu = nlu
            try:
                application = build_application(settings, services)
                timer.install(application)
                async with receiving(application, settings, poll_timeout=1):
                    sampler = MemorySampler(rasa_pid=rasa.process.pid)
                    await measure(phase, api, users, args, timer, sampler, console)
            finally:
                await services.aclose()
    phase.nlu_failures = sum(nlu.failures.values())
    phase.nlu_failure_kinds = nlu.failures
    if isinstance(cache, CachedNLU) and cache_size:
        asked = cache.hits + cache.misses
        phase.nlu_cache = {"hits": cache.hits, "misses": cache.misses, "hit_rate": cache.hits / max(asked, 1)}
    return phase


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply with the same text."""
    message = update.effective_message
    if message is not None and message.text:
        await context.bot.send_message(message.chat_id, message.text)


def build_echo_application(api: TimedFakeBotApi) -> AnyApplication:
    """Build the floor: a plain echo bot, with the assistant's update concurrency (256)."""
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
    async with TimedFakeBotApi() as api:
        application = build_echo_application(api)
        timer = HandlerTimer(api.handled, with_nlu=False)
        timer.install(application)
        async with polling(application):
            await measure(phase, api, users, args, timer, MemorySampler(), console)
    return phase


# -- the inbound limiter --------------------------------------------------------------------

LIMITER_CHECKPOINTS = (1_000, 10_000, 100_000)


def limiter_pass(users: int, *, traced: bool) -> list[dict[str, Any]]:
    """Feed `users` distinct users, one message each 0.5 ms apart, to a limiter like the dialogue's.

    100,000 users then all write within one minute: the most the limiter ever holds. A row
    per checkpoint, then one for 1,000 new users after everyone has been idle a minute (the
    first of them pays, once, for forgetting the idle ones: `forget_ms`). With `traced`,
    memory comes from tracemalloc, which slows every allocation: cost is read untraced.
    """
    now = 0.0

    def timer() -> float:
        return now

    def feed(first: int, last: int) -> float:
        nonlocal now
        started = time.perf_counter()
        for index in range(first, last):
            limiter.check(f"tg:{index}")
            now += 0.0005
        return time.perf_counter() - started

    limiter = InboundLimiter(Policy().messages_per_minute, timer=timer)  # as `Dialogue.limiter`
    if traced:
        tracemalloc.start()
    rows: list[dict[str, Any]] = []
    try:
        fed, forget_ms = 0, None
        for target in [*sorted({n for n in LIMITER_CHECKPOINTS if n < users} | {users}), -1]:
            label = f"{target:,} users"
            if target < 0:
                label, now = "a minute idle, then 1,000 new", now + 60.0
                forget_ms = feed(fed, fed + 1) * 1000
                fed, target = fed + 1, fed + 1_001
            seconds = feed(fed, target)
            memory = tracemalloc.get_traced_memory()[0] / 2**20 if traced else None
            cost = seconds * 1e6 / (target - fed)
            rows.append({"stage": label, "tracked_users": len(limiter), "memory_mib": memory,
                         "us_per_message": cost, "forget_ms": forget_ms})  # fmt: skip
            fed = target
    finally:
        if traced:
            tracemalloc.stop()
    return rows


def measure_limiter(users: int) -> list[dict[str, Any]]:
    """Return the limiter's rows: cost from an untraced pass, memory from a traced one."""
    timed, traced = limiter_pass(users, traced=False), limiter_pass(users, traced=True)
    return [row | {"memory_mib": memory["memory_mib"]} for row, memory in zip(timed, traced, strict=True)]


def render_limiter(rows: list[dict[str, Any]], console: Console) -> None:
    """Print the limiter's memory and cost per message as users accumulate, then go idle."""
    table = Table(title="Inbound limiter: distinct users, one message each (timer injected)")
    for column in ("after", "users held", "memory (tracemalloc)", "cost per message"):
        table.add_column(column, justify="left" if column == "after" else "right")
    for row in rows:
        table.add_row(row["stage"], f"{row['tracked_users']:,}", f"{row['memory_mib']:.1f} MiB",
                      f"{row['us_per_message']:.2f} µs")  # fmt: skip
    console.print(table)
    forget_ms = rows[-1]["forget_ms"]
    console.print(
        "• memory follows the users of the last minute; after the idle minute what remains is the"
        " cache's hash table, kept at its largest size by Python and reused, not per-user data;"
        f" forgetting the idle users took {forget_ms:.1f} ms once, in the first new message"
    )


# -- running, reporting ---------------------------------------------------------------------


async def run(
    model: Path, users: list[SimulatedUser], args: argparse.Namespace, console: Console
) -> dict[str, Any]:
    """Start Rasa, measure the floor and the assistant, and always stop everything."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    rasa = RasaServer(model, DEFAULT_RASA_VENV)
    try:
        async with asyncio.timeout(args.max_seconds):
            progress(console, f"starting rasa run on port {rasa.port} with {model.name}")
            rasa.start()
            await rasa.wait_ready()
            progress(console, f"NLU server ready in {rasa.startup_seconds or 0:.1f} s")
            floor = await measure_floor(users, args, console)
            assistant = await measure_assistant(rasa, users, args, console, cache_size=CACHE_SIZE)
            uncached = await measure_assistant(rasa, users, args, console, cache_size=0)
    finally:
        progress(console, "stopping the NLU server")
        rasa.stop()
        loop.remove_signal_handler(signal.SIGTERM)
    return {
        "assistant": asdict(assistant),
        "assistant_uncached": asdict(uncached),
        "floor": asdict(floor),
        "nlu_startup_seconds": rasa.startup_seconds,
    }


def targets(assistant: dict[str, Any], uncached: dict[str, Any]) -> list[dict[str, Any]]:
    """Return each target with the measured value and whether it is met."""
    added_p95 = assistant["added"]["p95_ms"]
    own_p95 = assistant["solo"]["own"]["p95_ms"] if assistant["solo"].get("own") else float("inf")
    growth = assistant["memory"]["rss_growth_mib"]
    return [
        {
            "target": f"throughput ≥ {TARGET_UPDATES_PER_SECOND:.0f} updates/s",
            "value": f"{assistant['updates_per_second']:.1f} updates/s",
            "passed": assistant["updates_per_second"] >= TARGET_UPDATES_PER_SECOND and assistant["lost"] == 0,
        },
        {
            "target": f"throughput ≥ {TARGET_UPDATES_PER_SECOND:.0f} updates/s, NLU cache off"
            " (every message parsed)",
            "value": f"{uncached['updates_per_second']:.1f} updates/s",
            "passed": uncached["updates_per_second"] >= TARGET_UPDATES_PER_SECOND and uncached["lost"] == 0,
        },
        {
            "target": f"added latency p95 ≤ {TARGET_ADDED_P95_MS:.0f} ms (handler − NLU, under the load)",
            "value": f"{added_p95:.2f} ms",
            "passed": added_p95 <= TARGET_ADDED_P95_MS,
        },
        {
            "target": f"own work p95 ≤ {TARGET_ADDED_P95_MS:.0f} ms (handler − NLU − Bot API calls,"
            " one at a time)",
            "value": f"{own_p95:.2f} ms",
            "passed": own_p95 <= TARGET_ADDED_P95_MS,
        },
        {
            "target": f"memory flat (2nd-half mean ≤ 1st-half mean + {FLAT_TOLERANCE_MIB:.0f} MiB)",
            "value": f"{growth:+.1f} MiB",
            "passed": growth <= FLAT_TOLERANCE_MIB,
        },
    ]


def notes(results: dict[str, Any], args: argparse.Namespace, sources: dict[str, str]) -> list[str]:
    """Return the lines that say how the figures were taken."""
    lines = [
        f"CPU cores (os.cpu_count): {results['cpu_count']}, shared with other work: figures are noisy;"
        f" {args.users} users × {args.messages} messages, each user one untimed warm-up message first"
        " (the first contact adds a privacy notice)",
        f"the assistant's outbound limiter is raised to {OUTBOUND_PER_SECOND}/s for the benchmark:"
        " Telegram's own 30/s limit would otherwise be what is measured",
        f"USER_MESSAGES_PER_MINUTE={USER_MESSAGES_PER_MINUTE} (never throttles the users);"
        f" NLU_TIMEOUT={args.nlu_timeout:g} s, so that queueing at Rasa shows as latency, not as"
        " degraded replies (the NLU client's connect time-out stays at most 1 s)",
        "echo floor: a plain ApplicationBuilder bot with concurrent_updates(256) like the assistant,"
        " no rate limiter, same fake Bot API, same long polling (timeout 1 s)",
        "update → reply: from queuing the update in the fake to the fake receiving the first"
        " sendMessage to that chat; a user writes again once the bot has finished the update;"
        " users, fake and bot share this process's event loop (and its CPU)",
        "handler chain: TypeHandlers in the first and last handler groups bracket the bot's"
        " handlers (python-telegram-bot's update_processor is read-only, so build_application is"
        " reused as is instead of installing a PerChatUpdateProcessor subclass); it excludes"
        " polling and the per-chat queue and includes sendMessage. Under load its wall time also"
        " holds the wait for the event loop, busy with the other updates in flight: see the"
        " one-at-a-time rows for the uncontended figure, and CPU per update for the cost",
        f"questions: {', '.join(f'{k}: {v}' for k, v in sources.items())}; users draw from"
        " these, so texts repeat across users as greetings and common questions do in real use:"
        " the cache hit rate says how often; the cache-off column parses every message",
    ]
    if importlib.util.find_spec("sniffio") is None:
        lines.append(
            "sniffio is not installed: httpcore then retries `import sniffio` (a sys.path search)"
            " on every HTTP request, to Telegram and to the NLU alike"
        )
    return lines


def _pair(figures: dict[str, float] | None, digits: int = 1) -> str:
    """Return "p50 / p95 ms" of a distribution, or a dash."""
    if not figures:
        return "—"
    return f"{figures['p50_ms']:.{digits}f} / {figures['p95_ms']:.{digits}f} ms"


def _rasa_memory(memory: dict[str, Any]) -> str:
    keys = ("rasa_rss_start_mib", "rasa_rss_peak_mib", "rasa_rss_end_mib")
    return "—" if memory[keys[0]] is None else " / ".join(mib(memory[key]) for key in keys) + " MiB"


def render(results: dict[str, Any], console: Console) -> None:
    """Print the figures side by side and the targets."""
    a, u, f = results["assistant"], results["assistant_uncached"], results["floor"]
    title = f"Telegram bot: {results['users']} concurrent users × {results['messages']} messages each"
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("assistant", justify="right")
    table.add_column("assistant, NLU cache off", justify="right")
    table.add_column("echo floor", justify="right")
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("timed updates (lost: no reply in time)", lambda p: f"{p['updates']} ({p['lost']} lost)"),
        ("wall time", lambda p: f"{p['seconds']:.1f} s"),
        ("updates per second", lambda p: f"{p['updates_per_second']:.1f}"),
        ("update → reply p50", lambda p: f"{p['latency']['p50_ms']:.1f} ms"),
        ("update → reply p95", lambda p: f"{p['latency']['p95_ms']:.1f} ms"),
        ("update → reply p99", lambda p: f"{p['latency']['p99_ms']:.1f} ms"),
        ("handler chain p50 / p95", lambda p: _pair(p["handler"])),
        ("NLU call per update p50 / p95", lambda p: _pair(p["nlu"])),
        (
            "NLU cache hits (repeated texts)",
            lambda p: (
                "—"
                if not p["nlu_cache"]
                else f"{p['nlu_cache']['hit_rate']:.0%} of"
                f" {p['nlu_cache']['hits'] + p['nlu_cache']['misses']}"
            ),
        ),
        ("added = handler − NLU, p50 / p95", lambda p: _pair(p["added"], 2)),
        ("own work = added − Bot API calls, p50 / p95", lambda p: _pair(p["own"], 2)),
        ("event-loop lag (late timer wake-ups) p50 / p95", lambda p: _pair(p["loop_lag"])),
        (
            "NLU failures (degraded replies)",
            lambda p: (
                "—"
                if p["nlu_failures"] is None
                else f"{p['nlu_failures']}"
                + "".join(f"\n{kind}: {count}" for kind, count in p["nlu_failure_kinds"].items())
            ),
        ),
        ("messages sent per update", lambda p: f"{p['replies_per_update']:.2f}"),
        (
            "CPU per update: this process (cores busy)",
            lambda p: f"{p['cpu_ms_per_update']:.2f} ms ({p['cpu_utilisation']:.2f})",
        ),
        (
            "CPU per update: Rasa server",
            lambda p: "—" if p["rasa_cpu_ms_per_update"] is None else f"{p['rasa_cpu_ms_per_update']:.2f} ms",
        ),
        ("RSS of this process: start", lambda p: mib(p["memory"]["rss_start_mib"]) + " MiB"),
        ("RSS of this process: peak", lambda p: mib(p["memory"]["rss_peak_mib"]) + " MiB"),
        ("RSS of this process: end", lambda p: mib(p["memory"]["rss_end_mib"]) + " MiB"),
        ("RSS growth, 2nd vs 1st half (mean)", lambda p: f"{p['memory']['rss_growth_mib']:+.1f} MiB"),
        ("RSS of the Rasa server: start / peak / end", lambda p: _rasa_memory(p["memory"])),
        ("one at a time, before the load: updates", lambda p: str(p["solo"].get("updates", "—"))),
        ("one at a time: update → reply p50 / p95", lambda p: _pair(p["solo"].get("latency"))),
        ("one at a time: added = handler − NLU, p50 / p95", lambda p: _pair(p["solo"].get("added"), 2)),
        ("one at a time: own work, p50 / p95", lambda p: _pair(p["solo"].get("own"), 2)),
        ("one at a time: handler chain p50 / p95", lambda p: _pair(p["solo"].get("handler"), 2)),
    ]
    for name, cell in rows:
        table.add_row(name, cell(a), cell(u), cell(f))
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
    parser.add_argument(
        "--solo-messages",
        type=int,
        default=40,
        help="after the load, messages sent one at a time, for the uncontended latency (default 40; 0: skip)",
    )
    parser.add_argument("--model", type=Path, help="model archive (default: newest in models/)")
    parser.add_argument(
        "--limiter-users",
        type=positive,
        default=LIMITER_CHECKPOINTS[-1],
        help="distinct users fed to the inbound limiter (default 100000; figures at 1k, 10k, 100k)",
    )
    parser.add_argument(
        "--limiter-only", action="store_true", help="measure only the inbound limiter (no Rasa, seconds)"
    )
    args = parser.parse_args(argv)
    if args.messages > MAX_MESSAGES:
        parser.error(f"--messages must be at most {MAX_MESSAGES} (the per-user limit is 600/min)")
    if args.solo_messages < 0:
        parser.error("--solo-messages must be 0 or more")
    if not 0.1 <= args.nlu_timeout <= 30:
        parser.error("--nlu-timeout must be between 0.1 and 30")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console, err = consoles()
    progress(err, f"inbound limiter: {args.limiter_users:,} distinct users")
    limiter = measure_limiter(args.limiter_users)
    render_limiter(limiter, console)
    if args.limiter_only:
        return 0
    model = chosen_model(args.model, err)
    if model is None:
        return 2
    questions, sources = questions_by_language()
    users = make_users(args.users, args.messages, questions)
    results: dict[str, Any] = {
        **run_facts(),
        "model": model.name,
        "users": args.users,
        "messages": args.messages,
        "question_sources": sources,
        "outbound_messages_per_second": OUTBOUND_PER_SECOND,
        "user_messages_per_minute": USER_MESSAGES_PER_MINUTE,
        "nlu_timeout_seconds": args.nlu_timeout,
        "inbound_limiter": limiter,
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
    results["targets"] = targets(results["assistant"], results["assistant_uncached"])
    results["notes"] = notes(results, args, sources)
    render(results, console)
    write_report(REPORT_PATH, results, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
