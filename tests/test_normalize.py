"""The text normaliser shared by NLU training and parsing."""

from __future__ import annotations

import json

import pytest

from bot.nlu.normalize import normalize
from tests.rasa_python import run_json


@pytest.mark.parametrize(
    ("variants", "expected"),
    [
        (["می‌خوام برگردم", "میخوام برگردم", "می خوام برگردم"], "میخوام برگردم"),
        (["ميخوام برگردم", "مي‌خوام برگردم"], "میخوام برگردم"),  # Arabic keyboard: ي
        (["كمك", "کمک"], "کمک"),  # Arabic keyboard: ك
        (["۱۸ سالمه", "١٨ سالمه", "18 سالمه"], "18 سالمه"),
        (["Où est l'aéroport?", "ou est l'aeroport?", "OU EST L'AEROPORT?"], "ou est l'aeroport?"),
        (["salaaaaam", "Salam", "salam 😀😀"], "salam"),
        (["سلااااام", "سلـــام", "سلام"], "سلام"),
        (["کتاب ها", "کتاب‌ها", "کتابها"], "کتابها"),
    ],
)
def test_normalize_folds_spelling_variants_together(variants: list[str], expected: str) -> None:
    assert {normalize(variant) for variant in variants} == {expected}


def test_normalize_keeps_numbers_that_repeat_digits() -> None:
    assert normalize("1000 euro") == "1000 euro"
    assert normalize("0800 32 745") == "0800 32 745"


def test_normalize_removes_bidi_controls_and_control_characters() -> None:
    assert normalize("\u202eabc\u202c \u2066x\u2069\x00\x07") == "abc x"


def test_normalize_is_idempotent() -> None:
    samples = ["می‌خوام برگردم ۲ نفر", "Ça coûte combien??", "Hoeveel kost dat 😀", "x" * 50]
    for sample in samples:
        assert normalize(normalize(sample)) == normalize(sample)


_RASA_SCRIPT = """
import json, sys
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from nlu.components import TextNormalizer
texts = json.loads(sys.stdin.read())
component = TextNormalizer()
training = TrainingData([Message.build(text=t, intent="greet") for t in texts])
trained = [m.get("text") for m in component.process_training_data(training).training_examples]
parsed = [m.get("text") for m in component.process([Message(data={"text": t}) for t in texts])]
print(json.dumps({"training": trained, "parsing": parsed}))
"""


def test_normalize_rasa_component_gives_training_and_parsing_the_same_text() -> None:
    texts = ["می‌خوام برگردم", "ميخوام برگردم", "Où est l'aéroport 😀", "salaaaam ۱۸"]
    outputs = run_json(_RASA_SCRIPT, json.dumps(texts))
    assert outputs["training"] == outputs["parsing"] == [normalize(text) for text in texts]
