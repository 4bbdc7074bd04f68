"""Run a snippet of Python in the Rasa environment (.venv-rasa) and read the JSON it prints."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from bot.nlu.server import rasa_environment
from bot.settings import DEFAULT_RASA_VENV, PROJECT_ROOT


def run_json(script: str, stdin: str = "") -> Any:
    """Run `script` with Rasa's Python from the project root; return its last line, parsed."""
    result = subprocess.run(
        [str(DEFAULT_RASA_VENV / "bin" / "python"), "-c", script],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=rasa_environment(),
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
