"""`make eval`: our NLU pipeline on a split nobody trains on, beside Rasa's default one.

Trains `config.yml` (ours) on `nlu_data/`, parses every example of `eval/<split>/<lang>.yml`
in-process, and reports accuracy, macro-F1, confident wrong answers, fallbacks, the best
guess and answer-language accuracy per language. Beside them it prints the figures of Rasa's
default pipeline (the config `rasa init` writes, DIET 100 epochs) as recorded in
`eval/default-recorded.json` at the commit they were measured at: recorded, not re-measured,
because training that pipeline takes about two hours on 2 cores. `--with-default` trains it
(resuming after a stop), measures it on the same questions and compares the two, paired.

Two splits: `heldout`, on which the pipeline was tuned (thresholds, weights), and `test`,
written later and never tuned on. Writes `reports/eval.json`, `reports/errors.tsv` and the
confusion matrices (with a `-test` suffix for the test split). A measurement, not a gate:
exits 0 whatever the figures (1 when a training failed, 2 when there is nothing to train or
evaluate on, or on a usage error).

Runs in the Rasa environment (Python 3.10):
    PYTHONPATH=. RASA_TELEMETRY_ENABLED=false .venv-rasa/bin/python -m nlu.evaluate [--with-default]
"""

from __future__ import annotations

import os

# Before TensorFlow and SQLAlchemy are imported (the Makefile sets them too).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

import argparse
import asyncio
import contextlib
import hashlib
import json
import re
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=PendingDeprecationWarning)

from bot.nlu.intents import FALLBACK_INTENT, INTENTS, LANGUAGES  # noqa: E402
from bot.nlu.normalize import normalize  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NLU_DATA = ROOT / "nlu_data"
SPLITS = ("heldout", "test")
REPORTS = ROOT / "reports"
MODELS = REPORTS / "models"
OUR_CONFIG = ROOT / "config.yml"
# Files whose change must retrain our model (as the Makefile's NLU_INPUTS).
OUR_CODE = ("nlu/components.py", "bot/nlu/normalize.py", "bot/nlu/intents.py")
# Rasa's default pipeline as measured once by `--with-default` (about two hours on 2 cores).
RECORDED_DEFAULT = ROOT / "eval" / "default-recorded.json"

TARGET_ACCURACY = 0.92
TARGET_LANGUAGE = 0.97
TARGET_CONFIDENT_WRONG = 0.03

OVERALL = "all"


def shown(path: Path) -> str:
    """Return `path` relative to the project, or to site-packages for an installed file."""
    if path.is_relative_to(ROOT) and ".venv-rasa" not in path.parts:
        return str(path.relative_to(ROOT))
    parts = path.parts
    if "site-packages" in parts:
        return str(Path(*parts[parts.index("site-packages") + 1 :]))
    return str(path)


