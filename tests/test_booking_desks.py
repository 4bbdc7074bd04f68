"""desks.toml: the five return desks, names in the catalogs, and clear errors when an editor breaks it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.booking.desks import DEFAULT_DESKS_FILE, DESK_NAMES, DeskFileError, load_desks


def test_desks_file_of_the_repository_loads_the_five_desks() -> None:
    desks = load_desks(DEFAULT_DESKS_FILE)
    assert desks.ids == ("brussels", "antwerp", "ghent", "liege", "charleroi")
    for desk in desks:
        assert desk.name in DESK_NAMES  # so `bot content extract` puts it in the catalogs


def test_desks_file_states_no_invented_address() -> None:
    # The reference facts give no address for any desk: none may be made up.
    for desk in load_desks(DEFAULT_DESKS_FILE):
        assert desk.address is None


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "desks.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_desks_file_reads_address_hours_and_phone(tmp_path: Path) -> None:
    path = write(tmp_path, '[[desk]]\nid = "ghent"\nname = "Return desk Ghent"\n'
                           'address = "  Street 1,\\n 9000 Gent "\nhours = "Mon-Fri 09:00-12:00"\n'
                           'phone = "09 223 45 67"\n')  # fmt: skip
    desk = load_desks(path).get("ghent")
    assert desk is not None
    assert desk.address == "Street 1, 9000 Gent"
    assert desk.hours is not None and desk.hours.week[0] == ((540, 720),)
    assert desk.phone == "+3292234567"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[[desk]\nid = "x"', "not valid TOML"),
        ("", "no desks"),
        ('[[desk]]\nname = "Return desk Ghent"\n', "desk 1: key 'id'"),
        ('[[desk]]\nid = "Ghent!"\nname = "x"\n', "key 'id' must be a short lowercase name"),
        ('[[desk]]\nid = "ghent"\n', "desk 1 (ghent): key 'name' is missing"),
        ('[[desk]]\nid = "ghent"\nname = "x"\nhours = "Mon-Fri 9-12"\n', "desk 1 (ghent): key 'hours'"),
        ('[[desk]]\nid = "ghent"\nname = "x"\nphone = "12"\n', "key 'phone'"),
        ('[[desk]]\nid = "ghent"\nname = "x"\nadres = "y"\n', "unknown key 'adres'"),
        ('[[desk]]\nid = "ghent"\nname = 3\n', "key 'name' must be text"),
        (
            '[[desk]]\nid = "a"\nname = "x"\n[[desk]]\nid = "a"\nname = "y"\n',
            "desk 2: key 'id': 'a' is used twice",
        ),
        ('[desks]\nid = "a"\n', "unknown section 'desks'"),
    ],
)
def test_desks_file_errors_name_the_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DeskFileError) as caught:
        load_desks(path)
    assert str(path) in str(caught.value)
    assert fragment in str(caught.value)


def test_desks_file_missing_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DeskFileError, match="file not found"):
        load_desks(tmp_path / "nowhere.toml")
