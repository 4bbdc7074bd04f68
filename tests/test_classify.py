"""The `bot classify` contract: one JSON line per input line, whatever the line holds."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bot.nlu.intents import FALLBACK_INTENT, INTENTS, LANGUAGES
from bot.nlu.server import free_port
from bot.settings import PROJECT_ROOT

BOT = str(PROJECT_ROOT / ".venv" / "bin" / "bot")
KEYS = {"text", "intent", "confidence", "language", "ranking"}


def classify(stdin: bytes, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [BOT, "classify"], input=stdin, capture_output=True, timeout=300,
        env={**os.environ, **env}, check=False,
    )  # fmt: skip


def test_classify_writes_one_json_line_per_input_line(rasa_url: str) -> None:
    lines = ["salam, mikham bargardam iran", "combien d'argent je recois", "hoeveel kost het", "hello"]
    result = classify("\n".join(lines).encode() + b"\n", RASA_URL=rasa_url)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    outputs = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [output["text"] for output in outputs] == lines
    for output in outputs:
        assert set(output) == KEYS
        assert output["intent"] in {*INTENTS, FALLBACK_INTENT}
        assert 0.0 <= output["confidence"] <= 1.0
        assert output["language"] in LANGUAGES
        assert 1 <= len(output["ranking"]) <= 3
        assert set(output["ranking"][0]) == {"intent", "confidence"}
    assert outputs[0]["language"] == "fa"


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"   ",
        b"x" * 10_000,
        b"\xff\xfe\x00\x81binary\x9c\xde\xad",
        "\u202e\u2066\u200f\u2069".encode(),
    ],
    ids=["empty", "blank", "10000-chars", "binary", "bidi-controls"],
)
def test_classify_answers_bad_input_with_a_fallback_line(rasa_url: str, line: bytes) -> None:
    result = classify(b"hello\n" + line + b"\nthanks\n", RASA_URL=rasa_url)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    outputs = [json.loads(text) for text in result.stdout.decode().splitlines()]
    assert len(outputs) == 3
    assert outputs[1]["intent"] == FALLBACK_INTENT
    assert set(outputs[1]) == KEYS


def test_classify_without_a_server_or_model_exits_2_and_says_make_train(tmp_path: Path) -> None:
    result = classify(
        b"hello\n", RASA_URL=f"http://127.0.0.1:{free_port()}", MODELS_DIR=str(tmp_path / "empty")
    )
    assert result.returncode == 2
    assert b"make train" in result.stderr
    assert result.stdout == b""


def test_classify_starts_a_local_server_when_none_answers() -> None:
    result = classify(b"salam, mikham bargardam iran\n", RASA_URL=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    [output] = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert output["language"] == "fa"