def progress(message: str) -> None:
    """Print one progress line on stderr."""
    print(f"[eval {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Example:
    """One held-out utterance with its true intent and language."""

    language: str
    text: str
    intent: str


@dataclass(frozen=True)
class Parsed:
    """What one model answered for one held-out example."""

    example: Example
    intent: str
    confidence: float
    language: str | None
    best_guess: str | None = None  # the first intent of the ranking that is not a fallback

    @property
    def guess(self) -> str:
        """The intent ranked first once a fallback is set aside (offered as a guess)."""
        return self.best_guess or self.intent


@dataclass
class Pipeline:
    """One pipeline to train and evaluate, and what happened to it."""

    name: str
    source_config: Path
    inputs: list[Path]
    out_dir: Path
    model: Path | None = None
    trained: bool = False
    forced: bool = False
    train_seconds: float | None = None
    train_note: str = ""
    error: str | None = None
    parse_seconds: float | None = None
    results: list[Parsed] = field(default_factory=list)
    resumable: bool = False
    stop_at_epoch: int | None = None


# --------------------------------------------------------------------------- data


def training_files() -> list[Path]:
    """Return the training data files, sorted."""
    if not NLU_DATA.is_dir():
        return []
    return sorted(p for p in NLU_DATA.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def load_training_texts() -> tuple[int, set[str]]:
    """Return the number of training examples and their normalised texts."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(NLU_DATA))
    texts = {normalize(m.get("text") or "") for m in data.intent_examples}
    return len(data.intent_examples), texts


def load_heldout(split: str = "heldout") -> tuple[list[Example], dict[str, dict[str, Any]]]:
    """Load every file of `eval/<split>/` with Rasa's loader; missing or broken ones are reported."""
    from rasa.shared.nlu.training_data.loading import load_data

    files: dict[str, dict[str, Any]] = {}
    examples: list[Example] = []
    folder = ROOT / "eval" / split
    paths = {p.stem: p for p in sorted(folder.glob("*.yml"))} if folder.is_dir() else {}
    for language in (*LANGUAGES, *sorted(set(paths) - set(LANGUAGES))):
        path = paths.get(language)
        relative = f"eval/{split}/{language}.yml"
        if path is None:
            files[language] = {"path": relative, "status": "missing", "examples": 0}
            progress(f"{relative}: missing, {language} is not evaluated")
            continue
        try:
            data = load_data(str(path))
        except Exception as error:  # a file being written may not parse yet
            files[language] = {"path": relative, "status": f"unreadable: {error}", "examples": 0}
            progress(f"{relative}: unreadable, skipped ({type(error).__name__}: {error})")
            continue
        count, unlabelled = 0, 0
        for message in data.intent_examples:
            metadata = message.get("metadata") or {}
            example_language = (metadata.get("intent") or {}).get("language")
            if not example_language:
                unlabelled += 1
                example_language = language
            examples.append(Example(example_language, message.get("text"), message.get("intent")))
            count += 1
        status = "ok" if count else "empty"
        files[language] = {"path": relative, "status": status, "examples": count}
        if unlabelled:
            files[language]["without_language_metadata"] = unlabelled
            progress(f"{relative}: {unlabelled} examples lack metadata.language")
        progress(f"{relative}: {count} examples")
    return examples, files


def data_digest(split: str) -> str:
    """Return a digest of the training data and the split's questions (paths and bytes)."""
    digest = hashlib.sha256()
    for path in [*training_files(), *sorted((ROOT / "eval" / split).glob("*.yml"))]:
        digest.update(f"{path.relative_to(ROOT)}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def recorded_default(split: str, path: Path = RECORDED_DEFAULT) -> dict[str, Any] | None:
    """Return Rasa's default pipeline on `split` as recorded in `path`, or None (with a note).

    The record holds the overall figures of one measurement at a commit; `figures` is shaped
    like `by_language`'s (overall only), and `same_data` says whether the training data and
    the split's questions are still the ones it was measured on.
    """
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        measured = record["splits"][split]
        figures = {OVERALL: {"examples": measured["examples"], **measured["metrics"]}}
    except (OSError, ValueError, KeyError, TypeError) as error:
        progress(f"{shown(path)}: no recorded figures of Rasa's default on {split} ({error!r})")
        return None
    return {
        **{key: value for key, value in record.items() if key != "splits"},
        "parse_seconds": measured.get("parse_seconds"),
        "figures": figures,
        "same_data": measured.get("data_sha256") == data_digest(split),
    }


# ----------------------------------------------------------------------- training


def inputs_digest(paths: list[Path]) -> str:
    """Return a digest of the files (names and bytes) and the Rasa version a model came from."""
    import rasa

    digest = hashlib.sha256(f"rasa {rasa.__version__}\n".encode())
    for path in paths:
        # An installed file (Rasa's default config) is named as in site-packages, so that the
        # digest does not change with where the environment lives (or a symlink to it).
        installed = path.is_relative_to(ROOT) or "site-packages" in path.parts
        name = shown(path) if installed else path.name
        digest.update(f"{name}\n".encode())
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    return digest.hexdigest()


def default_config_path() -> Path:
    """Return the config that `rasa init` writes (its commented pipeline means Rasa's default)."""
    import rasa.cli

    return Path(rasa.cli.__file__).resolve().parent / "initial_project" / "config.yml"


# Rasa's default pipeline as `rasa init` documents it, with a placeholder for the epochs.
SHORT_DEFAULT = """\
# Rasa's default NLU pipeline (written out by `rasa init`) with {epochs} epochs instead of 100.
recipe: default.v1
assistant_id: default-pipeline
language: en
pipeline:
  - name: WhitespaceTokenizer
  - name: RegexFeaturizer
  - name: LexicalSyntacticFeaturizer
  - name: CountVectorsFeaturizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 4
  - name: DIETClassifier
    epochs: {epochs}
  - name: EntitySynonymMapper
  - name: ResponseSelector
    epochs: {epochs}
  - name: FallbackClassifier
    threshold: 0.3
    ambiguity_threshold: 0.1
"""


def short_default_config(epochs: int) -> Path:
    """Write Rasa's default pipeline with fewer epochs (100 take hours on 2 cores)."""
    path = MODELS / f"default-{epochs}-epochs.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = SHORT_DEFAULT.format(epochs=epochs)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def checkpoint_epoch(resume: Path) -> int | None:
    """Return the epoch of the latest checkpoint in `resume`, if any."""
    index = resume / "checkpoint"
    found = re.search(r"ckpt-(\d+)", index.read_text()) if index.is_file() else None
    return int(found[1]) if found else None


def prepare_resume(resume: Path, digest: str, *, force: bool) -> int:
    """Keep `resume/` only if it holds checkpoints of these inputs; return the epochs it has."""
    marker = resume / "inputs"
    kept = not force and marker.is_file() and marker.read_text().strip() == digest
    if not kept:
        shutil.rmtree(resume, ignore_errors=True)
    resume.mkdir(parents=True, exist_ok=True)
    marker.write_text(digest + "\n")
    epoch = checkpoint_epoch(resume)
    if epoch:
        progress(f"resuming: DIET checkpoint of epoch {epoch} found in {shown(resume)}")
    return epoch or 0


def make_resumable(config: Path, resume: Path, stop_at_epoch: int | None = None) -> None:
    """Spell out Rasa's auto-configured pipeline in `config`, with a DIET that can resume.

    The pipeline is the one Rasa fills in for `config` (for `rasa init`'s file, its default
    pipeline); only DIETClassifier becomes `nlu.resumable.ResumableDIETClassifier`, the same
    classifier with the same settings, which saves a checkpoint after every epoch.
    """
    from rasa.engine.recipes.recipe import Recipe
    from rasa.shared.data import TrainingType
    from rasa.shared.utils.io import read_config_file, write_yaml

    settings = read_config_file(config)
    recipe = Recipe.recipe_for_name(settings.get("recipe"))
    settings, _, _ = recipe.auto_configure(config, settings, TrainingType.NLU)
    for step in settings.get("pipeline") or []:
        if step.get("name") == "DIETClassifier":
            step["name"] = "nlu.resumable.ResumableDIETClassifier"
            step["resume_dir"] = str(resume)
            if stop_at_epoch is not None:
                step["stop_at_epoch"] = stop_at_epoch
    write_yaml(settings, config)


class NoCheckpoint(Exception):
    """The default pipeline has no unfinished training of the current inputs to measure."""


def so_far(default: Pipeline, wanted: int | None = None, attempts: int = 5) -> Pipeline:
    """Return the default pipeline as its unfinished training stands: its latest checkpoint.

    The checkpoint is copied (the training may still be running and replace it) into a
    directory of its own, where a training told to stop at that epoch saves it as a model.
    With `wanted`, that epoch: a model already saved from it, or the latest checkpoint if it
    is of that epoch (so that both splits measure the same model).
    """

    def snapshot(epoch: int) -> Pipeline:
        out_dir = default.out_dir.with_name(f"{default.out_dir.name}-epoch-{epoch}")
        return Pipeline(
            default.name,
            default.source_config,
            default.inputs,
            out_dir,
            resumable=True,
            stop_at_epoch=epoch,
        )

    digest = inputs_digest(default.inputs)
    if wanted is not None:
        saved = snapshot(wanted)
        with contextlib.suppress(OSError, ValueError):
            if json.loads((saved.out_dir / "trained.json").read_text())["inputs"] == digest:
                return saved
    resume = default.out_dir / "resume"
    marker = resume / "inputs"
    if not marker.is_file() or marker.read_text().strip() != digest:
        raise NoCheckpoint(
            f"no checkpoint of the current data and config in {shown(resume)}: "
            "`make eval` saves one after every epoch of the default's training"
        )
    for _ in range(attempts):
        epoch = checkpoint_epoch(resume)
        if epoch is None:
            raise NoCheckpoint(f"no epoch finished yet in {shown(resume)}")
        if wanted is not None and epoch != wanted:
            raise NoCheckpoint(f"no model of epoch {wanted}, and the checkpoint is of epoch {epoch}")
        found = snapshot(epoch)
        copy = found.out_dir / "resume"
        shutil.rmtree(copy, ignore_errors=True)
        copy.mkdir(parents=True)
        try:
            for path in resume.iterdir():
                if path.name in ("inputs", "checkpoint") or re.search(rf"-{epoch}(\.|$)", path.name):
                    shutil.copy2(path, copy / path.name)
        except FileNotFoundError:
            continue  # the training saved its next epoch meanwhile: take that one
        if checkpoint_epoch(copy) == epoch:
            return found
    raise NoCheckpoint(f"{shown(resume)} kept changing while it was copied")


def train(pipeline: Pipeline, *, force: bool) -> None:
    """Train `pipeline` into its directory, unless an identical model is already there."""
    from nlu.train import train as train_model

    pipeline.out_dir.mkdir(parents=True, exist_ok=True)
    stamp_path = pipeline.out_dir / "trained.json"
    digest = inputs_digest(pipeline.inputs)
    stamp: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        stamp = json.loads(stamp_path.read_text())
    previous = pipeline.out_dir / str(stamp.get("model", ""))
    if not force and stamp.get("inputs") == digest and previous.is_file():
        pipeline.model = previous
        if pipeline.stop_at_epoch is None:
            pipeline.train_note = (
                f"not retrained: inputs unchanged since {stamp.get('trained_at', '?')} "
                f"(that run took {stamp.get('seconds', 0):.0f} s; --force retrains)"
            )
        else:
            pipeline.train_note = (
                f"saved at {stamp.get('trained_at', '?')} from the checkpoint of DIET epoch "
                f"{pipeline.stop_at_epoch} of a training not finished"
            )
        progress(f"[{pipeline.name}] model up to date: {previous.name}, training skipped")
        shutil.rmtree(pipeline.out_dir / "resume", ignore_errors=True)  # a copy made for it
        return

    # Rasa writes its auto-configured defaults back into the config file: train on a copy
    # so the installed package's file is never modified.
    config = pipeline.out_dir / "config.yml"
    shutil.copyfile(pipeline.source_config, config)
    resume = pipeline.out_dir / "resume"
    resumed_at = 0
    if pipeline.resumable:
        resumed_at = prepare_resume(resume, digest, force=force)
        make_resumable(config, resume, pipeline.stop_at_epoch)
    # Always a full training, as `make train` runs it (nlu/train.py: Rasa's cache keys ignore
    # the code of bot/nlu/normalize.py, and a partly cached run would give a meaningless time).
    progress(
        f"[{pipeline.name}] training {shown(pipeline.source_config)} on nlu_data/ "
        f"(full training, {os.cpu_count()} cores; DIET epochs show below)"
    )
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(sys.stderr):
            model = train_model(config, NLU_DATA, pipeline.out_dir)
    except Exception as error:
        pipeline.error = f"training failed: {type(error).__name__}: {error}"
        progress(f"[{pipeline.name}] {pipeline.error}")
        return
    seconds = time.perf_counter() - started
    shutil.rmtree(resume, ignore_errors=True)
    for old in pipeline.out_dir.glob("*.tar.gz"):
        if old != model:
            old.unlink()
    pipeline.model, pipeline.trained, pipeline.forced = model, True, force
    pipeline.train_seconds = seconds
    pipeline.train_note = f"trained in {seconds:.1f} s" + (" (--force)" if force else "")
    if pipeline.stop_at_epoch is not None and resumed_at == pipeline.stop_at_epoch:
        pipeline.train_note = (
            f"saved from the checkpoint of DIET epoch {resumed_at} of a training not finished "
            f"(in {seconds:.1f} s; that training's time is not measured here)"
        )
    elif resumed_at:
        pipeline.train_note += f", resumed after DIET epoch {resumed_at} of an earlier run"
    stamp = {
        "model": model.name,
        "inputs": digest,
        "seconds": round(seconds, 2),
        "resumed_after_epoch": resumed_at,
        "trained_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    stamp_path.write_text(json.dumps(stamp, indent=2) + "\n")
    progress(f"[{pipeline.name}] trained in {seconds:.1f} s: {shown(model)}")


# ---------------------------------------------------------------------- parsing


async def parse_all(pipeline: Pipeline, examples: list[Example]) -> None:
    """Load the pipeline's model in-process and parse every held-out example."""
    from rasa.core.agent import Agent

    assert pipeline.model is not None
    progress(f"[{pipeline.name}] loading {shown(pipeline.model)}")
    with contextlib.redirect_stdout(sys.stderr):
        agent = Agent.load(str(pipeline.model))
    print(file=sys.stderr)  # after Rasa's and TensorFlow's messages, which may lack a newline
    progress(f"[{pipeline.name}] parsing {len(examples)} held-out examples")
    started = time.perf_counter()
    for index, example in enumerate(examples, 1):
        parse = await agent.parse_message(example.text)
        intent = parse.get("intent") or {}
        language = parse.get("language")
        ranked = [r.get("name") for r in parse.get("intent_ranking") or [] if isinstance(r, dict)]
        pipeline.results.append(
            Parsed(
                example,
                intent.get("name") or FALLBACK_INTENT,
                float(intent.get("confidence") or 0.0),
                language if isinstance(language, str) else None,
                next((name for name in ranked if name and name != FALLBACK_INTENT), None),
            )
        )
        if index % 250 == 0:
            progress(f"[{pipeline.name}] parsed {index}/{len(examples)}")
    pipeline.parse_seconds = time.perf_counter() - started


# ---------------------------------------------------------------------- metrics


def metrics(results: list[Parsed]) -> dict[str, Any]:
    """Return accuracy, macro-F1, confident-wrong, fallback and language figures."""
    from sklearn.metrics import f1_score

    n = len(results)
    if not n:
        return {"examples": 0}
    truth = [r.example.intent for r in results]
    predicted = [r.intent for r in results]
    correct = sum(t == p for t, p in zip(truth, predicted, strict=True))
    guessed = sum(t == r.guess for t, r in zip(truth, results, strict=True))
    fallbacks = sum(p == FALLBACK_INTENT for p in predicted)
    confident_wrong = sum(t != p and p != FALLBACK_INTENT for t, p in zip(truth, predicted, strict=True))
    macro_f1 = f1_score(truth, predicted, labels=sorted(set(truth)), average="macro", zero_division=0)
    figures: dict[str, Any] = {
        "examples": n,
        "correct": correct,
        "accuracy": correct / n,
        "best_guess_accuracy": guessed / n,
        "macro_f1": float(macro_f1),
        "confident_wrong": confident_wrong,
        "confident_wrong_rate": confident_wrong / n,
        "fallbacks": fallbacks,
        "fallback_rate": fallbacks / n,
        "language_accuracy": None,
    }
    if any(r.language is not None for r in results):
        right = sum(r.language == r.example.language for r in results)
        figures["language_correct"] = right
        figures["language_accuracy"] = right / n
    return figures


def by_language(results: list[Parsed], languages: list[str]) -> dict[str, dict[str, Any]]:
    """Return the figures per language and over all languages."""
    table = {lang: metrics([r for r in results if r.example.language == lang]) for lang in languages}
    table[OVERALL] = metrics(results)
    return table


@dataclass(frozen=True)
class Metric:
    """A row family of the report: key, label, format and target."""

    key: str
    label: str
    percent: bool
    target: float | None = None
    below: bool = False  # the target is an upper bound

    def passes(self, value: float) -> bool:
        """Return whether `value` meets the target."""
        assert self.target is not None
        return value < self.target if self.below else value >= self.target

    def target_text(self) -> str:
        """Return the target as printed."""
        if self.target is None:
            return ""
        bound = "<" if self.below else ">="
        return f"{bound} {self.format(self.target)}"

    def format(self, value: float | None) -> str:
        """Return `value` as printed."""
        if value is None:
            return "n/a"
        return f"{value * 100:.1f} %" if self.percent else f"{value:.3f}"


METRICS = (
    Metric("accuracy", "accuracy", False, TARGET_ACCURACY),
    Metric("macro_f1", "macro-F1", False),
    Metric("confident_wrong_rate", "confident wrong", True, TARGET_CONFIDENT_WRONG, below=True),
    Metric("fallback_rate", "fallback rate", True),
    Metric("best_guess_accuracy", "best guess right", False),
    Metric("language_accuracy", "answer language", False, TARGET_LANGUAGE),
)


def checks(figures: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Return one target check per metric with a target and per language (incl. overall)."""
    found = []
    for metric in METRICS:
        if metric.target is None:
            continue
        for language, values in figures.items():
            value = values.get(metric.key)
            if value is None:
                continue
            found.append(
                {
                    "metric": metric.key,
                    "language": language,
                    "value": value,
                    "target": metric.target_text(),
                    "pass": metric.passes(value),
                }
            )
    return found


def cell(metric: Metric, values: dict[str, Any] | None) -> str:
    """Return one table cell: the value and, when there is a target, PASS or FAIL."""
    if values is None or not values.get("examples"):
        return "-"
    value = values.get(metric.key)
    text = metric.format(value)
    if metric.target is not None and value is not None:
        text += "  PASS" if metric.passes(value) else "  FAIL"
    return text


def report_table(
    figures: dict[str, dict[str, dict[str, Any]]], languages: list[str], default_label: str = "default"
) -> list[str]:
    """Return the side-by-side table as text lines (the default's column headed `default_label`)."""
    rows = [("metric", "language", "n", "ours", default_label, "target")]
    for metric in METRICS:
        for language in [*languages, OVERALL]:
            ours = figures.get("ours", {}).get(language)
            default = figures.get("default", {}).get(language)
            n = (ours or default or {}).get("examples", 0)
            rows.append(
                (
                    metric.label,
                    language,
                    str(n),
                    cell(metric, ours),
                    cell(metric, default),
                    metric.target_text(),
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        left = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        right = [value.rjust(width) for value, width in zip(row[2:], widths[2:], strict=True)]
        lines.append("  ".join(left + right).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
        elif index < len(rows) - 1 and rows[index + 1][0] != row[0]:
            lines.append("")
    return lines


def paired_difference(
    ours: list[Parsed], default: list[Parsed], *, resamples: int = 2000, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Ours minus the default on the same examples, with 95 % paired bootstrap intervals.

    A difference of a few examples out of some 850 can be chance: the interval says whether
    the split could as well have favoured the other pipeline. Resampling the examples (the
    same draw for both pipelines) keeps the pairing. Also returns, per figure, on how many
    examples only ours and only the default was right (or confidently wrong).
    """
    import numpy as np

    if [r.example for r in ours] != [r.example for r in default] or not ours:
        raise ValueError("the two pipelines were not run on the same examples")
    truth = [r.example.intent for r in ours]

    def outcomes(results: list[Parsed]) -> dict[str, np.ndarray]:
        right = np.array([r.intent == t for r, t in zip(results, truth, strict=True)])
        fallback = np.array([r.intent == FALLBACK_INTENT for r in results])
        guess = np.array([r.guess == t for r, t in zip(results, truth, strict=True)])
        return {"accuracy": right, "confident_wrong_rate": ~right & ~fallback, "best_guess_accuracy": guess}

    mine, theirs = outcomes(ours), outcomes(default)
    draws = np.random.default_rng(seed).integers(0, len(truth), size=(resamples, len(truth)))
    found = {}
    for key in mine:
        gap = mine[key].astype(float) - theirs[key].astype(float)
        low, high = np.percentile(gap[draws].mean(axis=1), [2.5, 97.5])
        found[key] = {
            "difference": float(gap.mean()),
            "ci95": [float(low), float(high)],
            "only_ours": int((mine[key] & ~theirs[key]).sum()),
            "only_default": int((theirs[key] & ~mine[key]).sum()),
        }
    return found


def paired_lines(found: dict[str, dict[str, Any]]) -> list[str]:
    """Return the paired comparison as text lines (points of percentage)."""
    lines = []
    for key, label, better, outcome in (
        ("accuracy", "accuracy", "higher", "right"),
        ("confident_wrong_rate", "confident wrong", "lower", "confidently wrong"),
        ("best_guess_accuracy", "best guess right", "higher", "right"),
    ):
        figure = found[key]
        low, high = (100 * value for value in figure["ci95"])
        verdict = "could be chance" if low <= 0 <= high else f"ours {'higher' if low > 0 else 'lower'}"
        lines.append(
            f"  {label:16} {100 * figure['difference']:+5.1f} points, 95 % interval "
            f"[{low:+.1f}, {high:+.1f}] ({verdict}; {better} is better); "
            f"{outcome} in ours only: {figure['only_ours']}, in the default only: {figure['only_default']}"
        )
    return lines


# ---------------------------------------------------------------------- outputs


def intent_labels(results: list[Parsed]) -> list[str]:
    """Return the intents in the contract's order, then any others, then nlu_fallback."""
    seen = {r.example.intent for r in results} | {r.intent for r in results}
    ordered = [name for name in INTENTS if name in seen]
    ordered += sorted(seen - set(ordered) - {FALLBACK_INTENT})
    return [*ordered, FALLBACK_INTENT]


def plot_confusion(results: list[Parsed], title: str, path: Path) -> None:
    """Draw the confusion matrix (counts, coloured by share of the true intent) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.metrics import confusion_matrix

    labels = intent_labels(results)
    counts = confusion_matrix([r.example.intent for r in results], [r.intent for r in results], labels=labels)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    size = max(10.0, 0.5 * len(labels) + 4)
    fig, ax = plt.subplots(figsize=(size + 2, size))
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02, label="share of the true intent")
    ax.set_xticks(range(len(labels)))
    ax.set_yticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=60, ha="right", rotation_mode="anchor", fontsize=10)
    ax.set_yticklabels(labels, fontsize=10)
    ax.set_xlabel("predicted intent", fontsize=12)
    ax.set_ylabel("true intent", fontsize=12)
    ax.set_title(title, fontsize=14)
    ax.set_xticks(np.arange(-0.5, len(labels)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(labels)), minor=True)
    ax.grid(which="minor", color="#dddddd", linewidth=0.5)
    ax.tick_params(which="minor", length=0)
    for row, col in zip(*np.nonzero(counts), strict=True):
        color = "white" if shares[row, col] > 0.6 else ("#b00000" if row != col else "black")
        ax.text(col, row, str(counts[row, col]), ha="center", va="center", fontsize=9, color=color)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_errors(results: list[Parsed], languages: list[str], path: Path) -> int:
    """Write every wrong prediction as TSV for the content editors; return how many."""
    order = {lang: i for i, lang in enumerate(languages)}
    wrong = sorted(
        (r for r in results if r.intent != r.example.intent),
        key=lambda r: (
            order.get(r.example.language, 99),
            r.example.intent,
            r.intent,
            -r.confidence,
        ),
    )

    def clean(text: str) -> str:
        return " ".join(text.split())

    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("language\ttext\ttrue\tpredicted\tconfidence\n")
        for r in wrong:
            fields = [r.example.language, clean(r.example.text), r.example.intent, r.intent]
            out.write("\t".join([*fields, f"{r.confidence:.3f}"]) + "\n")
    return len(wrong)


# ------------------------------------------------------------------------- main


def positive_int(text: str) -> int:
    """Parse a whole number of at least 1, for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Return the command-line options (exits 2 on a usage error)."""
    parser = argparse.ArgumentParser(
        prog="python -m nlu.evaluate",
        description="Accuracy per language of our pipeline on a split nobody trains on, beside "
        "the recorded figures of Rasa's default pipeline (or, with --with-default, its own).",
    )
    parser.add_argument(
        "--split",
        choices=SPLITS,
        default="heldout",
        help="heldout: the split the pipeline was tuned on; test: never tuned on",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="retrain even if the inputs did not change (with --with-default, the default "
        "too, from its first epoch)",
    )
    parser.add_argument(
        "--with-default",
        action="store_true",
        help="also train Rasa's default pipeline (rasa init's config, DIET 100 epochs: about "
        "2 hours on 2 cores; a stopped run resumes from its last epoch) and compare it with "
        f"ours on the same questions, paired. Without it, the figures recorded in "
        f"{shown(RECORDED_DEFAULT)} are shown, not re-measured",
    )
    parser.add_argument(
        "--default-epochs",
        type=positive_int,
        metavar="N",
        help="with --with-default: train the default with N epochs instead of 100 (its batch "
        "sizes then grow in N epochs; about a minute or two an epoch on 2 cores)",
    )
    parser.add_argument(
        "--default-so-far",
        nargs="?",
        const=0,
        type=positive_int,
        metavar="EPOCH",
        help="measure Rasa's default pipeline as its unfinished training stands, without "
        "training it further: the epoch last saved by a `--with-default` run that is still "
        "running or was stopped, or EPOCH if a model of it was saved (to measure the other "
        "split on the same model)",
    )
    args = parser.parse_args(argv)
    if args.default_epochs and not args.with_default and args.default_so_far is None:
        parser.error("--default-epochs applies to the default's training: add --with-default")
    return args


def chosen_pipelines(args: argparse.Namespace, data_files: list[Path]) -> list[Pipeline]:
    """Return the pipelines this run trains and measures: ours, and the default if asked for."""
    pipelines = [
        Pipeline(
            "ours",
            OUR_CONFIG,
            [OUR_CONFIG, *data_files, *(ROOT / name for name in OUR_CODE)],
            MODELS / "ours",
        )
    ]
    if not args.with_default and args.default_so_far is None:
        return pipelines
    default_config, default_dir = default_config_path(), MODELS / "default"
    if args.default_epochs:
        default_config = short_default_config(args.default_epochs)
        default_dir = MODELS / f"default-{args.default_epochs}-epochs"
    default = Pipeline(
        "default",
        default_config,
        [default_config, *data_files, ROOT / "nlu" / "resumable.py"],
        default_dir,
        resumable=True,
    )
    if args.default_so_far is not None:
        default = so_far(default, args.default_so_far or None)  # raises NoCheckpoint
    return [*pipelines, default]


def check_summary(found: list[dict[str, Any]]) -> str:
    """Return how many target checks pass and which fail, by metric and language."""
    passed = sum(c["pass"] for c in found)
    failed = "; ".join(
        f"{metric.label} ("
        + ", ".join(c["language"] for c in found if c["metric"] == metric.key and not c["pass"])
        + ")"
        for metric in METRICS
        if any(c["metric"] == metric.key and not c["pass"] for c in found)
    )
    return f"{passed}/{len(found)} checks PASS" + (f"; FAIL: {failed}" if failed else "")


def recorded_lines(recorded: dict[str, Any], split: str) -> list[str]:
    """Return the notes that say what the recorded default column is, and whether it still fits."""
    lines = [
        f"  note: default (recorded) = Rasa's default pipeline, {recorded['epochs']} epochs, measured "
        f"at commit {recorded['commit']} ({recorded['measured_on']}) as --with-default does;",
        f"        recorded in {shown(RECORDED_DEFAULT)}, not re-measured in this run; overall figures only.",
    ]
    if recorded["same_data"]:
        lines.append(f"        The training data and {split} questions are the same as then.")
    else:
        lines.append(
            f"        The training data or {split} questions have changed since: "
            'EVAL_ARGS="--with-default" re-measures it (about 2 hours on 2 cores).'
        )
    return lines


def quiet_rasa() -> None:
    """Keep Rasa's structured debug log (one line per parse) off stdout: warnings go to stderr."""
    import logging

    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


def main(argv: list[str] | None = None) -> int:
    """Train, parse the chosen split, print and write the report; return the exit code."""
    args = parse_args(argv)
    quiet_rasa()
    os.chdir(ROOT)  # Rasa's training cache lives in ./.rasa

    data_files = training_files()
    if not data_files:
        print(
            f"error: no training data: no .yml file under {NLU_DATA}/ "
            "(expected nlu_data/<lang>/<intent>.yml)",
            file=sys.stderr,
        )
        return 2
    split = args.split
    suffix = "" if split == "heldout" else f"-{split}"
    progress(f"loading training data ({len(data_files)} files) and the {split} split")
    n_train, train_texts = load_training_texts()
    if not n_train:
        print("error: no training data: nlu_data/ holds no intent examples", file=sys.stderr)
        return 2
    examples, heldout_files = load_heldout(split)
    if not examples:
        print(
            f"error: nothing to evaluate: no readable example in eval/{split}/<lang>.yml",
            file=sys.stderr,
        )
        return 2
    present = [lang for lang in LANGUAGES if any(e.language == lang for e in examples)]
    languages = present + sorted({e.language for e in examples} - set(present))
    leaked = [e for e in examples if normalize(e.text) in train_texts]

    try:
        pipelines = chosen_pipelines(args, data_files)
    except NoCheckpoint as error:
        print(f"error: --default-so-far: {error}", file=sys.stderr)
        return 2
    stopped = next((p.stop_at_epoch for p in pipelines if p.stop_at_epoch), None)
    suffix += f"-default-epoch-{stopped}" if stopped else ""
    measured_default = any(p.name == "default" for p in pipelines)
    recorded = None if measured_default else recorded_default(split)
    for pipeline in pipelines:
        # A model saved from a checkpoint is never retrained from scratch (--force).
        train(pipeline, force=args.force and pipeline.stop_at_epoch is None)
    for pipeline in pipelines:
        if pipeline.model is not None:
            asyncio.run(parse_all(pipeline, examples))

    progress("computing figures and writing reports/")
    REPORTS.mkdir(parents=True, exist_ok=True)
    figures = {p.name: by_language(p.results, languages) for p in pipelines if p.results}
    ours = pipelines[0]  # chosen_pipelines puts ours first, always
    outputs = []
    if ours.results:
        errors = f"errors{suffix}.tsv"
        n_errors = write_errors(ours.results, languages, REPORTS / errors)
        outputs.append(f"reports/{errors} ({n_errors} wrong predictions of our pipeline)")
    pictures = {
        "ours": f"confusion_matrix{suffix}.png",
        "default": f"confusion_matrix_default{suffix}.png",
    }
    for pipeline in pipelines:
        filename = pictures[pipeline.name]
        if pipeline.results:
            accuracy = figures[pipeline.name][OVERALL]["accuracy"]
            title = (
                f"{pipeline.name} pipeline — {split} split {', '.join(languages)} "
                f"({len(pipeline.results)} examples, accuracy {accuracy:.3f})"
            )
            plot_confusion(pipeline.results, title, REPORTS / filename)
            outputs.append(f"reports/{filename}")

    cores = os.cpu_count()
    report: dict[str, Any] = {
        "generated_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cpu_count": cores,
        "rasa_version": __import__("rasa").__version__,
        "targets": {
            "accuracy_per_language_min": TARGET_ACCURACY,
            "answer_language_min": TARGET_LANGUAGE,
            "confident_wrong_rate_max_exclusive": TARGET_CONFIDENT_WRONG,
        },
        "training_examples": n_train,
        "split": split,
        "heldout": {
            "files": heldout_files,
            "examples": len(examples),
            "languages": languages,
            "also_in_training_data": len(leaked),
        },
        "pipelines": {
            p.name: {
                "config": shown(p.source_config),
                "model": shown(p.model) if p.model else None,
                "trained": p.trained,
                "forced": p.forced,
                "train_seconds": round(p.train_seconds, 2) if p.train_seconds else None,
                "train_note": p.train_note,
                "error": p.error,
                "parse_seconds": round(p.parse_seconds, 2) if p.parse_seconds else None,
                "metrics": figures.get(p.name),
                "checks": checks(figures[p.name]) if p.name in figures else [],
            }
            for p in pipelines
        },
    }
    default = next((p for p in pipelines if p.name == "default"), None)
    paired = None
    if default is not None and ours.results and default.results:
        paired = paired_difference(ours.results, default.results)
        report["ours_minus_default"] = paired
    if recorded is not None:
        report["default_recorded"] = {
            "note": "recorded, not re-measured in this run",
            **recorded,
            "checks": checks(recorded["figures"]),
        }
        figures["default"] = recorded["figures"]
    report_name = f"eval{suffix}.json"
    (REPORTS / report_name).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    outputs.insert(0, f"reports/{report_name}")

    print()
    print(
        f"NLU evaluation on the {split} split — {len(examples)} examples "
        f"({', '.join(languages)}), "
        f"{n_train} training examples, {cores} CPU cores"
    )
    for language, info in heldout_files.items():
        if info["status"] != "ok":
            print(f"  note: {info['path']} {info['status']}: {language} not evaluated")
    if leaked:
        print(f"  note: {len(leaked)} {split} examples also occur in nlu_data/ (once normalised)")
    print()
    for line in report_table(figures, languages, "default (recorded)" if recorded else "default"):
        print(line)
    if recorded is not None:
        for line in recorded_lines(recorded, split):
            print(line)
    epochs = args.default_epochs or 100
    for pipeline in pipelines:
        if pipeline.stop_at_epoch:
            print(
                f"  note: default = Rasa's default pipeline as its training stood after epoch "
                f"{pipeline.stop_at_epoch} of {epochs} (--default-so-far)"
            )
        elif args.default_epochs and pipeline.name == "default":
            print(
                f"  note: default = Rasa's default pipeline trained {epochs} epochs "
                "instead of 100 (--default-epochs)"
            )
    if paired is not None:
        print()
        print("Ours minus the default, on the same examples (paired bootstrap, 2,000 draws):")
        for line in paired_lines(paired):
            print(line)
    print()
    print(
        f"Targets: accuracy >= {TARGET_ACCURACY:.2f} per language, answer language >= "
        f"{TARGET_LANGUAGE:.2f}, confident wrong < {TARGET_CONFIDENT_WRONG:.0%} "
        "(confident wrong = wrong intent that is not nlu_fallback)"
    )
    for pipeline in pipelines:
        found = report["pipelines"][pipeline.name]["checks"]
        if found:
            print(f"  {pipeline.name:8} {check_summary(found)}")
    if recorded is not None:
        found = report["default_recorded"]["checks"]
        print(f"  default  {check_summary(found)} (recorded, overall only)")
    print()
    print("Training:")
    for pipeline in pipelines:
        note = pipeline.error or pipeline.train_note
        parse = (
            f"; parsing {len(pipeline.results)} examples took {pipeline.parse_seconds:.1f} s"
            if pipeline.parse_seconds
            else ""
        )
        print(f"  {pipeline.name:8} {note}{parse}")
    if recorded is not None:
        print(
            f"  default  recorded at {recorded['commit']}: trained {recorded['epochs']} epochs in "
            f"{recorded['train_seconds']:,} s on {recorded['cpu_count']} cores; parsing "
            f"{recorded['figures'][OVERALL]['examples']} examples took "
            f"{recorded['parse_seconds']:.1f} s (not re-measured)"
        )
    print()
    print("Wrote " + ", ".join(outputs))
    return 1 if any(p.error for p in pipelines) else 0


if __name__ == "__main__":
    sys.exit(main())
