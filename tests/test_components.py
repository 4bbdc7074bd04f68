"""The custom Rasa components of `config.yml`, run in the Rasa environment (Python 3.10)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.nlu.server import latest_model
from bot.settings import DEFAULT_MODELS
from tests.rasa_python import run_json

_SCRIPT = """
import json, tempfile
from pathlib import Path
import numpy as np, scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from nlu.components import (
    LinearIntentBlender, LinearModel, SentenceCountVectorsFeaturizer, SparseRow, sentence_row
)

out = {}

def featurized(tokens, width, intent=None):
    message = Message.build(text=" ".join("w" for _ in range(tokens)), intent=intent)
    message.features = [
        Features(sp.coo_matrix(np.arange(width, dtype=float).reshape(1, width)), "sentence", "text", "words"),
        Features(sp.coo_matrix(np.ones((1, 3))), "sentence", "text", "chars"),
    ]
    return message

row = sentence_row(featurized(4, 50))
dense = np.zeros(row.width)
dense[row.columns] = row.values
out["row"] = dense.tolist()

# SentenceCountVectorsFeaturizer: Rasa's sentence-level counts, one column per token.
def featurizers(directory):
    storage = LocalModelStorage(Path(directory))
    context = ExecutionContext(GraphSchema({}), "test")
    config = {**CountVectorsFeaturizer.get_default_config(),
              "analyzer": "char_wb", "min_ngram": 2, "max_ngram": 4}
    return [cls.create(config, storage, Resource(cls.__name__), context)
            for cls in (CountVectorsFeaturizer, SentenceCountVectorsFeaturizer)]

def tokenized(texts, intents=None):
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    messages = [Message.build(text=t, intent=i) for t, i in zip(texts, intents or [None] * len(texts))]
    if intents is None:
        tokenizer.process(messages)
    else:
        tokenizer.process_training_data(TrainingData(messages))
    return messages

train_texts = ["salam mikham bargardam", "combien d argent", "paspoort kwijt", "how much money"]
with tempfile.TemporaryDirectory() as directory:
    theirs_cv, ours_cv = featurizers(directory)
    for featurizer in (theirs_cv, ours_cv):
        featurizer.train(TrainingData(tokenized(train_texts, ["a", "b", "c", "d"])))
    shapes = []
    for featurizer in (theirs_cv, ours_cv):
        trained = featurizer.process_training_data(
            TrainingData(tokenized([*train_texts, "?"], ["a", "b", "c", "d", "a"]))
        ).training_examples
        parsed = featurizer.process(tokenized(train_texts))
        described = []
        for message in [*trained, *parsed]:
            sequence, sentence = message.get_sparse_features("text")
            intent_sequence, _ = message.get_sparse_features("intent")
            described.append([
                list(sequence.features.shape) if sequence else None,
                sentence.features.toarray().tolist() if sentence else None,
                intent_sequence.features.toarray().tolist() if intent_sequence else None,
            ])
        shapes.append(described)
    out["cv"] = shapes

# LinearModel: numpy scoring equals scikit-learn's on the same weighted rows; save/load.
rng = np.random.default_rng(0)
rows = sp.csr_matrix(rng.poisson(0.3, size=(60, 40)).astype(float))
labels = [["a", "b", "c"][i % 3] for i in range(60)]
for i, label in enumerate(labels):
    rows[i, {"a": 0, "b": 1, "c": 2}[label]] += 3
rows = sp.csr_matrix(rows)
model = LinearModel.fit(rows, labels, 10.0)
reference = LogisticRegression(C=10.0, max_iter=100).fit(LinearModel._weigh(rows, model.idf), labels)
def sparse(matrix):
    return SparseRow(matrix.indices, matrix.data.astype(np.float32), matrix.shape[1])

ours = np.array([model.probabilities(sparse(rows[i])) for i in range(5)])
theirs = reference.predict_proba(LinearModel._weigh(rows[:5], model.idf))
out["max_difference"] = float(np.abs(ours - theirs).max())
out["uniform_on_empty"] = model.probabilities(sparse(sp.csr_matrix((1, 40)))).tolist()
with tempfile.TemporaryDirectory() as directory:
    model.save(Path(directory))
    again = LinearModel.load(Path(directory))
first = sparse(rows[0])
out["reloaded_same"] = bool(np.allclose(again.probabilities(first), model.probabilities(first)))
out["classes"] = again.classes

