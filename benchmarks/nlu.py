"""`make bench-nlu`: NLU start-up time, parse latency and throughput, memory, training time.

Starts `rasa run --enable-api` on a free port from the newest model in models/, parses a
fixed set of real utterances (fa, fr, nl, en, from eval/heldout/) through the HTTP API with
one client and with several concurrent clients, measures the server's resident memory and,
unless --skip-train, the time of a full training as `make train` runs it (`python -m nlu.train`).
Prints a table and writes
reports/bench-nlu.json. The server is stopped at the end, on Ctrl-C and on errors.

    .venv/bin/python -m benchmarks.nlu [--requests 300] [--clients 8]
        [--concurrent-requests 150] [--skip-train]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

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
    sigterm_as_interrupt,
    write_report,
)
from bot.nlu.client import NLUClient, NLUUnavailable
from bot.nlu.intents import LANGUAGES
from bot.nlu.server import (
    ModelMissing,
    RasaServer,
    ServerFailed,
    rasa_environment,
)
from bot.settings import DEFAULT_RASA_VENV, PROJECT_ROOT

REPORT_PATH = PROJECT_ROOT / "reports" / "bench-nlu.json"
PER_LANGUAGE = 40
"""Utterances taken from each language's held-out file."""
CLIENT_TIMEOUT = 30.0
"""Generous: the benchmark measures slow answers instead of failing them."""

# Used for a language whose held-out file is missing or empty.
FALLBACK_UTTERANCES: dict[str, tuple[str, ...]] = {
    "fa": (
        "سلام وقت بخیر",
        "میخوام برگردم ایران چیکار باید بکنم",
        "پاسپورت ندارم میتونم برگردم؟",
        "چقدر پول بهم میدن موقع رفتن",
        "salam mikham bargardam afghanistan",
    ),
    "fr": (
        "bonjour",
        "je veux rentrer au maroc comment faire",
        "j'ai pas de passeport est-ce que c'est possible",
        "combien d'argent on reçoit au départ",
        "est ce que mon avocat doit etre au courant",
    ),
    "nl": (
        "hallo goedemorgen",
        "ik wil terug naar mijn land hoe werkt dat",
        "ik heb geen paspoort meer",
        "hoeveel geld krijg ik bij vertrek",
        "kan ik later terugkomen naar belgië",
    ),
    "en": (
        "hi there",
        "i want to go back home how do i apply",
        "i lost my passport can i still travel",
        "how much money do i get when i leave",
        "will my government find out about this",
    ),
}


@dataclass(frozen=True)
class LatencyResult:
    """Latency and throughput of one load scenario."""

    scenario: str
    clients: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    throughput_rps: float


def utterances(per_language: int = PER_LANGUAGE) -> tuple[list[str], dict[str, str]]:
    """Return a fixed list of utterances, languages interleaved, and where each came from."""
    by_language: dict[str, list[str]] = {}
    sources: dict[str, str] = {}
    for language in LANGUAGES:
        texts, path = heldout_questions(language)
        if path is not None:
            step = max(1, len(texts) // per_language)
            by_language[language] = texts[::step][:per_language]
            sources[language] = str(path.relative_to(PROJECT_ROOT))
        else:
            by_language[language] = list(FALLBACK_UTTERANCES[language])
            sources[language] = "built-in list (held-out file missing or empty)"
    mixed: list[str] = []
    for index in range(max(len(texts) for texts in by_language.values())):
        mixed.extend(texts[index] for texts in by_language.values() if index < len(texts))
    return mixed, sources


def summarize(
    scenario: str, clients: int, latencies: list[float], errors: int, seconds: float
) -> LatencyResult:
    """Turn per-request latencies (seconds) into a `LatencyResult`."""
    ordered = sorted(latencies)
    ms = [value * 1000 for value in ordered]
    return LatencyResult(
        scenario=scenario,
        clients=clients,
        requests=len(latencies) + errors,
        errors=errors,
        seconds=seconds,
        p50_ms=percentile(ms, 0.50),
        p95_ms=percentile(ms, 0.95),
        p99_ms=percentile(ms, 0.99),
        mean_ms=sum(ms) / len(ms) if ms else float("nan"),
        max_ms=ms[-1] if ms else float("nan"),
        throughput_rps=len(latencies) / seconds if seconds > 0 else 0.0,
    )


async def client_loop(url: str, texts: Sequence[str], count: int, offset: int, latencies: list[float]) -> int:
    """Send `count` parses one after the other; append latencies, return the error count."""
    errors = 0
    async with NLUClient(url, timeout=CLIENT_TIMEOUT) as client:
        for index in range(count):
            text = texts[(offset + index) % len(texts)]
            started = time.perf_counter()
            try:
                await client.parse(text)
            except NLUUnavailable:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)
    return errors


