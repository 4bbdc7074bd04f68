"""Helpers shared by the benchmarks: held-out questions, percentiles, options, progress."""

from __future__ import annotations

import argparse
import contextlib
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

import yaml
from rich.console import Console


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