# LinearIntentBlender: averages DIET's ranking with the linear model's.
blender = LinearIntentBlender({"C": 10.0, "diet_weight": 0.5, "ranking_length": 2}, None, None, model)
message = Message.build(text="x")
message.features = [Features(sp.coo_matrix(rows[1]), "sentence", "text", "words")]
linear = dict(zip(model.classes, model.probabilities(sparse(rows[1])).tolist()))
message.set("intent_ranking", [{"name": "a", "confidence": 1.0}, {"name": "b", "confidence": 0.0}])
blender.process([message])
out["linear"] = linear
out["intent"] = message.get("intent")
out["ranking"] = message.get("intent_ranking")
print(json.dumps(out))
"""


def test_custom_components_in_rasa() -> None:
    out: dict[str, Any] = run_json(_SCRIPT)
    # Every sentence-level feature is kept, side by side in one row.
    assert out["row"] == [*map(float, range(50)), 1.0, 1.0, 1.0]
    # Our featurizer gives Rasa's sentence-level counts, in training and in parsing alike,
    # and one constant column per token (3 tokens) instead of Rasa's n-gram columns.
    # Training examples (with "?": no known n-gram) get the same counts as Rasa gives
    # them, and the same as parsing the same texts.
    theirs, ours = out["cv"]
    assert len(theirs) == len(ours) == 9
    for mine, rasas in zip(ours, theirs, strict=True):
        assert mine[1] == rasas[1] and mine[2] == rasas[2]  # sentence counts, intent labels
        assert mine[0] == [rasas[0][0], 1] and rasas[0][1] > 10
    real = [*range(4), *range(5, 9)]
    assert all(sum(ours[i][1][0]) > 5 for i in real)
    assert [m[:2] for m in ours[:4]] == [m[:2] for m in ours[5:]]
    # The hand-written scoring is scikit-learn's logistic regression, and survives a reload.
    assert out["max_difference"] < 1e-4
    assert out["uniform_on_empty"] == pytest.approx([1 / 3] * 3)
    assert out["reloaded_same"] and out["classes"] == ["a", "b", "c"]
    # The blend is the weighted mean of both rankings, cut to `ranking_length`.
    blended = {name: 0.5 * p + 0.5 * {"a": 1.0}.get(name, 0.0) for name, p in out["linear"].items()}
    best = sorted(blended.items(), key=lambda pair: pair[1], reverse=True)
    assert [entry["name"] for entry in out["ranking"]] == [name for name, _ in best[:2]]
    assert out["intent"]["name"] == best[0][0]
    assert abs(out["intent"]["confidence"] - best[0][1]) < 1e-6


_DIRECT_DIET_SCRIPT = """
import asyncio, dataclasses, json, sys
import numpy as np
from rasa.core.agent import Agent
from rasa.shared.nlu.training_data.message import Message
from nlu.components import DietIntentHead, sentence_row

from threadpoolctl import threadpool_info

agent = Agent.load(sys.argv[1])
nodes = agent.processor.graph_runner._instantiated_nodes
names = list(nodes)
blas_threads = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
diet_node = next(name for name in names if "DirectDIETClassifier" in name)
diet = nodes[diet_node]._component
before = names[: names.index(diet_node)]

def featurized(text):
    messages = [Message(data={"text": text})]
    for name in before:
        if name.startswith("run_"):
            messages = nodes[name]._component.process(messages)
    return messages[0]

rasa_calls = []
run_inference = diet.model.run_inference
diet.model.run_inference = lambda *args, **kwargs: rasa_calls.append(1) or run_inference(*args, **kwargs)

out = {"class": type(diet).__name__, "differences": [], "rows": [], "blas_threads": blas_threads}
texts = ["how much money do i get", "salam mikham bargardam iran", "c koi le programme stp",
         "paspoort kwijt wat nu", "پاسپورت ندارم", "ok", "?", "zzzzqqq"]
for text in texts:
    message = featurized(text)
    row = sentence_row(message)
    rasas = message.get_sparse_features("text")[1].features.toarray().ravel()
    ours = np.zeros(row.width, dtype=np.float32)
    ours[row.columns] = row.values
    out["rows"].append(bool(np.array_equal(ours, rasas)))
    direct = diet._predict(message)["i_scores"]
    rasa = run_inference(diet._create_model_data([message], training=False))["i_scores"]
    out["differences"].append(float(np.max(np.abs(direct - rasa))) if direct.shape == rasa.shape else 1.0)
