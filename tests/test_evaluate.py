"""`make eval`: what it trains by default, the recorded default, the paired comparison (in .venv-rasa)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from bot.nlu.server import rasa_environment
from bot.settings import DEFAULT_RASA_VENV, PROJECT_ROOT
from tests.rasa_python import run_json

_SCRIPT = """
import json, sys
from nlu.evaluate import Example, Parsed, paired_difference, paired_lines

case = json.loads(sys.stdin.read())
examples = [Example("fa", f"question {i}", "costs") for i in range(case["n"])]

def answers(intents):
    return [Parsed(e, intent, 0.9, "fa") for e, intent in zip(examples, intents)]

try:
    found = paired_difference(answers(case["ours"]), answers(case["default"]))
except ValueError as error:
    print(json.dumps({"error": str(error)}))
else:
    print(json.dumps({"found": found, "lines": paired_lines(found)}))
"""


def compare(ours: list[str], default: list[str], n: int | None = None) -> Any:
    case = {"n": len(ours) if n is None else n, "ours": ours, "default": default}
    return run_json(_SCRIPT, stdin=json.dumps(case))


def test_a_clear_lead_has_an_interval_that_excludes_zero() -> None:
    # 200 questions: ours right on all, the default answers 40 with another intent.
    ours = ["costs"] * 200
    default = ["timeline"] * 40 + ["costs"] * 160
    result = compare(ours, default)["found"]
    accuracy = result["accuracy"]
    assert accuracy["difference"] == 0.2
    assert 0 < accuracy["ci95"][0] < 0.2 < accuracy["ci95"][1]
    assert (accuracy["only_ours"], accuracy["only_default"]) == (40, 0)
    wrong = result["confident_wrong_rate"]
    assert wrong["difference"] == -0.2 and wrong["ci95"][1] < 0
    assert (wrong["only_ours"], wrong["only_default"]) == (0, 40)


def test_a_gap_of_one_question_could_be_chance() -> None:
    ours = ["costs"] * 200
    default = ["nlu_fallback"] + ["costs"] * 199
    result = compare(ours, default)
    accuracy = result["found"]["accuracy"]
    assert accuracy["difference"] == 0.005
    assert accuracy["ci95"][0] <= 0 <= accuracy["ci95"][1]
    # A fallback is not a confident wrong answer.
    assert result["found"]["confident_wrong_rate"]["difference"] == 0
    assert "could be chance" in result["lines"][0]


def test_different_questions_are_refused() -> None:
    result = compare(["costs"] * 3, ["costs"] * 2, n=3)
    assert "not run on the same examples" in result["error"]


_GUESSES = """
import json
from nlu.evaluate import Example, Parsed, metrics, paired_difference
examples = [Example("fr", f"question {i}", "costs") for i in range(4)]
# Ours: two right, one fallback whose first-ranked intent is right, one fallback that is not.
ours = [
    Parsed(examples[0], "costs", 0.9, "fr", "costs"),
    Parsed(examples[1], "costs", 0.8, "fr", "costs"),
    Parsed(examples[2], "nlu_fallback", 0.45, "fr", "costs"),
    Parsed(examples[3], "nlu_fallback", 0.45, "fr", "timeline"),
]
# The default: all four confidently answered, the third wrong.
intents = ["costs", "costs", "greet", "costs"]
default = [Parsed(e, intent, 0.99, "fr") for e, intent in zip(examples, intents)]
print(json.dumps({"ours": metrics(ours), "default": metrics(default),
                  "paired": paired_difference(ours, default)}))
