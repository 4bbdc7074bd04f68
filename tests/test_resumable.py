"""Rasa's default pipeline in `make eval --with-default`: a DIET training that is stopped resumes.

Real trainings in the Rasa environment, on a tiny project so that each takes seconds: 24
examples of three intents and a DIET without transformer layers, of hidden size 16, whose
batches grow from 4 to 9 over 6 epochs (so that an epoch's step count depends on where in
the schedule it is), run eagerly (tracing TensorFlow graphs would take longer than such a
training; what resumes is the same: weights, Adam's state and step count, the schedule and
the shuffling). The class and the checkpoints are the ones `make eval --with-default` uses
for Rasa's full default pipeline. Importing TensorFlow and Rasa costs more than such a
training, so one Rasa process (`RasaWorker`) runs the trainings and checks of this file in
turn; only the training that is killed runs in a process of its own.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from bot.nlu.server import rasa_environment
from bot.settings import DEFAULT_RASA_VENV, PROJECT_ROOT

EPOCHS = 6
EXAMPLES = {
    "greet": [
        "hello",
        "hi",
        "hey there",
        "good morning",
        "hello friend",
        "hi, anyone here?",
        "salut",
        "hallo",
    ],
    "thanks": ["thanks", "thank you", "many thanks", "thanks a lot", "merci", "dank je", "cheers", "ty"],
    "costs": [
        "how much does it cost",
        "is it free",
        "do I have to pay",
        "what does the ticket cost",
        "who pays for the flight",
        "is there a fee",
        "what is the price",
        "do I pay anything",
    ],
}

# Runs scripts sent on stdin, one JSON line each, in one process: what a script prints and
# logs comes back as one line that starts with RESULT (Rasa and TensorFlow may print too).
RESULT = "\x1eresult "
WORKER = f"""
import contextlib, io, json, logging, sys, traceback
handler = logging.StreamHandler(io.StringIO())
logging.basicConfig(level=logging.INFO, handlers=[handler])
import nlu.resumable, nlu.train  # TensorFlow and Rasa, once
for line in sys.stdin:
    request = json.loads(line)
    log, out = io.StringIO(), io.StringIO()
    handler.setStream(log)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(log):
            exec(request["script"], {{"__name__": "__script__", "ARGS": request["args"]}})
        error = None
    except BaseException:
        error = traceback.format_exc()
    result = {{"stdout": out.getvalue(), "log": log.getvalue(), "error": error}}
    print({RESULT!r} + json.dumps(result), flush=True)
"""


class RasaWorker:
    """One Rasa process that runs scripts in turn (their imports are paid once)."""

    def __init__(self, stderr: IO[str]) -> None:
        self.process = subprocess.Popen(
            [str(DEFAULT_RASA_VENV / "bin" / "python"), "-c", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=PROJECT_ROOT,
            env=rasa_environment(),
        )

    def run(self, script: str, *args: Any) -> tuple[Any, str]:
        """Run `script` (which reads ARGS); return the JSON of its last printed line and its log."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"script": script, "args": args}) + "\n")
        self.process.stdin.flush()
        for line in self.process.stdout:
            if line.startswith(RESULT):
                result = json.loads(line.removeprefix(RESULT))
                assert result["error"] is None, result["error"] + result["log"][-2000:]
                return json.loads(result["stdout"].strip().splitlines()[-1]), result["log"]
        raise AssertionError(f"the Rasa worker ended (exit code {self.process.wait()})")

    def close(self) -> None:
        """End the process once its scripts are done."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def rasa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RasaWorker]:
    with (tmp_path_factory.mktemp("worker") / "stderr.log").open("w") as stderr:
        worker = RasaWorker(stderr)
        yield worker
        worker.close()


def write_project(root: Path, stop: int | None = None) -> Path:
    """Write the tiny config (DIET that resumes) and data; return the checkpoint directory."""
    data, resume = root / "data", root / "resume"
    data.mkdir(parents=True)
    for intent, texts in EXAMPLES.items():
        lines = "".join(f"      - {text}\n" for text in texts)
        (data / f"{intent}.yml").write_text(
            f'version: "3.1"\nnlu:\n  - intent: {intent}\n    examples: |\n{lines}'
        )
    config = root / "config.yml"
    config.write_text(
        "recipe: default.v1\nassistant_id: resume-test\nlanguage: en\npipeline:\n"
        "  - name: WhitespaceTokenizer\n  - name: CountVectorsFeaturizer\n"
        f"  - name: nlu.resumable.ResumableDIETClassifier\n    epochs: {EPOCHS}\n"
        "    number_of_transformer_layers: 0\n    hidden_layers_sizes: {text: [16], label: [16]}\n"
        "    embedding_dimension: 8\n    batch_size: [4, 9]\n    entity_recognition: false\n"
        "    run_eagerly: true\n"
        f"    resume_dir: {resume}\n" + (f"    stop_at_epoch: {stop}\n" if stop else "")
    )
    return resume


TRAIN = """
import json
from pathlib import Path
from nlu.train import train
root = Path(ARGS[0])
print(json.dumps(str(train(root / "config.yml", root / "data", root / "out"))))
"""


def train(rasa: RasaWorker, root: Path) -> tuple[Path, str]:
    """Train the project in `root` (written by `write_project`); return the model and the log."""
    model, log = rasa.run(TRAIN, str(root))
    return Path(model), log


KILLED_TRAINING = """
import logging, os, signal, sys
from pathlib import Path
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from nlu.resumable import _SaveEveryEpoch
from nlu.train import train
# Killed as by a power cut right after epoch N is saved: nothing of the process runs on.
root, kill_after, save = Path(sys.argv[1]), int(sys.argv[2]), _SaveEveryEpoch.on_epoch_end
def save_then_die(self, epoch, logs=None):
    save(self, epoch, logs)
    if epoch + 1 == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)