out["head"] = type(diet._head).__name__
out["rasa_calls"] = len(rasa_calls)
# A run that records diagnostic data (rasa test) takes Rasa's own path.
diet._execution_context = dataclasses.replace(diet._execution_context, should_add_diagnostic_data=True)
out["diagnostic_keys"] = sorted(diet._predict(featurized("ok")))
out["rasa_calls_with_diagnostics"] = len(rasa_calls)
parsed = asyncio.run(agent.parse_message("how much money do i get"))
out["intent"] = parsed["intent"]["name"]
print(json.dumps(out))
"""


def test_direct_diet_scores_equal_rasas_path() -> None:
    """DIET's intent scores computed with numpy equal Rasa's TensorFlow path, and are used."""
    script = _DIRECT_DIET_SCRIPT.replace("sys.argv[1]", repr(str(latest_model(DEFAULT_MODELS))))
    out: dict[str, Any] = run_json(script)
    assert out["class"] == "DirectDIETClassifier"
    assert out["head"] == "DietIntentHead"
    # Loading the model for parsing keeps BLAS on one thread (idle BLAS threads spin).
    assert out["blas_threads"] and set(out["blas_threads"]) == {1}
    # The sentence row is Rasa's combined sentence features, column for column.
    assert out["rows"] == [True] * 8
    assert len(out["differences"]) == 8 and max(out["differences"]) < 1e-5
    assert out["rasa_calls"] == 0
    assert out["rasa_calls_with_diagnostics"] == 1 and "diagnostic_data" in out["diagnostic_keys"]
    assert out["intent"] == "cash_support"


_TRAINING_SHORTCUTS_SCRIPT = """
import json, tempfile
from pathlib import Path
import numpy as np, scipy.sparse as sp
from rasa.shared.importers.importer import TrainingDataImporter
from rasa.utils.tensorflow.data_generator import RasaDataGenerator
from rasa.utils.tensorflow.model_data import FeatureArray
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from nlu.components import combined_features, fast_training_inputs, sparse_batch_values
from nlu.train import read_once

out = {}
# Batches of csr and of coo matrices: sequences of 1-3 rows, one example without values.
out["same_batches"] = []
for kind in ("csr", "coo"):
    matrices = [
        sp.random(1 + i % 3, 60, density=0.1, random_state=i, format=kind) for i in range(30)
    ] + [sp.coo_matrix((2, 60), dtype=np.float32).asformat(kind)]
    batch = np.empty(len(matrices), dtype=object)
    batch[:] = matrices
    features = FeatureArray(batch, number_of_dimensions=3)
    theirs = RasaDataGenerator._scipy_matrix_to_values(features)
    ours = sparse_batch_values(features)
    out["same_batches"] += [
        bool(a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b))
        for a, b in zip(theirs, ours)
    ]
out["values"] = int(theirs[1].size)
# Three featurizers' features of one message, combined as DIET's data preparation asks.
message = Message.build(text="a b c")
for i, (name, dtype) in enumerate([("w", np.int64), ("c", np.int64), ("s", np.float32)]):
    for kind, rows in (("sequence", 3), ("sentence", 1)):
        matrix = sp.random(rows, 20 + i, density=0.3, random_state=i, format="coo")
        message.features.append(Features(matrix.astype(dtype), kind, "text", name))

def described(pair):
    out = []
    for feature in pair:
        m = feature.features.tocoo()
        out.append([feature.type, feature.origin, str(m.dtype), list(m.shape),
                    m.row.tolist(), m.col.tolist(), m.data.tolist()])
    return out

theirs_combined = described(message.get_sparse_features("text"))
originals = (RasaDataGenerator._scipy_matrix_to_values, Message._combine_features)
with fast_training_inputs():
    ours_combined = described(message.get_sparse_features("text"))
    out["patched"] = (
        RasaDataGenerator._scipy_matrix_to_values is sparse_batch_values
        and Message._combine_features is combined_features
    )
out["restored"] = (RasaDataGenerator._scipy_matrix_to_values, Message._combine_features) == originals
out["combined"] = [theirs_combined, ours_combined]