"""


def test_the_best_guess_sets_a_fallback_aside_and_counts_its_first_ranked_intent() -> None:
    found = run_json(_GUESSES)
    ours, default = found["ours"], found["default"]
    assert (ours["accuracy"], ours["best_guess_accuracy"]) == (0.5, 0.75)
    assert ours["confident_wrong_rate"] == 0  # fallbacks are not confident answers
    # Without a ranking, the best guess is the answer itself.
    assert (default["accuracy"], default["best_guess_accuracy"]) == (0.75, 0.75)
    paired = found["paired"]["best_guess_accuracy"]
    assert paired["difference"] == 0
    assert (paired["only_ours"], paired["only_default"]) == (1, 1)


_CHOSEN = """
import json, sys
from nlu.evaluate import chosen_pipelines, default_config_path, parse_args, training_files
found = {}
for argv in ([], ["--split", "test"], ["--with-default"]):
    pipelines = chosen_pipelines(parse_args(argv), training_files())
    found[" ".join(argv)] = [[p.name, str(p.source_config), p.resumable] for p in pipelines]
found["default config"] = str(default_config_path())
print(json.dumps(found))
"""


def test_make_eval_without_flags_trains_ours_only_and_with_default_both() -> None:
    found = run_json(_CHOSEN)
    assert [name for name, _, _ in found[""]] == ["ours"]
    assert [name for name, _, _ in found["--split test"]] == ["ours"]
    default = found["--with-default"][1]
    assert default == ["default", found["default config"], True]  # rasa init's, resumable
    assert found["--with-default"][0] == found[""][0]


def evaluate_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m nlu.evaluate` with `args` in the Rasa environment."""
    return subprocess.run(
        [str(DEFAULT_RASA_VENV / "bin" / "python"), "-m", "nlu.evaluate", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=rasa_environment(),
        timeout=120,
        check=False,
    )


def test_the_flag_that_trains_the_default_says_how_long_it_takes() -> None:
    result = evaluate_cli("--help")
    assert result.returncode == 0, result.stderr
    help_text = " ".join(result.stdout.split())
    assert "--with-default also train Rasa's default pipeline" in help_text
    assert "about 2 hours on 2 cores" in help_text
    assert "recorded in eval/default-recorded.json are shown, not re-measured" in help_text


def test_the_default_epochs_without_the_default_is_a_usage_error() -> None:
    result = evaluate_cli("--default-epochs", "3")
    assert result.returncode == 2
    assert "add --with-default" in result.stderr


_RECORDED = """
import json, sys
from pathlib import Path
from nlu.evaluate import RECORDED_DEFAULT, data_digest, recorded_default, recorded_lines
changed = Path(sys.argv[1])
record = json.loads(RECORDED_DEFAULT.read_text())
record["splits"]["test"]["data_sha256"] = "the digest of other data"
changed.write_text(json.dumps(record))
found = {"committed": json.loads(RECORDED_DEFAULT.read_text())}
for split in ("heldout", "test"):
    recorded = recorded_default(split)
    found[split] = {**recorded, "lines": recorded_lines(recorded, split), "digest": data_digest(split)}
stale = recorded_default("test", changed)
found["stale"] = {"same_data": stale["same_data"], "lines": recorded_lines(stale, "test")}
found["missing"] = recorded_default("test", changed.with_name("missing.json"))
print(json.dumps(found))
"""


def test_the_recorded_default_is_read_from_its_file_labelled_as_recorded(tmp_path: Path) -> None:
    script = _RECORDED.replace("sys.argv[1]", repr(str(tmp_path / "changed.json")))
    found = run_json(script)
    committed = found["committed"]
    assert committed["commit"] and committed["epochs"] == 100
    for split in ("heldout", "test"):
        recorded, expected = found[split], committed["splits"][split]
        assert recorded["commit"] == committed["commit"]
        assert recorded["figures"] == {"all": {"examples": expected["examples"], **expected["metrics"]}}
        assert recorded["parse_seconds"] == expected["parse_seconds"]
        assert recorded["same_data"] == (expected["data_sha256"] == recorded["digest"])
        note = " ".join(recorded["lines"])
        assert f"commit {committed['commit']}" in note
        assert "not re-measured in this run" in note
    assert found["stale"]["same_data"] is False
    assert "have changed since" in " ".join(found["stale"]["lines"])
    assert found["missing"] is None
