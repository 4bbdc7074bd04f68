"""Helpers shared by the benchmarks: held-out questions, percentiles, options, progress, reports."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import psutil
import yaml
from rich.console import Console

from bot.nlu.server import ModelMissing, latest_model
from bot.settings import DEFAULT_MODELS, PROJECT_ROOT

HELDOUT_DIR = PROJECT_ROOT / "eval" / "heldout"


def heldout_texts(path: Path) -> list[str]:
    """Return the example texts of a Rasa NLU YAML file (`- intent:` blocks with `examples: |`)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    texts: list[str] = []
    for block in data.get("nlu") or []:
        examples = block.get("examples") if isinstance(block, dict) else None
        if isinstance(examples, str):
            texts.extend(
                line.strip()[2:].strip() for line in examples.splitlines() if line.strip().startswith("- ")
            )
    return texts


def heldout_questions(language: str) -> tuple[list[str], Path | None]:
    """Return a language's held-out questions and their file; no questions if it is missing or unreadable."""
    path = HELDOUT_DIR / f"{language}.yml"
    with contextlib.suppress(OSError, UnicodeDecodeError):
        texts = heldout_texts(path)
        if texts:
            return texts, path
    return [], None


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Return the `fraction` percentile of sorted values, interpolating linearly."""
    if not sorted_values:
        return float("nan")
    position = fraction * (len(sorted_values) - 1)
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def positive(value: str) -> int:
    """Parse a positive integer option."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def progress(console: Console, message: str) -> None:
    """Print one progress line on stderr."""
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so that servers are stopped either way."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def consoles() -> tuple[Console, Console]:
    """Return the console for results and the one for progress and errors (stderr)."""
    console = Console()
    if not console.is_terminal:  # piped or in CI: do not squeeze the tables into 80 columns
        console = Console(width=120)
    return console, Console(stderr=True)


def chosen_model(option: Path | None, err: Console) -> Path | None:
    """Return the model archive of --model, or the newest in models/; None (said on `err`) if none."""
    try:
        model = option.resolve() if option else latest_model(DEFAULT_MODELS)
        if not model.is_file():
            raise ModelMissing(f"{model} does not exist")
    except ModelMissing as error:
        err.print(f"[red]error:[/red] {error}")
        return None
    return model


def run_facts() -> dict[str, Any]:
    """Return when and on what a benchmark ran, for the head of its report."""
    return {
        "generated_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


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


def mib(value: float | None) -> str:
    """A memory figure for a table, in whole MiB; a dash when it could not be read."""
    return "—" if value is None else f"{value:.0f}"


def write_report(path: Path, results: dict[str, Any], console: Console) -> None:
    """Write a benchmark's figures as JSON and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    console.print(f"Wrote {path.relative_to(PROJECT_ROOT)}")