def minimal_client_loop(url: str, texts: Sequence[str], count: int) -> tuple[list[float], int]:
    """Send `count` parses on one kept-alive `http.client` connection: the server's share.

    The assistant's client (httpx, async) adds its own time to every request; this
    stdlib client adds about as little as Python can, so the two rows side by side show
    what the server takes and what the client adds.
    """
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or "127.0.0.1"
    connection = http.client.HTTPConnection(host, parsed.port, timeout=CLIENT_TIMEOUT)
    latencies: list[float] = []
    errors = 0
    try:
        for index in range(count):
            body = json.dumps({"text": texts[index % len(texts)]}).encode()
            started = time.perf_counter()
            try:
                connection.request("POST", "/model/parse", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                payload = response.read()
                if response.status != 200 or "intent" not in json.loads(payload):
                    errors += 1
                    continue
            except (OSError, http.client.HTTPException, ValueError):
                errors += 1
                connection.close()
                continue
            latencies.append(time.perf_counter() - started)
    finally:
        connection.close()
    return latencies, errors


async def measure_minimal(scenario: str, url: str, texts: Sequence[str], count: int) -> LatencyResult:
    """One sequential stdlib client (in a thread), summarised like the others."""
    started = time.perf_counter()
    latencies, errors = await asyncio.to_thread(minimal_client_loop, url, texts, count)
    return summarize(scenario, 1, latencies, errors, time.perf_counter() - started)


async def measure(
    scenario: str, url: str, texts: Sequence[str], clients: int, per_client: int
) -> LatencyResult:
    """Run `clients` concurrent clients of `per_client` requests each and summarise."""
    latencies: list[float] = []
    started = time.perf_counter()
    errors = await asyncio.gather(
        *(client_loop(url, texts, per_client, offset=i * 7, latencies=latencies) for i in range(clients))
    )
    return summarize(scenario, clients, latencies, sum(errors), time.perf_counter() - started)


def train_seconds(console: Console) -> float:
    """Time a full training (`python -m nlu.train`) into a temporary directory, as `make train` runs it."""
    with tempfile.TemporaryDirectory(prefix="bench-nlu-") as scratch:
        env = rasa_environment()
        python = DEFAULT_RASA_VENV / "bin" / "python"
        command = [str(python), "-m", "nlu.train", "--out", str(Path(scratch) / "models")]
        log_path = Path(scratch) / "train.log"
        started = time.perf_counter()
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                with console.status("training (make train, from scratch)…"):
                    code = process.wait()
            finally:
                if process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGTERM)
                    process.wait()
        seconds = time.perf_counter() - started
        if code != 0 or not list((Path(scratch) / "models").glob("*.tar.gz")):
            tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
            raise RuntimeError("training failed:\n" + "\n".join(tail))
        return seconds


async def run_server_benchmarks(
    model: Path, texts: list[str], args: argparse.Namespace, console: Console
) -> dict[str, Any]:
    """Start the server, measure start-up, latency and memory, and always stop it."""
    server = RasaServer(model, DEFAULT_RASA_VENV)
    progress(console, f"starting rasa run on port {server.port} with {model.name}")
    server.start()
    try:
        await server.wait_ready()
        assert server.process is not None and server.startup_seconds is not None
        progress(console, f"server ready in {server.startup_seconds:.1f} s")
        memory_idle = resident_mib(psutil.Process(server.process.pid), children=True)

        progress(console, f"warming up ({args.warmup} requests)")
        await measure("warm-up", server.url, texts, 1, args.warmup)

        progress(console, f"1 client × {args.requests} sequential requests")
        sequential = await measure("sequential", server.url, texts, 1, args.requests)
        progress(console, f"1 minimal client (http.client) × {args.requests} sequential requests")
        minimal = await measure_minimal("sequential, stdlib client", server.url, texts, args.requests)

        label = f"{args.clients} clients × {args.concurrent_requests} requests"
        progress(console, label)
        concurrent = await measure("concurrent", server.url, texts, args.clients, args.concurrent_requests)
        memory_loaded = resident_mib(psutil.Process(server.process.pid), children=True)
        return {
            "startup_seconds": server.startup_seconds,
            "memory_mib_after_startup": memory_idle,
            "memory_mib_after_load": memory_loaded,
            "latency": [asdict(sequential), asdict(minimal), asdict(concurrent)],
        }
    finally:
        progress(console, "stopping the server")
        server.stop()


