"""Custom Rasa components: normalisation, sentence-level n-grams, direct DIET parse, blend, language.

Loaded by Rasa (Python 3.10) from `config.yml`; run Rasa with the project root on
PYTHONPATH. The normaliser itself lives in `bot.nlu.normalize`, shared with the assistant.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse
import tensorflow as tf
from keras.utils import tf_utils
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.shared.constants import DIAGNOSTIC_DATA
from rasa.shared.nlu.constants import (
    FEATURE_TYPE_SENTENCE,
    FEATURE_TYPE_SEQUENCE,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    METADATA,
    METADATA_INTENT,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.utils.tensorflow.data_generator import RasaDataGenerator
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

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

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Featurize every training example, the texts of all of them in one vectorizer call.

        The same features as `process` gives each message (the tests compare them); Rasa
        calls the vectorizer once per message, which takes about 1 ms each.
        """
        if not (self.vectorizers and self.vectorizers.get(TEXT)):
            return super().process_training_data(training_data)
        messages = training_data.training_examples
        tokens = [self._get_processed_message_tokens_by_attribute(m, TEXT) for m in messages]
        features = zip(messages, *self._create_features(TEXT, tokens), strict=True)
        for message, sequence, sentence in features:
            self.add_features_to_message(sequence, sentence, TEXT, message)
        for message in messages:
            for attribute in self._attributes:
                if attribute != TEXT:
                    words = self._get_processed_message_tokens_by_attribute(message, attribute)
                    sequences, sentences = self._create_features(attribute, [words])
                    self.add_features_to_message(sequences[0], sentences[0], attribute, message)
        return training_data

    def _create_features(
        self, attribute: str, all_tokens: list[list[str]]
    ) -> tuple[list[scipy.sparse.spmatrix | None], list[scipy.sparse.spmatrix | None]]:
        vectorizer = self.vectorizers.get(attribute)
        if attribute != TEXT or not vectorizer:
            return super()._create_features(attribute, all_tokens)
        texts = [" ".join(tokens) for tokens in all_tokens if tokens]
        rows = vectorizer.transform(texts) if texts else None
        sequences: list[scipy.sparse.spmatrix | None] = []
        sentences: list[scipy.sparse.spmatrix | None] = []
        row = 0
        for tokens in all_tokens:
            if not tokens or rows is None:
                sequences.append(None)
                sentences.append(None)
                continue
            sentence = rows[row]
            row += 1
            sentence.sort_indices()
            sentences.append(sentence.tocoo())
            sequences.append(scipy.sparse.coo_matrix(np.ones((len(tokens), 1), dtype=np.float32)))
        return sequences, sentences


@DefaultV1Recipe.register(
    [
        DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER,
        DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR,
    ],
    is_trainable=True,
)
class DirectDIETClassifier(DIETClassifier):
    """Rasa's DIETClassifier, trained the same way, whose parse runs the traced graph directly.

    For every message Rasa calls DIET's `tf.function`, and TensorFlow then looks the
    inputs up against the function's signature and casts them one by one: about 3 ms per
    parse on these machines, three times what the graph itself takes. The first parse here
    goes through Rasa's path, which traces the graph; later ones call that graph's concrete
    function with the same input tensors. Same graph, same weights, same scores
    (`tests/test_components.py` checks them against Rasa's path). Should TensorFlow's
    concrete-function call change, parsing falls back to Rasa's path.

    The input batch is built straight from the message's n-gram counts when they have
    the shape `SentenceCountVectorsFeaturizer` gives (Rasa's general model-data
    conversion costs more than the graph); any other features go through Rasa's.
    """

    _graph: Any = None  # the concrete function, once traced; False: use Rasa's path

    def _predict(self, message: Message) -> dict[str, Any] | None:
        model = self.model
        if model is None:
            return super()._predict(message)
        graph = self._graph
        batch = direct_batch(message) if graph else None
        if batch is None:
            model_data = self._create_model_data([message], training=False)
            if model_data.is_empty():
                return None
            batch = RasaDataGenerator.prepare_batch(model_data.data)
        if not graph:
            outputs: dict[str, Any] = model._rasa_predict(batch)
            if graph is None:
                step = model._tf_predict_step  # None when the model runs eagerly
                concrete = step and step.get_concrete_function(*model._dynamic_signature(batch))
                self._graph = concrete if hasattr(concrete, "_call_flat") else False
            return outputs
        tensors = [tf.convert_to_tensor(array) for array in batch]
        outputs = tf_utils.sync_to_numpy_or_python_type(graph._call_flat(tensors, graph.captured_inputs))
        if DIAGNOSTIC_DATA in outputs:
            outputs[DIAGNOSTIC_DATA] = model._empty_lists_to_none_in_dict(outputs[DIAGNOSTIC_DATA])
        return outputs


def direct_batch(message: Message) -> tuple[np.ndarray, ...] | None:
    """DIET's input batch for one message, as Rasa's model data would give it, or None.

    Only for text features that are all sparse, with one column per token at the token
    level (what `SentenceCountVectorsFeaturizer` gives): mask, sentence counts (indices,
    values, shape), token level (indices, values, shape), number of tokens.
    """
    sequences = []
    for feature in message.features:
        if feature.attribute != TEXT:
            continue
        if not feature.is_sparse():
            return None
        if feature.type == FEATURE_TYPE_SEQUENCE:
            sequences.append(feature.features)
    row = sentence_row(message)
    if not sequences or row is None:
        return None
    tokens = sequences[0].shape[0]
    if any(matrix.shape != (tokens, 1) for matrix in sequences):
        return None
    blocks = len(sequences)
    sentence_indices = np.zeros((row.indices.size, 3), dtype=np.int64)
    sentence_indices[:, 2] = row.indices
    token_indices = np.zeros((tokens * blocks, 3), dtype=np.int64)
    token_indices[:, 1] = np.tile(np.arange(tokens), blocks)
    token_indices[:, 2] = np.repeat(np.arange(blocks), tokens)
    return (
        np.ones((1, 1, 1), dtype=np.float32),
        sentence_indices,
        row.data.astype(np.float32),
        np.array([1, 1, row.shape[1]], dtype=np.int64),
        token_indices,
        np.concatenate([matrix.tocoo().data for matrix in sequences]).astype(np.float32),
        np.array([1, tokens, blocks], dtype=np.int64),
        np.array([tokens], dtype=np.float32),
    )


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

    def probabilities(self, row: scipy.sparse.spmatrix) -> np.ndarray:
        """Class probabilities (in `classes` order) of one message's sentence features."""
        if row.shape[1] != self.idf.shape[0] or row.nnz == 0:
            return np.full(len(self.classes), 1 / len(self.classes), dtype=np.float32)
        values = np.log1p(row.data.astype(np.float32)) * self.idf[row.indices]
        values /= max(float(np.sqrt(values @ values)), 1e-12)
        scores = self.coef[:, row.indices] @ values + self.intercept
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


def sentence_row(message: Message) -> scipy.sparse.csr_matrix | None:
    """All sparse sentence-level features of the message's text, side by side in one row.

    The same as `message.get_sparse_features(TEXT)[1]`, without scipy's general
    stacking, which costs more than scoring the row.
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
    column = np.concatenate(columns)
    return scipy.sparse.csr_matrix(
        (np.concatenate(values), column, np.array([0, column.size])), shape=(1, width)
    )


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
    return scipy.sparse.vstack(rows).tocsr(), labels


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
