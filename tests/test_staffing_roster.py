"""Roster files (CSV, XLSX, interchange staff layer): checks naming row and column, all-or-nothing import."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Connection, text

from gridmap.errors import InvalidFile, InvalidInput
from gridmap.interchange.roster import check_person, check_references, read_roster
from gridmap.services.workflows import import_roster
from tests.test_staffing import COMM1, STREET, full_roster, load, person


def write(rows: list[dict], path: Path) -> Path:
    df = pd.DataFrame(rows)
    if path.suffix == ".xlsx":
        df.to_excel(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_reads_csv_and_xlsx_alike(tmp_path: Path, suffix: str) -> None:
    """Codes keep their digits (Excel stores them as numbers), booleans parse, officers get their agency."""
    rows = full_roster()
    rows[2]["agency"] = None  # community_police without agency → police
    roster = read_roster(write(rows, tmp_path / f"roster{suffix}"))
    assert len(roster) == 20 and list(roster.index[:2]) == [2, 3]
    first = roster.loc[2]
    assert first["community_code"] == COMM1 and first["street_code"] == STREET
    assert first["phone_public"] and first["party_member"] and not roster.loc[3, "phone_public"]
    assert roster.loc[3, "party_member"] is None
    assert roster.loc[4, "agency"] == "police"
    assert roster.loc[14, "building_id"] == "C1-B1"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"role": "boss"}, "row 4, column role"),
        ({"name": ""}, "row 4, column name"),
        ({"phone_public": "maybe"}, "row 4, column phone_public"),
        ({"community_code": "3202140500"}, "row 4, column community_code"),
        ({"community_code": None, "street_code": None}, "row 4, column community_code"),
        ({"street_code": "320214051"}, "row 4, column street_code"),
        ({"agency": "market_regulation"}, "row 4, column agency"),
        ({"phone": "call me"}, "row 4, column phone"),
        ({"id": "H1"}, "row 4, column id: 'H1' already used in row 2"),
    ],
)
def test_errors_name_row_and_column(tmp_path: Path, change: dict, where: str) -> None:
    rows = full_roster()
    rows[2].update(change)  # the third person is on spreadsheet row 4
    with pytest.raises(InvalidFile, match=where):
        read_roster(write(rows, tmp_path / "roster.csv"))


def test_missing_column_and_unknown_file(tmp_path: Path) -> None:
    rows = [{k: v for k, v in r.items() if k != "role"} for r in full_roster()]
    with pytest.raises(InvalidFile, match=r"missing column\(s\) \['role'\]"):
        read_roster(write(rows, tmp_path / "roster.csv"))
    with pytest.raises(InvalidFile, match="unsupported roster type"):
        read_roster(write(full_roster(), tmp_path / "roster.txt"))
    broken = tmp_path / "broken.xlsx"
    broken.write_text("not a workbook")
    with pytest.raises(InvalidFile, match="cannot be read"):
        read_roster(broken)


def test_unknown_community_is_named(tmp_path: Path) -> None:
    roster = read_roster(write(full_roster() + [person("X", "grid_head", "320214050099")], tmp_path / "r.csv"))
    with pytest.raises(InvalidFile, match="row 22, column community_code: '320214050099' is not a stored"):
        check_references(roster, {COMM1, "320214050002"}, {STREET}, source="r.csv")


def test_check_person_for_api_edits() -> None:
    check_person(person("H9", "grid_head"))
    with pytest.raises(InvalidInput, match="^role:"):
        check_person(person("H9", "chief"))


def test_import_is_all_or_nothing_and_idempotent(conn: Connection, tmp_path: Path) -> None:
    load(conn, [])
    good = write(full_roster(), tmp_path / "roster.xlsx")
    first = import_roster(conn, good)
    assert (first["inserted"], first["updated"]) == (20, 0)
    again = import_roster(conn, good)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 20)
    attrs = conn.execute(text("SELECT attrs FROM staff WHERE id = 'B1'")).scalar()
    assert attrs["building_id"] == "C1-B1" and attrs["active"] is True
    rows = full_roster()
    rows[0]["name"] = "renamed"
    rows.append(person("X", "grid_head", "320214050099"))
    with pytest.raises(InvalidFile, match="row 22"):
        import_roster(conn, write(rows, tmp_path / "bad.csv"))
    assert conn.execute(text("SELECT name FROM staff WHERE id = 'H1'")).scalar() != "renamed"
    dry = import_roster(conn, write(rows[:-1], tmp_path / "dry.csv"), commit=False)
    assert dry["updated"] == 1 and not dry["committed"]
    assert conn.execute(text("SELECT name FROM staff WHERE id = 'H1'")).scalar() != "renamed"


def test_interchange_staff_layer_is_a_roster(tmp_path: Path) -> None:
    from gridmap.interchange import write_interchange

    path = write_interchange({"staff": pd.DataFrame(full_roster())}, tmp_path / "staff.gpkg")
    assert len(read_roster(path)) == 20
