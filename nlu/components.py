"""Custom Rasa components: normalisation, sentence-level n-grams and consonant skeletons,
DIET (faster training inputs, direct parse), blend, language.

Loaded by Rasa (Python 3.10) from `config.yml`; run Rasa with the project root on
PYTHONPATH. The normaliser itself lives in `bot.nlu.normalize`, shared with the assistant.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse
import scipy.special
import tensorflow as tf
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.shared.nlu.constants import (
    FEATURE_TYPE_SENTENCE,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    METADATA,
    METADATA_INTENT,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.utils.tensorflow.constants import (
    ENTITY_RECOGNITION,
    INNER,
    INTENT_CLASSIFICATION,
    LABEL,
    SOFTMAX,
)
from rasa.utils.tensorflow.data_generator import RasaDataGenerator
from rasa.utils.tensorflow.model_data import FeatureArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from bot.nlu.normalize import normalize

logger = logging.getLogger(__name__)

LANGUAGE = "language"
LANGUAGE_RANKING = "language_ranking"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class TextNormalizer(GraphComponent):
    """Rewrites each message's text into the canonical form of `bot.nlu.normalize`.

    Stateless; training examples and parsed messages are rewritten alike.
    """

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TextNormalizer:
        """Create the component (it has no state)."""
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Normalise every training example."""
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        """Normalise messages to parse, exactly as the training examples were."""
        for message in messages:
            text = message.get(TEXT)
            if isinstance(text, str):
                message.set(TEXT, normalize(text))
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class SentenceCountVectorsFeaturizer(CountVectorsFeaturizer):
    """Rasa's CountVectorsFeaturizer, minus the token-level n-grams nothing reads.

    With no transformer layer, DIET's intent prediction reads only the sentence-level
    features of the text, and so do the linear models below: token-level n-gram counts
    reach nothing. Rasa still computes them, one vectorizer call per token, and DIET still
    insists on having some. So this featurizer keeps Rasa's vocabulary, training and
    sentence-level counts of the text unchanged and gives each token one constant feature
    instead. Other attributes (intent labels) are featurized as Rasa does.
    Keep `number_of_transformer_layers: 0` in DIET with it.
    """

    def _create_features(
        self, attribute: str, all_tokens: list[list[str]]
    ) -> tuple[list[scipy.sparse.spmatrix | None], list[scipy.sparse.spmatrix | None]]:
        """Sentence-level n-gram counts of each text, and one constant column per token.

        Counts with the vectorizer's own analyzer and vocabulary, as its `transform`
        does, without scikit-learn's per-call checks and matrix conversions.
        """
        vectorizer = self.vectorizers.get(attribute)
        if attribute != TEXT or not vectorizer:
            return super()._create_features(attribute, all_tokens)
        analyze = vectorizer.build_analyzer()
        vocabulary = vectorizer.vocabulary_
        sequences: list[scipy.sparse.spmatrix | None] = []
        sentences: list[scipy.sparse.spmatrix | None] = []
        for tokens in all_tokens:
            if not tokens:
                sequences.append(None)
                sentences.append(None)
                continue
            counts = Counter(
                index for gram in analyze(" ".join(tokens)) if (index := vocabulary.get(gram)) is not None
            )
            columns = np.array(sorted(counts), dtype=np.int32)
            values = np.array([counts[column] for column in columns], dtype=vectorizer.dtype)
            sentences.append(
                scipy.sparse.coo_matrix(
                    (values, (np.zeros_like(columns), columns)), shape=(1, len(vocabulary))
                )
            )
            length = len(tokens)
            sequences.append(
                scipy.sparse.coo_matrix(
                    (np.ones(length, dtype=np.float32), (np.arange(length), np.zeros(length, np.int32))),
                    shape=(length, 1),
                )
            )
        return sequences, sentences