# read_once: both of the recipe's calls get one reading, in the config's language.
with tempfile.TemporaryDirectory() as directory:
    root = Path(directory)
    (root / "config.yml").write_text("language: xx\\npipeline: []\\n")
    (root / "data.yml").write_text(
        'version: "3.1"\\nnlu:\\n- intent: greet\\n  examples: |\\n    - hi\\n    - hello\\n'
    )
    inner = TrainingDataImporter.load_nlu_importer_from_config(
        str(root / "config.yml"), training_data_paths=[str(root / "data.yml")]
    )
    calls = []
    read = inner.get_nlu_data
    inner.get_nlu_data = lambda language="en": calls.append(language) or read(language)
    importer = read_once(inner)
    first, second = importer.get_nlu_data(), importer.get_nlu_data(language="xx")
    out["reads"] = calls
    out["same_data"] = first is second
    out["examples"] = len(first.intent_examples)
print(json.dumps(out))
"""


def test_training_shortcuts_give_rasas_inputs() -> None:
    out: dict[str, Any] = run_json(_TRAINING_SHORTCUTS_SCRIPT)
    # DIET's sparse batches: the same indices, values and shape as Rasa's own conversion.
    assert out["same_batches"] == [True] * 6 and out["values"] > 100
    # Three featurizers' features side by side: the same matrices, entries in the same order.
    theirs, ours = out["combined"]
    assert ours == theirs and [len(matrix[5]) > 10 for matrix in ours] == [True, True]
    assert [matrix[3] for matrix in ours] == [[3, 63], [1, 63]]
    # The faster versions are used only inside the block and Rasa's come back after it.
    assert out["patched"] and out["restored"]
    # The training data is read once, in the config's language, for both of Rasa's callers.
    assert out["reads"] == ["xx"] and out["same_data"] and out["examples"] == 2


_SKELETON_SCRIPT = """
import json, tempfile
from pathlib import Path
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from nlu.components import SkeletonCountVectorsFeaturizer, skeleton

out = {"skeletons": {w: skeleton(w) for w in [
    "mikham", "mikhaam", "bargardam", "bargardm", "pool", "pul", "ghabl", "qabl", "ik",
    "میخوام", "__number__",
]}}
tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())

def tokenized(texts, training=False):
    messages = [Message.build(text=t, intent="x" if training else None) for t in texts]
    if training:
        tokenizer.process_training_data(TrainingData(messages))
    else:
        tokenizer.process(messages)
    return messages

with tempfile.TemporaryDirectory() as directory:
    cls = SkeletonCountVectorsFeaturizer
    featurizer = cls.create(
        cls.get_default_config(), LocalModelStorage(Path(directory)), Resource("s"),
        ExecutionContext(GraphSchema({}), "test"),
    )
    featurizer.train(TrainingData(tokenized(["mikham bargardam", "pul midan", "سلام خوبی"], True)))
    out["vocabulary"] = sorted(featurizer.vectorizers["text"].vocabulary_)
    parsed = featurizer.process(tokenized(["mikhaam bargardm", "mikham bargardam", "pool midan"]))
    out["rows"] = [m.get_sparse_features("text")[1].features.toarray().tolist() for m in parsed]
print(json.dumps(out, ensure_ascii=False))
"""


def test_skeleton_featurizer_folds_finglish_spellings() -> None:
    out: dict[str, Any] = run_json(_SKELETON_SCRIPT)
    skeletons = out["skeletons"]
    # The spellings of one Finglish word share one skeleton; other words do not fold.
    assert skeletons["mikham"] == skeletons["mikhaam"] == "mxm"
    assert skeletons["bargardam"] == skeletons["bargardm"] == "brgrdm"
    assert skeletons["pool"] == skeletons["pul"] == "pl"
    assert skeletons["ghabl"] == skeletons["qabl"] == "qbl"
    assert skeletons["ik"] == "ik" and skeletons["mikham"] != skeletons["pool"]
    # Words in Persian script and numbers are kept as they are.
    assert skeletons["میخوام"] == "میخوام" and skeletons["__number__"] == "__number__"
    assert out["vocabulary"] == sorted(["brgrdm", "mdn", "mxm", "pl", "سلام", "خوبی"])
    # Two spellings of the same message give the same features at parse time.
    first, second, third = out["rows"]
    assert first == second and sum(first[0]) == 2
    assert third != first and sum(third[0]) == 2
