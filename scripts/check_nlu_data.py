"""Check the NLU training data of one language before it is trained on.

Usage: .venv/bin/python scripts/check_nlu_data.py fa

Reports files that do not load, examples that appear twice (after normalisation, within
or across intents), and training examples that also occur in the held-out split (by line
number only: the held-out texts are never printed, so nobody writes towards them), and
test-split examples (eval/test/) that also occur in the training data or the held-out split.
The splits of every language are compared: "dankjewel" in the English held-out questions
is as seen as it is in the Dutch ones when "dankjewel" is a Dutch training example.
Exits 1 when anything is wrong.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import yaml

from bot.nlu.normalize import normalize

ROOT = Path(__file__).resolve().parent.parent


def examples(path: Path) -> list[tuple[str, str, int]]:
    """(intent, text, line number) of every example in one Rasa NLU file."""
    source = path.read_text(encoding="utf-8")
    document = yaml.safe_load(source)
    found: list[tuple[str, str, int]] = []
    lines = source.splitlines()
    for block in document.get("nlu", []):
        for raw in str(block["examples"]).splitlines():
            text = raw.strip().removeprefix("- ").strip()
            if not text:
                continue
            number = next((i + 1 for i, line in enumerate(lines) if line.strip() == raw.strip()), 0)
            found.append((block["intent"], text, number))
    return found


def split_examples(root: Path, split: str) -> tuple[list[tuple[Path, str, int]], int]:
    """(file, text, line number) of every question in one split, all languages; and how
    many of its files do not load (each reported: it cannot be compared with)."""
    found: list[tuple[Path, str, int]] = []
    unreadable = 0
    for path in sorted((root / "eval" / split).glob("*.yml")):
        try:
            found += [(path, text, number) for _, text, number in examples(path)]
        except Exception as error:  # any unreadable file is reported, not raised
            print(f"{path.relative_to(root)}: does not load: {without_text(error)}")
            unreadable += 1
    return found, unreadable


def without_text(error: Exception) -> str:
    """Where and why a question file does not load, without YAML's quote of its lines."""
    mark = getattr(error, "problem_mark", None)
    if isinstance(error, yaml.MarkedYAMLError) and mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {error.problem}"
    return type(error).__name__


def main(language: str, root: Path = ROOT) -> int:
    problems = 0
    seen: dict[str, list[tuple[str, Path, int]]] = defaultdict(list)
    for path in sorted((root / "nlu_data" / language).glob("*.yml")):
        try:
            items = examples(path)
        except Exception as error:  # any unreadable file is reported, not raised
            print(f"{path.relative_to(root)}: does not load: {error}")
            problems += 1
            continue
        if not items:
            print(f"{path.relative_to(root)}: no examples")
            problems += 1
        elif {intent for intent, _, _ in items} != {path.stem}:
            print(f"{path.relative_to(root)}: intent does not match the file name")
            problems += 1
        for intent, text, number in items:
            seen[normalize(text)].append((intent, path, number))
    for where in seen.values():
        if len(where) > 1:
            places = ", ".join(f"{p.relative_to(root)}:{n} ({i})" for i, p, n in where)
            print(f"duplicate after normalisation: {places}")
            problems += 1
    held_out, unreadable = split_examples(root, "heldout")
    tests, unreadable_tests = split_examples(root, "test")
    problems += unreadable + unreadable_tests
    held = {normalize(text) for _, text, _ in held_out}
    for key, where in seen.items():
        if key in held:
            places = ", ".join(f"{p.relative_to(root)}:{n}" for _, p, n in where)
            print(f"also in the held-out split (rewrite or delete it): {places}")
            problems += 1
    # The test split is never tuned on, so its own line numbers may be shown.
    for test, text, number in tests:
        key = normalize(text)
        where_test = f"{test.relative_to(root)}:{number}"
        if key in seen:
            places = ", ".join(f"{p.relative_to(root)}:{n}" for _, p, n in seen[key])
            print(f"test example {where_test} is also training data at {places}")
            problems += 1
        if test.stem == language and key in held:
            print(f"test example {where_test} is also in the held-out split (rewrite it)")
            problems += 1
    counts: dict[str, int] = defaultdict(int)
    for where in seen.values():
        for intent, _, _ in where:
            counts[intent] += 1
    print(f"{language}: {sum(counts.values())} examples in {len(counts)} intents, {problems} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