# Latin-script spelling variants of Farsi sounds, folded before the vowels are dropped.
_DIGRAPHS = (("kh", "x"), ("gh", "q"), ("sh", "s"), ("ch", "c"), ("zh", "j"), ("ph", "f"), ("w", "v"))
_LATIN_WORD = re.compile(r"[a-z]+")
_VOWELS = re.compile(r"(?<!^)[aeiouy]+")
_DOUBLED = re.compile(r"(.)\1+")


def skeleton(word: str) -> str:
    """The consonant skeleton of a word in Latin letters: mikham, mikhaam -> mxm; pool, pul -> pl.

    Common digraphs are folded to one letter, vowels after the first letter dropped and
    doubled letters merged. Any other word (Persian script, numbers) is returned as it is.
    """
    if not _LATIN_WORD.fullmatch(word):
        return word
    for digraph, letter in _DIGRAPHS:
        word = word.replace(digraph, letter)
    return _DOUBLED.sub(r"\1", _VOWELS.sub("", word))


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class SkeletonCountVectorsFeaturizer(SentenceCountVectorsFeaturizer):
    """Sentence-level counts of the words' consonant skeletons (see `skeleton`).

    Farsi in Latin letters has no fixed spelling: mikham, mikhaam, mikhâm; bargardam,
    bargardm; pool, pul; ghabl, qabl. Their skeletons are one word each (mxm, brgrdm, pl,
    qbl), so one example teaches every spelling. Other languages' words fold too, which
    the models weigh like any other feature.
    """

    def _process_tokens(self, tokens: list[str], attribute: str = TEXT) -> list[str]:
        tokens = super()._process_tokens(tokens, attribute)
        return [skeleton(token) for token in tokens] if attribute == TEXT else tokens


class SparseRow(NamedTuple):
    """One message's sentence-level features: the non-zero columns, their values, the width."""

    columns: np.ndarray
    values: np.ndarray
    width: int


def sentence_row(message: Message) -> SparseRow | None:
    """All sparse sentence-level features of the message's text, side by side in one row.

    The same row as `message.get_sparse_features(TEXT)[1]` and as DIET's model data,
    without building a scipy matrix, which costs more than scoring the row.
    """
    columns, values, width = [], [], 0
    for feature in message.features:
        if feature.attribute != TEXT or feature.type != FEATURE_TYPE_SENTENCE or not feature.is_sparse():
            continue
        matrix = feature.features.tocoo()
        columns.append(matrix.col + width)
        values.append(matrix.data)
        width += matrix.shape[1]
    if not width:
        return None
    return SparseRow(np.concatenate(columns), np.concatenate(values).astype(np.float32), width)