_SaveEveryEpoch.on_epoch_end = save_then_die
train(root / "config.yml", root / "data", root / "out")
"""


def start_killed(root: Path, kill_after: int, log: IO[str]) -> subprocess.Popen[str]:
    """Start training the project in `root` in its own process, killed after epoch `kill_after`."""
    command = [str(DEFAULT_RASA_VENV / "bin" / "python"), "-c", KILLED_TRAINING, str(root), str(kill_after)]
    return subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
        cwd=PROJECT_ROOT,
        env=rasa_environment(),
    )


def final_step(log: str, ended: str = f"trained {EPOCHS} epochs") -> int:
    found = re.search(rf"DIET {ended} \(optimizer step (\d+)\)", log)
    assert found, log[-2000:]
    return int(found[1])


def test_a_killed_training_resumes_at_the_next_epoch_with_the_same_schedule(
    rasa: RasaWorker, tmp_path: Path
) -> None:
    write_project(tmp_path / "whole")
    resume = write_project(tmp_path / "interrupted")
    with (tmp_path / "killed.log").open("w") as log_file:
        killed = start_killed(tmp_path / "interrupted", 2, log_file)
        _, whole_log = train(rasa, tmp_path / "whole")  # meanwhile
        killed.wait(timeout=300)
    killed_log = (tmp_path / "killed.log").read_text()
    assert killed.returncode == -signal.SIGKILL, killed_log[-2000:]
    assert "epoch 2 saved" in killed_log and "epoch 3 saved" not in killed_log
    assert not list((tmp_path / "interrupted" / "out").glob("*.tar.gz")), "was not interrupted"
    assert re.findall(r"ckpt-(\d+)", (resume / "checkpoint").read_text()) == ["2", "2"]

    model, log = train(rasa, tmp_path / "interrupted")

    assert f"resuming DIET at epoch 3 of {EPOCHS}" in log
    assert "epoch 2 saved" not in log  # the epochs already done are not trained again
    assert "epoch 5 saved" in log
    assert model.is_file()
    # The optimiser's step counter came back from the checkpoint and the batch sizes
    # followed the same schedule: the same number of steps as a run never stopped.
    assert final_step(log) == final_step(whole_log)


CONFIDENCES = """
import asyncio, json
from rasa.core.agent import Agent
async def main():
    texts, found = ARGS[0], []
    for model in ARGS[1:]:
        agent = Agent.load(model)
        ranked = []
        for text in texts:
            parse = await agent.parse_message(text)
            ranked.append({r["name"]: r["confidence"] for r in parse["intent_ranking"]})
        found.append(ranked)
    print(json.dumps(found))
