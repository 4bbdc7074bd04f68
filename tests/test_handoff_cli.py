"""`bot queue` and `bot audit` against a real database file, through the `bot` command's own parser."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.clock import FixedClock
from bot.handoff.models import Actor
from bot.handoff.settings import StaffRouting
from bot.handoff.store import HandoffStore
from bot.store.db import Store

START = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
STAFF_CHAT = -1001234567890


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A database file with two open tickets (one claimed by Maryam) and a resolved one."""
    path = tmp_path / "assistant.db"
    clock = FixedClock(START)
    store = Store.open(path, clock=clock)
    handoff = HandoffStore(
        store, clock, routing=StaffRouting(STAFF_CHAT), reference=lambda u: f"P{int(u) * 7}"
    )
    first, _ = handoff.open_ticket("1001", "live", "fa", ["how_to_apply"])
    handoff.open_ticket("1002", "callback", "fr", callback_id=4)
    done, _ = handoff.open_ticket("1003", "live", "nl")
    handoff.resolve(done.id, Actor(501, "Maryam"))
    handoff.claim(first.id, Actor(501, "Maryam"))
    store.close()
    monkeypatch.setenv("DATABASE_PATH", str(path))
    return path


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_queue_list_json_is_one_array_of_open_tickets_oldest_first_without_telegram_ids(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tickets = _json(capsys, "queue", "list", "--json")
    assert isinstance(tickets, list)
    assert [(t["id"], t["state"], t["claimed_alias"]) for t in tickets] == [
        (1, "claimed", "Maryam"),
        (2, "waiting", None),
    ]
    assert tickets[0]["reference"] == "P7007" and tickets[0]["asked_topics"] == ["how_to_apply"]
    assert tickets[0]["waiting_seconds"] is None and tickets[1]["waiting_seconds"] >= 0
    assert not {"1001", "1002", "501"} & {str(value) for ticket in tickets for value in ticket.values()}
    assert "user_id" not in tickets[0] and "claimed_by" not in tickets[0]


def test_queue_list_prints_a_table(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["queue", "list"]) == 0
    out = capsys.readouterr().out
    assert "P7007" in out and "Maryam" in out and "P7021" not in out


def test_queue_round_trip_claim_release_resolve_and_exports(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["queue", "claim", "2", "--as", "ops"]) == 0
    assert "ticket 2 (P7014) claimed by ops" in capsys.readouterr().out
    assert main(["queue", "claim", "2", "--as", "Maryam"]) == 1
    assert capsys.readouterr().err.strip() == "bot: ticket 2 is already claimed by ops"
    assert main(["queue", "release", "1", "--as", "ops"]) == 1
    assert "held by Maryam" in capsys.readouterr().err
    assert main(["queue", "release", "1", "--as", "maryam"]) == 0  # acts as the counsellor Maryam
    assert main(["queue", "resolve", "2", "--as", "ops"]) == 0
    assert main(["queue", "claim", "2", "--as", "ops"]) == 1
    assert "resolved" in capsys.readouterr().err

    shown = _json(capsys, "queue", "show", "2", "--json")
    assert isinstance(shown, dict)
    assert shown["state"] == "resolved"
    assert [(a["action"], a["alias"]) for a in shown["audit"]] == [
        ("claim", "cli:ops"),
        ("resolve", "cli:ops"),
    ]

    exported = tmp_path / "tickets.json"
    assert main(["queue", "export", str(exported)]) == 0
    tickets = json.loads(exported.read_text())
    assert [(t["id"], t["state"]) for t in tickets] == [(1, "waiting"), (2, "resolved"), (3, "resolved")]
    assert main(["queue", "export", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [row["state"] for row in rows] == ["waiting", "resolved", "resolved"]
    assert "user_id" not in rows[0]

    assert main(["audit", "export", "--format", "json"]) == 0
    audit = json.loads(capsys.readouterr().out)
    assert [(a["action"], a["alias"], a["ticket_id"]) for a in audit] == [
        ("resolve", "Maryam", 3),
        ("claim", "Maryam", 1),
        ("claim", "cli:ops", 2),
        ("release", "cli:Maryam", 1),
        ("resolve", "cli:ops", 2),
    ]
    assert main(["audit", "export"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header == "id,at,staff_id,alias,action,ticket_id,detail"


def test_queue_refusals_are_one_line_with_their_exit_status(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["queue", "show", "99"]) == 1
    assert capsys.readouterr().err == "bot: there is no ticket 99\n"
    assert main(["queue", "claim", "2", "--as", "cli:ops"]) == 2
    assert "cli:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["queue", "claim", "two", "--as", "ops"])
    assert usage.value.code == 2


def test_queue_without_a_database_says_which_setting_to_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "missing.db"))
    assert main(["queue", "list"]) == 2
    assert "DATABASE_PATH" in capsys.readouterr().err
    assert not (tmp_path / "missing.db").exists()