@dataclass
class DietIntentHead:
    """The part of a trained DIET that scores intents, as numpy arrays.

    With no transformer layer and only sparse sentence features, DIET's intent scores
    are a small feed-forward chain of the message's sentence row: the sparse-to-dense
    layer, the hidden layers (GELU; dropout is off at inference), the text embedding, its
    inner-product similarity with the precomputed label embeddings, and a softmax.
    Computed here with DIET's own weights; `from_model` declines any other architecture.
    """

    sparse_kernel: np.ndarray
    sparse_bias: np.ndarray
    hidden: list[tuple[np.ndarray, np.ndarray]]
    embed_kernel: np.ndarray
    embed_bias: np.ndarray
    label_embeddings: np.ndarray

    @classmethod
    def from_model(cls, model: Any) -> DietIntentHead | None:
        """The head of a loaded DIET model, or None if its architecture is not this chain."""
        try:
            sequence_layer = model._tf_layers[f"sequence_layer.{TEXT}"]
            combining = sequence_layer._tf_layers[sequence_layer.FEATURE_COMBINING]
            sentence = combining._tf_layers[f"sparse_dense.{FEATURE_TYPE_SENTENCE}"]
            sparse_dense = sentence._tf_layers[sentence.SPARSE_TO_DENSE]
            signature = model.predict_data_signature[TEXT][FEATURE_TYPE_SENTENCE]
            layers = sequence_layer._tf_layers[sequence_layer.FFNN]._ffn_layers
            embed = model._tf_layers[f"embed.{TEXT}"]._dense
            loss = model._tf_layers[f"loss.{LABEL}"]
        except (AttributeError, KeyError, TypeError):
            return None
        dense_layers = [layer for layer in layers if not isinstance(layer, tf.keras.layers.Dropout)]
        supported = (
            model.config[INTENT_CLASSIFICATION]
            and not model.config[ENTITY_RECOGNITION]
            and not sequence_layer._has_transformer
            and not any(name.startswith("unify_dims") for name in combining._tf_layers)
            and len(signature) == 1
            and signature[0].is_sparse
            and all(layer.use_bias for layer in (sparse_dense, *dense_layers, embed))
            and sparse_dense.activation in (None, tf.keras.activations.linear)
            and all(layer.activation is tf.nn.gelu for layer in dense_layers)
            and embed.activation in (None, tf.keras.activations.linear)
            and loss.model_confidence == SOFTMAX
            and loss.similarity_type == INNER
            and model.all_labels_embed is not None
        )
        if not supported:
            return None
        hidden = []
        for layer in dense_layers:
            kernel = layer.kernel.numpy()
            if getattr(layer, "kernel_mask", None) is not None:
                kernel = kernel * layer.kernel_mask.numpy()
            hidden.append((kernel, layer.bias.numpy()))
        labels = np.asarray(model.all_labels_embed, dtype=np.float32).reshape(-1, embed.units)
        return cls(
            sparse_dense.kernel.numpy(),
            sparse_dense.bias.numpy(),
            hidden,
            embed.kernel.numpy(),
            embed.bias.numpy(),
            labels,
        )

    def accepts(self, row: SparseRow) -> bool:
        """Whether the row has the width of the features DIET was trained on."""
        return row.width == self.sparse_kernel.shape[0]

    def scores(self, row: SparseRow) -> np.ndarray:
        """Intent confidences (DIET's `i_scores`, one row) for one sentence row."""
        x = row.values @ self.sparse_kernel[row.columns] + self.sparse_bias
        for kernel, bias in self.hidden:
            x = x @ kernel + bias
            x = 0.5 * x * (1 + scipy.special.erf(x / np.float32(np.sqrt(2))))  # exact GELU, as tf.nn.gelu
        x = x @ self.embed_kernel + self.embed_bias
        similarities = self.label_embeddings @ x  # inner-product similarity
        confidences = np.exp(similarities - similarities.max())
        return (confidences / confidences.sum())[np.newaxis, :].astype(np.float32)


def sparse_batch_values(array_of_sparse: FeatureArray) -> list[np.ndarray]:
    """Rasa's `RasaDataGenerator._scipy_matrix_to_values`, in a few numpy calls per batch.

    Rasa stacks three small arrays per example (about 4 numpy calls each); in DIET's training
    that Python loop took some 60 s of the generator thread that feeds TensorFlow. Same
    output: indices (example, row, column) in the same order, values and shape.
    """
    if array_of_sparse.number_of_dimensions == 4:
        return RasaDataGenerator._4d_scipy_matrix_to_values(array_of_sparse)
    matrices = [x.tocoo() for x in array_of_sparse]  # a coo matrix returns itself
    sizes = np.fromiter((x.nnz for x in matrices), dtype=np.int64, count=len(matrices))
    indices = np.empty((int(sizes.sum()), 3), dtype=np.int64)
    indices[:, 0] = np.repeat(np.arange(len(matrices)), sizes)
    indices[:, 1] = np.concatenate([x.row for x in matrices])
    indices[:, 2] = np.concatenate([x.col for x in matrices])
    values = np.concatenate([x.data for x in matrices]).astype(np.float32)
    shape = np.array(
        (len(matrices), max(x.shape[0] for x in matrices), matrices[0].shape[-1]), dtype=np.int64
    )
    return [indices, values, shape]