asyncio.run(main())
"""


def test_a_model_saved_from_a_checkpoint_is_the_training_as_it_stood_at_that_epoch(
    rasa: RasaWorker, tmp_path: Path
) -> None:
    # A training told to stop after epoch 3 of its 6 saves its checkpoint and its model.
    resume = write_project(tmp_path / "stopped", stop=3)
    stopped, log = train(rasa, tmp_path / "stopped")
    assert "epoch 3 saved" in log and "epoch 4 saved" not in log
    assert re.findall(r"ckpt-(\d+)", (resume / "checkpoint").read_text()) == ["3", "3"]

    # From a copy of that checkpoint, nothing is trained: the model is saved as it stood.
    shutil.copytree(resume, write_project(tmp_path / "snapshot", stop=3))
    snapshot, snapshot_log = train(rasa, tmp_path / "snapshot")

    assert "DIET as saved after epoch 3: nothing left to train" in snapshot_log
    assert "saved to" not in snapshot_log  # no epoch trained, no checkpoint written
    ended = f"stopped after epoch 3 of {EPOCHS}"
    assert final_step(snapshot_log, ended) == final_step(log, ended) > 0
    texts = ["hello there", "thank you so much", "how much does it cost me", "what is the weather"]
    (got, expected), _ = rasa.run(CONFIDENCES, texts, str(snapshot), str(stopped))
    assert [max(c, key=c.__getitem__) for c in got] == [max(c, key=c.__getitem__) for c in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert mine.keys() == theirs.keys()
        assert all(abs(mine[name] - theirs[name]) < 1e-5 for name in mine)


PREPARE = """
import json
from pathlib import Path
from nlu.evaluate import prepare_resume
resume, digest, force = ARGS
print(json.dumps(prepare_resume(Path(resume), digest, force=force)))
"""


def test_checkpoints_of_other_inputs_are_thrown_away(rasa: RasaWorker, tmp_path: Path) -> None:
    def prepare(digest: str, force: bool = False) -> int:
        epochs, _ = rasa.run(PREPARE, str(resume), digest, force)
        return int(epochs)

    resume = tmp_path / "resume"
    assert prepare("digest-a") == 0
    (resume / "checkpoint").write_text('model_checkpoint_path: "ckpt-7"\n')
    (resume / "ckpt-7.index").write_text("")

    assert prepare("digest-a") == 7  # same data and config: resume after epoch 7
    assert prepare("digest-a", force=True) == 0  # --force trains from scratch
    assert not (resume / "ckpt-7.index").exists()
    (resume / "checkpoint").write_text('model_checkpoint_path: "ckpt-7"\n')
    assert prepare("digest-b") == 0  # the data changed
    assert (resume / "inputs").read_text().strip() == "digest-b"


RESUMABLE_CONFIG = """
import json, shutil
from pathlib import Path
from rasa.engine.recipes.recipe import Recipe
from rasa.shared.data import TrainingType
from rasa.shared.utils.io import read_config_file
from nlu.evaluate import default_config_path, make_resumable
source, config, plain = default_config_path(), Path(ARGS[0]), Path(ARGS[1])
shutil.copyfile(source, config)
make_resumable(config, Path("/somewhere/resume"))
shutil.copyfile(source, plain)
settings = read_config_file(plain)
expected, _, _ = Recipe.recipe_for_name(settings.get("recipe")).auto_configure(
    plain, settings, TrainingType.NLU
)
print(json.dumps({"got": read_config_file(config)["pipeline"], "expected": expected["pipeline"]}))
"""


def test_the_resumable_default_is_rasas_default_pipeline_but_for_the_class(
    rasa: RasaWorker, tmp_path: Path
) -> None:
    found, _ = rasa.run(RESUMABLE_CONFIG, str(tmp_path / "config.yml"), str(tmp_path / "plain.yml"))
    got, expected = found["got"], found["expected"]
    diet = next(step for step in got if step["name"] == "nlu.resumable.ResumableDIETClassifier")
    assert diet["resume_dir"] == "/somewhere/resume"
    assert diet["epochs"] == 100
    assert [{**s, "name": "DIETClassifier"} if s is diet else s for s in got] == [
        {**s, "resume_dir": "/somewhere/resume"} if s["name"] == "DIETClassifier" else s for s in expected
    ]


SO_FAR = """
import json
from pathlib import Path
from nlu.evaluate import NoCheckpoint, Pipeline, so_far
out_dir, inputs, wanted = ARGS
default = Pipeline("default", Path(inputs[0]), [Path(p) for p in inputs], Path(out_dir))
try:
    found = so_far(default, wanted)
