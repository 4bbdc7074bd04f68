"""The training-data check: a question of any language's held-out or test split is unseen."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.check_nlu_data import main


def write_nlu(path: Path, intent: str, language: str, texts: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(f"    - {text}\n" for text in texts)
    path.write_text(
        f'version: "3.1"\nnlu:\n- intent: {intent}\n  metadata:\n    language: {language}\n'
        f"  examples: |\n{lines}",
        encoding="utf-8",
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_nlu(tmp_path / "nlu_data/nl/thanks.yml", "thanks", "nl", ["bedankt", "dank u wel"])
    write_nlu(tmp_path / "eval/heldout/nl.yml", "thanks", "nl", ["merci vr alles"])
    write_nlu(tmp_path / "eval/test/nl.yml", "thanks", "nl", ["thx, top uitleg"])
    return tmp_path


def test_clean_data_passes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main("nl", project) == 0
    assert "nl: 2 examples in 1 intents, 0 problem(s)" in capsys.readouterr().out


def test_held_out_question_of_another_language_is_reported(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_nlu(project / "eval/heldout/en.yml", "thanks", "en", ["Dank U Wel"])
    assert main("nl", project) == 1
    out = capsys.readouterr().out
    assert "also in the held-out split (rewrite or delete it): nlu_data/nl/thanks.yml:8" in out
    assert "Dank U Wel" not in out  # held-out texts are never printed


def test_test_question_of_another_language_is_reported(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_nlu(project / "eval/test/fr.yml", "thanks", "fr", ["bedankt"])
    assert main("nl", project) == 1
    assert (
        "test example eval/test/fr.yml:7 is also training data at nlu_data/nl/thanks.yml:7"
        in capsys.readouterr().out
    )


def test_broken_question_file_is_reported_not_raised(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "eval/heldout/fr.yml").write_text(
        "nlu:\n- intent: thanks\n  examples: |\n    - merci infiniment\n  - intent: [oops\n",
        encoding="utf-8",
    )
    assert main("nl", project) == 1
    out = capsys.readouterr().out
    assert "eval/heldout/fr.yml: does not load: line 5, column 3: expected <block end>" in out
    assert "merci infiniment" not in out and "oops" not in out  # no question text is printed
    assert "nl: 2 examples in 1 intents, 1 problem(s)" in out