_rasa_combine_features = Message.__dict__["_combine_features"].__func__


def combined_features(features: list[Features], featurizers: list[str]) -> Features | None:
    """Rasa's `Message._combine_features` for sparse features, in one step per message.

    Rasa deep-copies the first featurizer's matrix and calls scipy's `hstack` once per other
    featurizer; with three featurizers, DIET's data preparation spent some 45 s of the
    training there. Same result: the matrices side by side, entries in the same order.
    """
    matrices = [f.features.tocoo() for f in features if f.is_sparse()]
    if len(matrices) < max(len(features), 2) or len({m.shape[0] for m in matrices}) > 1:
        # One feature, dense ones, or sequences of different lengths (Rasa's error message).
        return _rasa_combine_features(features, featurizers)
    offsets = np.cumsum([0, *(m.shape[1] for m in matrices[:-1])])
    combined = scipy.sparse.coo_matrix(
        (
            np.concatenate([m.data for m in matrices]),
            (
                np.concatenate([m.row for m in matrices]),
                np.concatenate([m.col + offset for m, offset in zip(matrices, offsets, strict=True)]),
            ),
        ),
        shape=(matrices[0].shape[0], sum(m.shape[1] for m in matrices)),
    )
    first = features[0]
    return Features(combined, first.type, first.attribute, featurizers)


@contextmanager
def fast_training_inputs() -> Iterator[None]:
    """Let DIET's training use `combined_features` and `sparse_batch_values` in the block."""
    combine = Message.__dict__["_combine_features"]
    to_values = RasaDataGenerator.__dict__["_scipy_matrix_to_values"]
    Message._combine_features = staticmethod(combined_features)
    RasaDataGenerator._scipy_matrix_to_values = staticmethod(sparse_batch_values)
    try:
        yield
    finally:
        Message._combine_features = combine
        RasaDataGenerator._scipy_matrix_to_values = to_values


@DefaultV1Recipe.register(
    [
        DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER,
        DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR,
    ],
    is_trainable=True,
)
class DirectDIETClassifier(DIETClassifier):
    """Rasa's DIETClassifier, trained the same way, whose parse computes the scores directly.

    For every message Rasa converts the features to model data, calls DIET's
    `tf.function`, and TensorFlow matches and casts each input: about 3 ms per parse on
    these machines, for a graph that is a few small matrix products here. With the
    architecture `DietIntentHead` recognises (no transformer, no entities), the parse
    computes those products with numpy from DIET's own weights: same scores
    (`tests/test_components.py` compares them with Rasa's path). Any other architecture,
    a message without sparse sentence features, or a run that records diagnostic data
    (`rasa test`) takes Rasa's path.
    """

    _head: DietIntentHead | bool | None = None  # False: the model is not of that shape

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> DirectDIETClassifier:
        """Load the trained model to parse with, and keep BLAS to one thread in this process.

        A parse multiplies a few vectors by small matrices. OpenBLAS splits even those over
        every core and its idle threads then spin: the server used 13 ms of CPU per parse of
        6 ms, against 5.5 ms on one thread (same latency). Loading is for parsing (training
        creates its components), so the limit stays out of training.
        """
        threadpool_limits(1, user_api="blas")
        return super().load(config, model_storage, resource, execution_context, **kwargs)

    def train(self, training_data: TrainingData) -> Resource:
        """Train as Rasa does; its inputs are prepared faster (the same inputs, tested)."""
        with fast_training_inputs():
            return super().train(training_data)

    def _predict(self, message: Message) -> dict[str, Any] | None:
        if self._head is None and self.model is not None:
            self._head = DietIntentHead.from_model(self.model) or False
        head, row = self._head, sentence_row(message)
        direct = isinstance(head, DietIntentHead) and row is not None and head.accepts(row)
        if direct and not self._diagnostics():
            return {"i_scores": head.scores(row)}
        return super()._predict(message)

    def _diagnostics(self) -> bool:
        context = getattr(self, "_execution_context", None)
        return bool(context and context.should_add_diagnostic_data)


