"""Custom Rasa components: text normalisation and answer-language detection.

Loaded by Rasa (Python 3.10) from `config.yml`; run Rasa with the project root on
PYTHONPATH. The normaliser itself lives in `bot.nlu.normalize`, shared with the assistant.
"""

from __future__ import annotations

import logging
import pickle
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import METADATA, METADATA_INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from bot.nlu.normalize import normalize

logger = logging.getLogger(__name__)

LANGUAGE = "language"
LANGUAGE_RANKING = "language_ranking"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class TextNormalizer(GraphComponent):
    """Rewrites each message's text into the canonical form of `bot.nlu.normalize`."""

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
        for example in training_data.training_examples:
            self._normalize(example)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        """Normalise messages to parse, exactly as the training examples were."""
        for message in messages:
            self._normalize(message)
        return messages

    @staticmethod
    def _normalize(message: Message) -> None:
        text = message.get(TEXT)
        if isinstance(text, str):
            message.set(TEXT, normalize(text))


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class LanguageClassifier(GraphComponent):
    """Tells which language to answer in, from character n-grams of the normalised text.

    Trained on the examples' intent metadata (`metadata: {language: fa}` in nlu_data/);
    Finglish examples are labelled fa, so Farsi in Latin letters is answered in Farsi.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Return the default n-gram range and regularisation."""
        return {"min_ngram": 1, "max_ngram": 4, "C": 10.0}

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Pipeline | None = None,
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
    ) -> LanguageClassifier:
        """Create an untrained classifier."""
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Fit the classifier on every example that names its language."""
        texts, labels = [], []
        for example in training_data.intent_examples:
            metadata = example.get(METADATA) or {}
            language = (metadata.get(METADATA_INTENT) or {}).get(LANGUAGE)
            if isinstance(language, str) and language:
                texts.append(example.get(TEXT))
                labels.append(language)
        if len(set(labels)) < 2:
            logger.warning("Fewer than two languages in the training data: no language model.")
            return self._resource
        self._model = make_pipeline(
            TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=(self._config["min_ngram"], self._config["max_ngram"]),
                sublinear_tf=True,
            ),
            LogisticRegression(C=self._config["C"], max_iter=2000),
        )
        self._model.fit(texts, labels)
        with self._model_storage.write_to(self._resource) as directory:
            (directory / "language.pkl").write_bytes(pickle.dumps(self._model))
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LanguageClassifier:
        """Load the fitted classifier written by `train`."""
        model = None
        try:
            with model_storage.read_from(resource) as directory:
                # The pickle was written by our own training run into the model archive.
                model = pickle.loads((directory / "language.pkl").read_bytes())
        except (ValueError, FileNotFoundError):
            logger.warning("No language model in this archive: language is left out.")
        return cls(config, model_storage, resource, model)

    def process(self, messages: list[Message]) -> list[Message]:
        """Add `language` and `language_ranking` to each parsed message."""
        if self._model is None:
            return messages
        texts = [message.get(TEXT) or "" for message in messages]
        for message, probabilities in zip(messages, self._model.predict_proba(texts), strict=True):
            ranking = sorted(
                zip(self._model.classes_, probabilities, strict=True), key=lambda pair: pair[1], reverse=True
            )
            message.set(LANGUAGE, str(ranking[0][0]), add_to_output=True)
            message.set(
                LANGUAGE_RANKING,
                [{"language": str(lang), "confidence": float(p)} for lang, p in ranking],
                add_to_output=True,
            )
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Leave training data unchanged (language is only predicted at parse time)."""
        return training_data
