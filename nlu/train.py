"""`make train`: a full training of the NLU model into models/ (run in .venv-rasa).

Runs Rasa's own training graph for `config.yml` and packages the model as `rasa train nlu`
does, without two things that only serve Rasa's training cache, which `make train` never
reads (Make skips training when config, data and components are unchanged, and Rasa's
cache keys ignore the code of `bot/nlu/normalize.py`): the extra pass that fingerprints
every step before training, and the hook that fingerprints and copies every step's output
after it. Together they cost about a tenth of the training time here. It also reads the
data files once where Rasa's recipe reads them twice (below).

    PYTHONPATH=. .venv-rasa/bin/python -m nlu.train [--out models]
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def read_once(importer: Any) -> Any:
    """Wrap Rasa's NLU importer so that the training data is read and merged once.

    The recipe's validator asks for the data without a language and the data provider with
    the config's; Rasa caches by argument, so every YAML file was parsed and merged twice
    (some 12 s here). Both now get the data of the config's language (the validator reads no
    language).
    """
    from rasa.shared.importers.importer import NluDataImporter
    from rasa.shared.nlu.training_data.training_data import TrainingData

    class ReadOnce(NluDataImporter):
        _data: TrainingData | None = None

        def get_nlu_data(self, language: str | None = "en") -> TrainingData:
            if self._data is None:
                self._data = self._importer.get_nlu_data(self.get_config().get("language"))
            return self._data

    return ReadOnce(importer)


def train(config: Path, nlu_data: Path, out: Path) -> Path:
    """Train the pipeline of `config` on `nlu_data`; return the model archive written to `out`."""
    from rasa.engine.constants import PLACEHOLDER_IMPORTER
    from rasa.engine.graph import ExecutionContext
    from rasa.engine.recipes.recipe import Recipe
    from rasa.engine.runner.dask import DaskGraphRunner
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.training.hooks import LoggingHook
    from rasa.engine.validation import validate
    from rasa.shared.data import TrainingType
    from rasa.shared.importers.importer import TrainingDataImporter

    importer = read_once(
        TrainingDataImporter.load_nlu_importer_from_config(str(config), training_data_paths=[str(nlu_data)])
    )
    recipe = Recipe.recipe_for_name(importer.get_config().get("recipe"))
    settings, _, _ = recipe.auto_configure(
        importer.get_config_file_for_auto_config(), importer.get_config(), TrainingType.NLU
    )
    configuration = recipe.graph_config_for_recipe(settings, {}, training_type=TrainingType.NLU)
    validate(configuration)
    domain = copy.deepcopy(importer.get_domain())
    schema = configuration.train_schema
    out.mkdir(parents=True, exist_ok=True)
    archive = out / f"nlu-{time.strftime('%Y%m%d-%H%M%S')}.tar.gz"
    with tempfile.TemporaryDirectory() as directory:
        storage = LocalModelStorage(Path(directory))
        runner = DaskGraphRunner.create(
            graph_schema=schema,
            model_storage=storage,
            execution_context=ExecutionContext(graph_schema=schema),
            hooks=[LoggingHook(pruned_schema=schema)],
        )
        runner.run(inputs={PLACEHOLDER_IMPORTER: importer})
        storage.create_model_package(archive, configuration, domain)
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "models", help="output directory")
    args = parser.parse_args(argv)
    print(f"Trained {train(ROOT / 'config.yml', ROOT / 'nlu_data', args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
