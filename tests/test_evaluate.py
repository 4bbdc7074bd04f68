"""`make eval`'s paired comparison of our pipeline with Rasa's default, run in the Rasa environment."""

from __future__ import annotations

import json
from typing import Any

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