@dataclass
class LinearModel:
    """Logistic regression on TF-IDF weighted sentence n-gram counts, scored with numpy.

    Scoring one message by hand takes tens of microseconds, where scikit-learn's checks
    alone take a millisecond; the fitted numbers are scikit-learn's.
    """

    classes: list[str]
    idf: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray

    @classmethod
    def fit(cls, rows: scipy.sparse.csr_matrix, labels: list[str], c: float) -> LinearModel:
        """Fit on the sentence features of the training examples."""
        documents = np.bincount(rows.indices, minlength=rows.shape[1])
        idf = (np.log((1 + rows.shape[0]) / (1 + documents)) + 1).astype(np.float32)
        # 100 iterations reach the held-out accuracy of full convergence in half the time.
        model = LogisticRegression(C=c, max_iter=100)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(cls._weigh(rows, idf), labels)
        return cls(
            [str(label) for label in model.classes_],
            idf,
            model.coef_.astype(np.float32),
            model.intercept_.astype(np.float32),
        )

    @staticmethod
    def _weigh(rows: scipy.sparse.csr_matrix, idf: np.ndarray) -> scipy.sparse.csr_matrix:
        weighted = rows.astype(np.float32).tocsr(copy=True)
        weighted.data = np.log1p(weighted.data) * idf[weighted.indices]
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return scipy.sparse.diags(1 / norms) @ weighted

    def probabilities(self, row: SparseRow) -> np.ndarray:
        """Class probabilities (in `classes` order) of one message's sentence features."""
        if row.width != self.idf.shape[0] or row.columns.size == 0:
            return np.full(len(self.classes), 1 / len(self.classes), dtype=np.float32)
        values = np.log1p(row.values) * self.idf[row.columns]
        values /= max(float(np.sqrt(values @ values)), 1e-12)
        scores = self.coef[:, row.columns] @ values + self.intercept
        if len(self.classes) == 2:
            positive = 1 / (1 + np.exp(-scores[0]))
            return np.array([1 - positive, positive], dtype=np.float32)
        scores = np.exp(scores - scores.max())
        return scores / scores.sum()

    def save(self, directory: Any) -> None:
        """Write the model as plain arrays (no pickle)."""
        np.savez(
            directory / "linear.npz",
            classes=np.array(self.classes),
            idf=self.idf,
            coef=self.coef,
            intercept=self.intercept,
        )

    @classmethod
    def load(cls, directory: Any) -> LinearModel:
        """Read what `save` wrote."""
        with np.load(directory / "linear.npz", allow_pickle=False) as data:
            return cls([str(c) for c in data["classes"]], data["idf"], data["coef"], data["intercept"])


def training_rows(
    training_data: TrainingData, label_of: Callable[[Message], str | None]
) -> tuple[scipy.sparse.csr_matrix | None, list[str]]:
    """Sentence features and labels of the examples `label_of` names a label for."""
    rows, labels = [], []
    for example in training_data.intent_examples:
        label = label_of(example)
        row = sentence_row(example)
        if label and row is not None:
            rows.append(row)
            labels.append(label)
    if not rows:
        return None, []
    lengths = np.array([row.columns.size for row in rows])
    matrix = scipy.sparse.csr_matrix(
        (
            np.concatenate([row.values for row in rows]),
            np.concatenate([row.columns for row in rows]),
            np.concatenate([[0], np.cumsum(lengths)]),
        ),
        shape=(len(rows), rows[0].width),
    )
    return matrix, labels