except NoCheckpoint as error:
    print(json.dumps({"error": str(error)}))
else:
    copied = sorted(p.name for p in (found.out_dir / "resume").glob("*"))
    print(json.dumps({"out_dir": str(found.out_dir), "epoch": found.stop_at_epoch,
                      "copied": copied}))
"""

DIGEST = """
import json
from pathlib import Path
from nlu.evaluate import inputs_digest
print(json.dumps(inputs_digest([Path(path) for path in ARGS])))
"""


def test_so_far_copies_the_latest_checkpoint_of_these_inputs_only(rasa: RasaWorker, tmp_path: Path) -> None:
    def measure_so_far(wanted: int | None = None) -> dict[str, Any]:
        found: dict[str, Any] = rasa.run(SO_FAR, str(default), [str(config)], wanted)[0]
        return found

    config = tmp_path / "config.yml"
    config.write_text("recipe: default.v1\n")
    default = tmp_path / "models" / "default"
    resume = default / "resume"

    assert "no checkpoint" in measure_so_far()["error"]  # never trained
    resume.mkdir(parents=True)
    (resume / "inputs").write_text("digest of other data\n")
    assert "no checkpoint of the current data" in measure_so_far()["error"]

    digest, _ = rasa.run(DIGEST, str(config))
    (resume / "inputs").write_text(digest + "\n")
    assert "no epoch finished yet" in measure_so_far()["error"]

    (resume / "checkpoint").write_text('model_checkpoint_path: "ckpt-12"\n')
    for name in ("ckpt-12.index", "ckpt-12.data-00000-of-00001", "generator-state-12.pkl"):
        (resume / name).write_text(name)
    (resume / "generator-state-1.pkl").write_text("an older epoch's, not copied")
    found = measure_so_far()
    assert found["epoch"] == 12
    assert found["out_dir"] == str(tmp_path / "models" / "default-epoch-12")
    assert found["copied"] == [
        "checkpoint",
        "ckpt-12.data-00000-of-00001",
        "ckpt-12.index",
        "generator-state-12.pkl",
        "inputs",
    ]
    assert (resume / "ckpt-12.index").exists()  # the running training's own files stay

    # The other split measures the same epoch: a model saved from it, or an error.
    (resume / "checkpoint").write_text('model_checkpoint_path: "ckpt-13"\n')
    assert "checkpoint is of epoch 13" in measure_so_far(12)["error"]
    saved = tmp_path / "models" / "default-epoch-12"
    (saved / "trained.json").write_text(json.dumps({"inputs": digest, "model": "m.tar.gz"}))
    assert measure_so_far(12)["epoch"] == 12


DIGESTS_ELSEWHERE = """
import json, shutil
from pathlib import Path
from nlu.evaluate import default_config_path, inputs_digest
here = default_config_path()
elsewhere = Path(ARGS[0]) / "env/lib/python3.10/site-packages/rasa/cli/initial_project"
elsewhere.mkdir(parents=True)
shutil.copyfile(here, elsewhere / "config.yml")
other = elsewhere / "other.yml"
other.write_text(here.read_text() + "# changed\\n")
print(json.dumps([inputs_digest([p]) for p in (here, elsewhere / "config.yml", other)]))
"""


def test_the_digest_of_rasas_default_config_does_not_depend_on_where_rasa_is_installed(
    rasa: RasaWorker, tmp_path: Path
) -> None:
    # The same file reached through an environment elsewhere (a symlinked .venv-rasa, say).
    (here, elsewhere, changed), _ = rasa.run(DIGESTS_ELSEWHERE, str(tmp_path))
    assert here == elsewhere
    assert changed != here
