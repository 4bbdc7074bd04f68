"""Rasa's DIETClassifier, unchanged, except that its training survives being stopped.

Rasa's default pipeline trains DIET for 100 epochs, which takes hours on 2 cores: longer
than a machine may stay up. `make eval --with-default` trains it with this class instead,
which saves the model's weights, Adam's state, the number of epochs done and the shuffling
generator's state after every epoch into `resume_dir`, and continues from the last saved
epoch when started again. The training itself (layers, defaults, optimiser, batch sizes,
shuffling) is DIET's: a run stopped and resumed trains the same number of steps with the
same schedule.

With `stop_at_epoch` set, the training ends after that epoch of its schedule (the batch
sizes still follow the full `epochs`) and saves the model as it stands. Started from a copy
of a checkpoint of exactly that epoch, it trains nothing: this is how `make eval` measures a
training that has not finished yet (`--default-so-far`).

The caller owns the directory: it must empty it when the training data or config changes
(`nlu/evaluate.py` keys it by a digest of both) and may delete it once the model is saved.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.utils.tensorflow.model_data import RasaModelData
from rasa.utils.tensorflow.models import RasaModel

logger = logging.getLogger(__name__)

RESUME_DIR = "resume_dir"
STOP_AT_EPOCH = "stop_at_epoch"
STATE_FILE = "generator-state-{epoch}.pkl"


class _SaveEveryEpoch(tf.keras.callbacks.Callback):
    """Save the checkpoint and the shuffling state once an epoch is done."""

    def __init__(
        self,
        manager: tf.train.CheckpointManager,
        done: tf.Variable,
        directory: Path,
        epochs: int,
        stop: int | None,
    ) -> None:
        super().__init__()
        self.manager, self.done, self.directory, self.epochs = manager, done, directory, epochs
        self.stop = stop

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        finished = epoch + 1
        if finished >= self.epochs:
            # The model is saved right after the last epoch; were that interrupted, a
            # resumed run redoes this epoch rather than restore into an unbuilt model.
            return
        # Keras calls this before the data generator's own on_epoch_end, which reshuffles
        # with NumPy's global generator: its state now is the one the next epoch starts from.
        state = self.directory / STATE_FILE.format(epoch=finished)
        state.write_bytes(pickle.dumps(np.random.get_state()))
        self.done.assign(finished)
        self.manager.save(checkpoint_number=finished)
        for old in self.directory.glob(STATE_FILE.format(epoch="*")):
            if old != state:
                old.unlink()
        steps = int(self.model.optimizer.iterations.numpy())
        logger.info(f"epoch {finished} saved to {self.directory} (optimizer step {steps})")

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        log_end(self.model, self.epochs if self.stop is None else self.stop, self.epochs)


def log_end(model: RasaModel, done: int, epochs: int) -> None:
    """Log how far the training went, with the optimiser's step count over every run."""
    steps = int(model.optimizer.iterations.numpy())
    if done < epochs:
        logger.info(f"DIET stopped after epoch {done} of {epochs} (optimizer step {steps})")
    else:
        logger.info(f"DIET trained {epochs} epochs (optimizer step {steps})")


@DefaultV1Recipe.register(
    [
        DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER,
        DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR,
    ],
    is_trainable=True,
)
class ResumableDIETClassifier(DIETClassifier):
    """DIETClassifier whose training continues from its last finished epoch."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """DIET's defaults, plus where to keep the checkpoints (none: not resumable)."""
        return {**DIETClassifier.get_default_config(), RESUME_DIR: None, STOP_AT_EPOCH: None}

    def _instantiate_model_class(self, model_data: RasaModelData) -> RasaModel:
        model = super()._instantiate_model_class(model_data)
        directory = self.component_config.get(RESUME_DIR)
        if directory and not self.finetune_mode:
            # Keras tracks what is assigned to a model's attributes: bypass it for a method.
            stop = self.component_config.get(STOP_AT_EPOCH)
            fit = self._resumable_fit(model, Path(directory), stop)
            object.__setattr__(model, "fit", fit)
        return model

    @staticmethod
    def _resumable_fit(model: RasaModel, directory: Path, stop: int | None) -> Any:
        fit = model.fit

        def resumable_fit(data_generator: Any, *, epochs: int, callbacks: list, **kwargs: Any):
            if stop is not None and not 1 <= stop <= epochs:
                raise ValueError(f"{STOP_AT_EPOCH} must be between 1 and {epochs}: {stop}")
            end = epochs if stop is None else stop
            directory.mkdir(parents=True, exist_ok=True)
            done = tf.Variable(0, dtype=tf.int64, trainable=False)
            checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer, done=done)
            manager = tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=1)
            start = 0
            if manager.latest_checkpoint:
                # Restores `done` now; the layers' and Adam's variables as they are created.
                checkpoint.restore(manager.latest_checkpoint)
                start = int(done.numpy())
                if start > end:
                    raise ValueError(f"checkpoint of epoch {start} is past {STOP_AT_EPOCH} {end}")
                if start == end:
                    # Nothing left to train. Build the layers and Adam's slots as Rasa does
                    # when it loads a model (one step on one batch), then overwrite them all
                    # with the checkpoint's values: the model is the training's at `start`.
                    history = fit(data_generator, epochs=1, steps_per_epoch=1, verbose=False)
                    restored = checkpoint.restore(manager.latest_checkpoint)
                    restored.assert_existing_objects_matched()
                    logger.info(f"DIET as saved after epoch {start}: nothing left to train")
                    log_end(model, start, epochs)
                    return history
                state = directory / STATE_FILE.format(epoch=start)
                try:
                    np.random.set_state(pickle.loads(state.read_bytes()))
                except (OSError, pickle.UnpicklingError, ValueError, EOFError) as error:
                    # Only the order of the examples differs from an uninterrupted run.
                    logger.warning(f"shuffling state of epoch {start} unreadable: {error}")
                # Re-enter the generator's schedule: batch size and shuffle of epoch `start`.
                data_generator._current_epoch = start - 1
                data_generator.on_epoch_end()
                for callback in callbacks:
                    bar = getattr(callback, "progress_bar", None)
                    if bar is not None:
                        bar.update(start)
                logger.info(f"resuming DIET at epoch {start + 1} of {epochs} from {directory}")
            saver = _SaveEveryEpoch(manager, done, directory, epochs, stop)
            return fit(
                data_generator,
                epochs=end,
                initial_epoch=start,
                callbacks=[*callbacks, saver],
                **kwargs,
            )

        return resumable_fit