class _LinearComponent(GraphComponent):
    """Shared life cycle of the components that own one `LinearModel`."""

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: LinearModel | None = None,
    ) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> _LinearComponent:
        """Create an untrained component."""
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> _LinearComponent:
        """Load the model written by `train`, or run without it."""
        model = None
        try:
            with model_storage.read_from(resource) as directory:
                model = LinearModel.load(directory)
        except (ValueError, FileNotFoundError, KeyError):
            logger.warning("%s: no model in this archive; it does nothing.", cls.__name__)
        return cls(config, model_storage, resource, model)

    def _fit(self, training_data: TrainingData, label_of: Callable[[Message], str | None]) -> Resource:
        rows, labels = training_rows(training_data, label_of)
        if rows is None or len(set(labels)) < 2:
            logger.warning("%s: fewer than two labels to learn; it does nothing.", type(self).__name__)
            return self._resource
        self._model = LinearModel.fit(rows, labels, float(self._config["C"]))
        with self._model_storage.write_to(self._resource) as directory:
            self._model.save(directory)
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Leave training data unchanged."""
        return training_data


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class LinearIntentBlender(_LinearComponent):
    """Averages DIET's intent confidences with a linear model's on the same n-grams.

    The two models err differently: DIET generalises over hidden features, the linear
    model keeps rare but telling n-grams. Put it after DIET (with `ranking_length: 0`, so
    DIET ranks every intent) and before the FallbackClassifier, which then judges the
    blended confidence.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Return the regularisation and DIET's share of the blend."""
        return {"C": 30.0, "diet_weight": 0.5, "ranking_length": 10}

    def train(self, training_data: TrainingData) -> Resource:
        """Fit the linear model on every intent example."""
        return self._fit(training_data, lambda example: example.get(INTENT))

    def process(self, messages: list[Message]) -> list[Message]:
        """Replace the intent and ranking by the blend of DIET's and the linear model's."""
        if self._model is None:
            return messages
        weight = float(self._config["diet_weight"])
        for message in messages:
            row = sentence_row(message)
            if row is None:
                continue
            blended = dict.fromkeys(self._model.classes, 0.0)
            for name, p in zip(self._model.classes, self._model.probabilities(row), strict=True):
                blended[name] = (1 - weight) * float(p)
            for entry in message.get(INTENT_RANKING_KEY) or []:
                name = entry.get(INTENT_NAME_KEY)
                if name in blended:
                    blended[name] += weight * float(entry.get(PREDICTED_CONFIDENCE_KEY) or 0.0)
            ranking = sorted(blended.items(), key=lambda pair: pair[1], reverse=True)
            ranking = ranking[: int(self._config["ranking_length"]) or None]
            entries = [{INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: p} for name, p in ranking]
            message.set(INTENT, dict(entries[0]), add_to_output=True)
            message.set(INTENT_RANKING_KEY, entries, add_to_output=True)
        return messages


def language_of(example: Message) -> str | None:
    """The `metadata: {language: ..}` an example's intent block declares, if any."""
    metadata = example.get(METADATA) or {}
    language = (metadata.get(METADATA_INTENT) or {}).get(LANGUAGE)
    return language if isinstance(language, str) and language else None


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class LanguageClassifier(_LinearComponent):
    """Tells which language to answer in, from the n-gram features of the normalised text.

    Trained on the examples' intent metadata (`metadata: {language: fa}` in nlu_data/);
    Finglish examples are labelled fa, so Farsi in Latin letters is answered in Farsi.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Return the regularisation."""
        return {"C": 10.0}

    def train(self, training_data: TrainingData) -> Resource:
        """Fit the classifier on every example that names its language."""
        return self._fit(training_data, language_of)

    def process(self, messages: list[Message]) -> list[Message]:
        """Add `language` and `language_ranking` to each parsed message."""
        if self._model is None:
            return messages
        for message in messages:
            row = sentence_row(message)
            if row is None:
                continue
            ranking = sorted(
                zip(self._model.classes, self._model.probabilities(row), strict=True),
                key=lambda pair: pair[1],
                reverse=True,
            )
            message.set(LANGUAGE, ranking[0][0], add_to_output=True)
            message.set(
                LANGUAGE_RANKING,
                [{"language": lang, "confidence": float(p)} for lang, p in ranking],
                add_to_output=True,
            )
        return messages