def render(results: dict[str, Any], console: Console) -> None:
    """Print the figures as rich tables."""
    latency = Table(title="NLU parse latency through the HTTP API (POST /model/parse)")
    latency.add_column("scenario", no_wrap=True)
    for column in ("clients", "requests", "errors", "p50 ms", "p95 ms", "p99 ms", "mean ms"):
        latency.add_column(column, justify="right", no_wrap=True)
    latency.add_column("req/s", justify="right", no_wrap=True)
    for row in results["latency"]:
        latency.add_row(
            row["scenario"],
            str(row["clients"]),
            str(row["requests"]),
            str(row["errors"]),
            f"{row['p50_ms']:.1f}",
            f"{row['p95_ms']:.1f}",
            f"{row['p99_ms']:.1f}",
            f"{row['mean_ms']:.1f}",
            f"{row['throughput_rps']:.1f}",
        )
    summary = Table(title="NLU server and training")
    summary.add_column("figure")
    summary.add_column("value", justify="right")
    training = results["training_seconds"]
    rows = [
        ("CPU cores (os.cpu_count)", str(results["cpu_count"])),
        ("load average (1 min) at start", f"{results['load_average_1min_at_start']:.2f}"),
        ("model", results["model"]),
        ("utterances (fa, fr, nl, en)", str(results["utterances"])),
        ("start-up until ready", f"{results['startup_seconds']:.1f} s"),
        ("resident memory after start-up", mib(results["memory_mib_after_startup"]) + " MiB"),
        ("resident memory after the load", mib(results["memory_mib_after_load"]) + " MiB"),
        (
            "training time (make train: full training, from scratch)",
            "skipped (--skip-train)" if training is None else f"{training:.1f} s",
        ),
    ]
    if "load_average_1min_at_training" in results:
        rows.append(
            ("load average (1 min) before training", f"{results['load_average_1min_at_training']:.2f}")
        )
    for name, value in rows:
        summary.add_row(name, value)
    console.print(latency)
    console.print(summary)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.nlu",
        description="Benchmark the Rasa NLU server: start-up, latency, memory, training.",
    )
    parser.add_argument("--requests", type=positive, default=300, help="sequential requests (default 300)")
    parser.add_argument("--clients", type=positive, default=8, help="concurrent clients (default 8)")
    parser.add_argument(
        "--concurrent-requests",
        type=positive,
        default=150,
        help="requests per concurrent client (default 150)",
    )
    parser.add_argument("--warmup", type=positive, default=20, help="warm-up requests (default 20)")
    parser.add_argument("--model", type=Path, help="model archive (default: newest in models/)")
    parser.add_argument("--skip-train", action="store_true", help="do not measure the training time")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    args = parse_args(argv)
    console, err = consoles()
    model = chosen_model(args.model, err)
    if model is None:
        return 2
    texts, sources = utterances()
    results: dict[str, Any] = {
        **run_facts(),
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
        "model": model.name,
        "utterances": len(texts),
        "utterance_sources": sources,
    }
    try:
        with sigterm_as_interrupt():
            results |= asyncio.run(run_server_benchmarks(model, texts, args, err))
            results["training_seconds"] = None
            if not args.skip_train:
                results["load_average_1min_at_training"] = round(os.getloadavg()[0], 2)
                progress(err, "timing a full training (make train into a temporary dir)")
                results["training_seconds"] = train_seconds(err)
                progress(err, f"trained in {results['training_seconds']:.1f} s")
    except KeyboardInterrupt:
        err.print("[yellow]interrupted: server stopped, nothing written[/yellow]")
        return 130
    except (ModelMissing, ServerFailed, RuntimeError) as error:
        err.print(f"[red]error:[/red] {error}")
        return 1
    results["training_command"] = (
        None
        if args.skip_train
        else "python -m nlu.train (as make train: full training of config.yml on nlu_data/)"
    )
    render(results, console)
    write_report(REPORT_PATH, results, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
