"""Rasa's default pipeline in `make eval`: a DIET training that is stopped resumes where it was.

Real trainings in the Rasa environment on a few intents, one of them killed mid-way.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from bot.nlu.server import rasa_environment
from bot.settings import DEFAULT_RASA_VENV, PROJECT_ROOT
from tests.rasa_python import run_json

EPOCHS = 6
INTENTS = ("greet", "thanks", "costs")
TRAIN = """
import logging, sys
from pathlib import Path
from typing import Any
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from nlu.train import train
print(train(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
"""


def write_project(root: Path, stop: int | None = None) -> Path:
    """Write a tiny config (DIET that resumes) and data; return the checkpoint directory."""
    data, resume = root / "data", root / "resume"
    data.mkdir(parents=True)
    for intent in INTENTS:
        source = PROJECT_ROOT / "nlu_data" / "en" / f"{intent}.yml"
        (data / source.name).write_text(source.read_text())
    config = root / "config.yml"
    config.write_text(
        "recipe: default.v1\nassistant_id: resume-test\nlanguage: en\npipeline:\n"
        "  - name: WhitespaceTokenizer\n  - name: CountVectorsFeaturizer\n"
        f"  - name: nlu.resumable.ResumableDIETClassifier\n    epochs: {EPOCHS}\n"
        f"    resume_dir: {resume}\n" + (f"    stop_at_epoch: {stop}\n" if stop else "")
    )
    return resume


def start(root: Path) -> subprocess.Popen[str]:
    """Start training the project in `root` (written by `write_project`)."""
    command = [str(DEFAULT_RASA_VENV / "bin" / "python"), "-c", TRAIN]
    command += [str(root / "config.yml"), str(root / "data"), str(root / "out")]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
        env=rasa_environment(),
    )


def finish(process: subprocess.Popen[str]) -> str:
    """Wait for a training; return its log (stderr)."""
    return finish_with_model(process)[1]


def finish_with_model(process: subprocess.Popen[str]) -> tuple[Path, str]:
    """Wait for a training; return the model it saved and its log (stderr)."""
    out, log = process.communicate(timeout=600)
    assert process.returncode == 0, log[-2000:]
    return Path(out.strip().splitlines()[-1]), log


def final_step(log: str, ended: str = f"trained {EPOCHS} epochs") -> int:
    found = re.search(rf"DIET {ended} \(optimizer step (\d+)\)", log)
    assert found, log[-2000:]
    return int(found[1])


def test_a_killed_training_resumes_at_the_next_epoch_with_the_same_schedule(tmp_path: Path) -> None:
    write_project(tmp_path / "whole")
    resume = write_project(tmp_path / "interrupted")
    whole = start(tmp_path / "whole")
    interrupted = start(tmp_path / "interrupted")
    deadline = time.monotonic() + 600
    while not (resume / "ckpt-2.index").exists():
        assert interrupted.poll() is None, "the training ended before its second epoch"
        assert time.monotonic() < deadline, "no checkpoint after the second epoch"
        time.sleep(0.1)
    interrupted.send_signal(signal.SIGKILL)
    interrupted.wait()
    assert not list((tmp_path / "interrupted" / "out").glob("*.tar.gz")), "was not interrupted"
    saved = int(re.findall(r"ckpt-(\d+)", (resume / "checkpoint").read_text())[0])
    assert 2 <= saved < EPOCHS

    log = finish(start(tmp_path / "interrupted"))

    assert f"resuming DIET at epoch {saved + 1} of {EPOCHS}" in log
    assert f"epoch {saved} saved" not in log  # the epochs already done are not trained again
    assert list((tmp_path / "interrupted" / "out").glob("*.tar.gz"))
    # The optimiser's step counter came back from the checkpoint and the batch sizes
    # followed the same schedule: the same number of steps as a run never stopped.
    assert final_step(log) == final_step(finish(whole))


PARSE = """
import asyncio, json, sys
from rasa.core.agent import Agent
async def main():
    agent = Agent.load(sys.argv[1])
    found = []
    for text in json.loads(sys.argv[2]):
        parse = await agent.parse_message(text)
        found.append({r["name"]: r["confidence"] for r in parse["intent_ranking"]})
    print(json.dumps(found))
asyncio.run(main())
"""


def confidences(model: Path, texts: list[str]) -> list[dict[str, float]]:
    """Parse `texts` with `model` in the Rasa environment: each one's confidence per intent."""
    command = [str(DEFAULT_RASA_VENV / "bin" / "python"), "-c", PARSE, str(model), json.dumps(texts)]
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=PROJECT_ROOT, env=rasa_environment(), timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found: list[dict[str, float]] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_a_model_saved_from_a_checkpoint_is_the_training_as_it_stood_at_that_epoch(
    tmp_path: Path,
) -> None:
    # A training told to stop after epoch 3 of its 6 saves its checkpoint and its model.
    resume = write_project(tmp_path / "stopped", stop=3)
    stopped, log = finish_with_model(start(tmp_path / "stopped"))
    assert "epoch 3 saved" in log
    assert re.findall(r"ckpt-(\d+)", (resume / "checkpoint").read_text()) == ["3", "3"]

    # From a copy of that checkpoint, nothing is trained: the model is saved as it stood.
    shutil.copytree(resume, write_project(tmp_path / "snapshot", stop=3))
    snapshot, snapshot_log = finish_with_model(start(tmp_path / "snapshot"))

    assert "DIET as saved after epoch 3: nothing left to train" in snapshot_log
    assert "saved to" not in snapshot_log  # no epoch trained, no checkpoint written
    ended = f"stopped after epoch 3 of {EPOCHS}"
    assert final_step(snapshot_log, ended) == final_step(log, ended) > 0
    texts = ["hello there", "thank you so much", "how much does it cost me", "what is the weather"]
    got, expected = confidences(snapshot, texts), confidences(stopped, texts)
    assert [max(c, key=c.__getitem__) for c in got] == [max(c, key=c.__getitem__) for c in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert mine.keys() == theirs.keys()
        assert all(abs(mine[name] - theirs[name]) < 1e-5 for name in mine)


PREPARE = """
import json, sys
from pathlib import Path
from typing import Any
from nlu.evaluate import prepare_resume
resume, digest, force = json.load(sys.stdin)
print(json.dumps(prepare_resume(Path(resume), digest, force=force)))
"""


def prepare(resume: Path, digest: str, force: bool = False) -> int:
    return int(run_json(PREPARE, stdin=json.dumps([str(resume), digest, force])))


def test_checkpoints_of_other_inputs_are_thrown_away(tmp_path: Path) -> None:
    resume = tmp_path / "resume"
    assert prepare(resume, "digest-a") == 0
    (resume / "checkpoint").write_text('model_checkpoint_path: "ckpt-7"\n')
    (resume / "ckpt-7.index").write_text("")

    assert prepare(resume, "digest-a") == 7  # same data and config: resume after epoch 7
    assert prepare(resume, "digest-a", force=True) == 0  # --force trains from scratch
    assert not (resume / "ckpt-7.index").exists()
    (resume / "checkpoint").write_text('model_checkpoint_path: "ckpt-7"\n')
    assert prepare(resume, "digest-b") == 0  # the data changed
    assert (resume / "inputs").read_text().strip() == "digest-b"


def test_the_resumable_default_is_rasas_default_pipeline_but_for_the_class(tmp_path: Path) -> None:
    script = f"""
import json, shutil
from pathlib import Path
from typing import Any
from rasa.engine.recipes.recipe import Recipe
from rasa.shared.data import TrainingType
from rasa.shared.utils.io import read_config_file
from nlu.evaluate import default_config_path, make_resumable
source, config = default_config_path(), Path({str(tmp_path / "config.yml")!r})
shutil.copyfile(source, config)
make_resumable(config, Path("/somewhere/resume"))
plain = Path({str(tmp_path / "plain.yml")!r})
shutil.copyfile(source, plain)
settings = read_config_file(plain)
expected, _, _ = Recipe.recipe_for_name(settings.get("recipe")).auto_configure(
    plain, settings, TrainingType.NLU
)
print(json.dumps({{"got": read_config_file(config)["pipeline"], "expected": expected["pipeline"]}}))
"""
    found = run_json(script)
    got, expected = found["got"], found["expected"]
    diet = next(step for step in got if step["name"] == "nlu.resumable.ResumableDIETClassifier")
    assert diet["resume_dir"] == "/somewhere/resume"
    assert diet["epochs"] == 100
    assert [{**s, "name": "DIETClassifier"} if s is diet else s for s in got] == [
        {**s, "resume_dir": "/somewhere/resume"} if s["name"] == "DIETClassifier" else s for s in expected
    ]


SO_FAR = """
import json, sys
from pathlib import Path
from typing import Any
from nlu.evaluate import NoCheckpoint, Pipeline, so_far
out_dir, inputs, wanted = json.load(sys.stdin)
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


def measure_so_far(out_dir: Path, inputs: list[Path], wanted: int | None = None) -> dict[str, Any]:
    case = [str(out_dir), [str(path) for path in inputs], wanted]
    found: dict[str, Any] = run_json(SO_FAR, stdin=json.dumps(case))
    return found


def test_so_far_copies_the_latest_checkpoint_of_these_inputs_only(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text("recipe: default.v1\n")
    default = tmp_path / "models" / "default"
    resume = default / "resume"

    assert "no checkpoint" in measure_so_far(default, [config])["error"]  # never trained
    resume.mkdir(parents=True)
    (resume / "inputs").write_text("digest of other data\n")
    assert "no checkpoint of the current data" in measure_so_far(default, [config])["error"]

    digest = run_json(
        "import json, sys\nfrom pathlib import Path\nfrom nlu.evaluate import inputs_digest\n"
        f"print(json.dumps(inputs_digest([Path({str(config)!r})])))"
    )
    (resume / "inputs").write_text(digest + "\n")
    assert "no epoch finished yet" in measure_so_far(default, [config])["error"]

    (resume / "checkpoint").write_text('model_checkpoint_path: "ckpt-12"\n')
    for name in ("ckpt-12.index", "ckpt-12.data-00000-of-00001", "generator-state-12.pkl"):
        (resume / name).write_text(name)
    (resume / "generator-state-1.pkl").write_text("an older epoch's, not copied")
    found = measure_so_far(default, [config])
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
    assert "checkpoint is of epoch 13" in measure_so_far(default, [config], 12)["error"]
    saved = tmp_path / "models" / "default-epoch-12"
    (saved / "trained.json").write_text(json.dumps({"inputs": digest, "model": "m.tar.gz"}))
    assert measure_so_far(default, [config], 12)["epoch"] == 12


def test_the_digest_of_rasas_default_config_does_not_depend_on_where_rasa_is_installed(
    tmp_path: Path,
) -> None:
    # The same file reached through an environment elsewhere (a symlinked .venv-rasa, say).
    script = f"""
import json, shutil
from pathlib import Path
from nlu.evaluate import default_config_path, inputs_digest
here = default_config_path()
elsewhere = Path({str(tmp_path)!r}) / "env/lib/python3.10/site-packages/rasa/cli/initial_project"
elsewhere.mkdir(parents=True)
shutil.copyfile(here, elsewhere / "config.yml")
other = elsewhere / "other.yml"
other.write_text(here.read_text() + "# changed\\n")
print(json.dumps([inputs_digest([p]) for p in (here, elsewhere / "config.yml", other)]))
"""
    here, elsewhere, changed = run_json(script)
    assert here == elsewhere
    assert changed != here
