"""`make train`: a full training of the NLU model into models/ (run in .venv-rasa).

`rasa train nlu` first runs the whole graph once more to fingerprint every step for its
training cache, which costs about a third of the training time here; and its cache keys
ignore the code of `bot/nlu/normalize.py`. Make already skips training when nothing
changed (a stamp on config, data and components), so this trains everything, every time,
without that extra pass.

    PYTHONPATH=. .venv-rasa/bin/python -m nlu.train [--out models]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "models", help="output directory")
    args = parser.parse_args(argv)

    from rasa.model_training import train_nlu

    model = train_nlu(
        config=str(ROOT / "config.yml"),
        nlu_data=str(ROOT / "nlu_data"),
        output=str(args.out),
        additional_arguments={"force_full_training": True},
    )
    if not model or not Path(model).is_file():
        print("training failed: no model was written", file=sys.stderr)
        return 1
    print(f"Trained {model}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
