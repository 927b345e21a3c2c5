"""Import checks across layers against a real PostGIS: every problem named, nothing written.

The tiny file (tests/tiny.py)::

    lon 120.30      120.31      120.32
  31.51 +-----------+-----------+
        | community | community |
        |  ...001   |  ...002   |
        |  [C1] [C2]|   [C3]    |
  31.50 +-----------+-----------+

At 31.5°N one metre is about 1/94,900° of longitude and 1/110,900° of latitude.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box
from sqlalchemy import Connection, text
from typer.testing import CliRunner

from gridmap.errors import InvalidFile
from gridmap.interchange.checks import CheckOptions
from gridmap.storage.load import import_file
from tests.tiny import tiny_layers, write_tiny

M_LON, M_LAT = 1 / 94_900, 1 / 110_900  # degrees per metre near 31.5°N
TABLES = ("district", "street", "community", "compound", "building", "address", "staff")


def counts(conn: Connection) -> dict[str, int]:
    return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}


def refused(conn: Connection, path: Path, **kwargs) -> InvalidFile:
    before = counts(conn)
    with pytest.raises(InvalidFile) as info:
        import_file(conn, path, **kwargs)
    assert counts(conn) == before, "a refused import must write nothing"
    assert "np." not in info.value.detail, info.value.detail
    return info.value


def errors(exc: InvalidFile) -> set[tuple[str, str, str]]:
    return {(i.layer, i.feature, i.kind) for i in exc.issues if i.severity == "error"}


def moved_building(metres_north: float) -> dict[str, pd.DataFrame]:
    """Building C1-B1 (and its address) moved north of compound C1's top edge (31.504) by ``metres_north``."""
    layers = tiny_layers()
    where = Point(120.302, 31.504 + metres_north * M_LAT)
    layers["buildings"].loc[0, "geometry"] = where
    layers["addresses"].loc[0, "geometry"] = where
    return layers


def test_overlapping_communities_are_named_with_the_area(conn: Connection, tmp_path: Path) -> None:
    layers = tiny_layers()
    # community 002 drawn 100 m too far west, over 001: ~100 m × 1110 m ≈ 105,000 m²
    layers["communities"].loc[1, "geometry"] = box(120.31 - 100 * M_LON, 31.50, 120.32, 31.51)
    exc = refused(conn, write_tiny(tmp_path / "overlap.gpkg", layers))
    assert ("communities", "320214050001", "overlap") in errors(exc)
    overlap = next(i for i in exc.issues if i.kind == "overlap")
    assert "320214050002" in overlap.problem and "m²" in overlap.problem
    area = float(overlap.problem.split(" by ")[1].split(" m²")[0].replace(",", ""))
    assert 100_000 < area < 112_000
    # reaching out of the street is its own error
    assert ("communities", "320214050002", "outside") in errors(exc)


def test_a_community_overlapping_a_stored_one_is_refused(conn: Connection, tmp_path: Path) -> None:
    import_file(conn, write_tiny(tmp_path / "tiny.gpkg"))
    extra = {"code": "320214050003", "name": "重叠社区", "street_code": "320214050", "kind": "urban",
             "geometry": box(120.305, 31.50, 120.315, 31.51)}
    only = {"communities": gpd.GeoDataFrame([extra], crs=4490)}
    exc = refused(conn, write_tiny(tmp_path / "third.gpkg", only))
    problems = [i.problem for i in exc.issues if i.feature == "320214050003"]
    assert any("stored community 320214050001" in p for p in problems)
    assert any("stored community 320214050002" in p for p in problems)


def test_community_leaving_its_street_is_refused(conn: Connection, tmp_path: Path) -> None:
    layers = tiny_layers()
    layers["communities"].loc[1, "geometry"] = box(120.31, 31.50, 120.32 + 50 * M_LON, 31.51)
    exc = refused(conn, write_tiny(tmp_path / "out.gpkg", layers))
    assert errors(exc) == {("communities", "320214050002", "outside")}
    assert "outside its street 320214050" in exc.issues[0].problem


def test_compound_crossing_its_community_is_refused(conn: Connection, tmp_path: Path) -> None:
    layers = tiny_layers()
    layers["compounds"].loc[1, "geometry"] = box(120.305, 31.501, 120.315, 31.504)  # half in community 002
    exc = refused(conn, write_tiny(tmp_path / "cross.gpkg", layers))
    assert errors(exc) == {("compounds", "C2", "outside")}
    assert "only 50% of its area is inside" in exc.detail


def test_building_inside_the_tolerance_is_imported_with_a_warning(conn: Connection, tmp_path: Path) -> None:
    report = import_file(conn, write_tiny(tmp_path / "near.gpkg", moved_building(100)))
    assert report.committed
    [warning] = report.warnings
    assert (warning.layer, warning.feature, warning.severity) == ("buildings", "C1-B1", "warning")
    distance = float(warning.problem.split("lies ")[1].split(" m")[0])
    assert 99 < distance < 101
    assert "kept as a member of C1" in warning.problem
    # still a member of the compound it declares
    assert conn.execute(text("SELECT compound_id FROM building WHERE id = 'C1-B1'")).scalar() == "C1"


def test_building_beyond_the_tolerance_is_refused(conn: Connection, tmp_path: Path) -> None:
    exc = refused(conn, write_tiny(tmp_path / "far.gpkg", moved_building(200)))
    assert errors(exc) == {("buildings", "C1-B1", "building_outside")}
    assert "at most 150 m allowed" in exc.detail


def test_strict_refuses_any_building_outside(conn: Connection, tmp_path: Path) -> None:
    exc = refused(conn, write_tiny(tmp_path / "near.gpkg", moved_building(20)),
                  options=CheckOptions(strict=True))
    assert errors(exc) == {("buildings", "C1-B1", "building_outside")}
    assert "--strict" in exc.detail


def test_tolerance_is_a_plain_value(conn: Connection, tmp_path: Path) -> None:
    path = write_tiny(tmp_path / "near.gpkg", moved_building(100))
    refused(conn, path, options=CheckOptions(building_tolerance_m=50))
    assert import_file(conn, path, options=CheckOptions(building_tolerance_m=120)).committed


def test_building_in_another_compound_says_so(conn: Connection, tmp_path: Path) -> None:
    layers = tiny_layers()
    layers["buildings"].loc[0, "geometry"] = Point(120.306, 31.502)  # inside C2, ~190 m east of C1
    layers["addresses"].loc[0, "geometry"] = Point(120.306, 31.502)
    exc = refused(conn, write_tiny(tmp_path / "other.gpkg", layers))
    assert errors(exc) == {("buildings", "C1-B1", "building_outside")}
    assert "it lies in compound C2" in exc.detail


def test_address_of_another_compounds_building_is_refused(conn: Connection, tmp_path: Path) -> None:
    layers = tiny_layers()
    layers["addresses"].loc[0, "compound_id"] = "C2"  # but building C1-B1 is in C1
    exc = refused(conn, write_tiny(tmp_path / "addr.gpkg", layers))
    assert errors(exc) == {("addresses", "A1", "address_building")}
    assert "building C1-B1 belongs to compound C1, not to the address's compound C2" in exc.detail


def test_address_of_a_stored_building_is_checked_too(conn: Connection, tmp_path: Path) -> None:
    import_file(conn, write_tiny(tmp_path / "tiny.gpkg"))
    addresses = tiny_layers()["addresses"]
    addresses.loc[0, "compound_id"] = "C3"
    exc = refused(conn, write_tiny(tmp_path / "addr.gpkg", {"addresses": addresses}))
    assert errors(exc) == {("addresses", "A1", "address_building")}


def test_address_far_from_its_building_is_refused(conn: Connection, tmp_path: Path) -> None:
    layers = tiny_layers()
    layers["addresses"].loc[0, "geometry"] = Point(120.302, 31.502 + 400 * M_LAT)
    exc = refused(conn, write_tiny(tmp_path / "far.gpkg", layers))
    assert errors(exc) == {("addresses", "A1", "address_far")}
    assert "from its building C1-B1" in exc.detail


def test_duplicate_ids_across_files_name_both_files(conn: Connection, tmp_path: Path) -> None:
    layers = tiny_layers()
    buildings = layers.pop("buildings")
    polygon = buildings.iloc[[0]].copy()
    polygon["geometry"] = [box(120.3015, 31.5015, 120.3025, 31.5025)]
    folder = write_tiny(tmp_path / "folder", layers)
    buildings.to_file(folder / "buildings_points.geojson")
    polygon.to_file(folder / "buildings_polygons.geojson")
    exc = refused(conn, folder)
    assert errors(exc) == {("buildings", "C1-B1", "duplicate")}
    assert "in buildings_points.geojson and buildings_polygons.geojson" in exc.detail


def test_every_problem_is_listed_at_once_in_plain_words(conn: Connection, tmp_path: Path) -> None:
    layers = tiny_layers()
    layers["compounds"]["households"] = layers["compounds"]["households"].astype("int32")
    layers["compounds"].loc[0, "households"] = -5
    layers["compounds"].loc[1, "community_code"] = "3202140500"
    layers["buildings"].loc[1, "compound_id"] = "NOPE"
    layers["communities"].loc[0, "kind"] = "suburban"
    exc = refused(conn, write_tiny(tmp_path / "many.gpkg", layers))
    assert errors(exc) == {("compounds", "C1", "number"), ("compounds", "C2", "pattern"),
                           ("buildings", "C3-B1", "reference"), ("communities", "320214050001", "choice")}
    assert "'-5' is not a whole number >= 0" in exc.detail
    assert "np.int" not in exc.detail
    hh = next(i for i in exc.issues if i.kind == "number")
    assert (hh.column, hh.value) == ("households", "-5")


def test_the_list_is_capped_and_says_how_many_more(conn: Connection, tmp_path: Path) -> None:
    layers = tiny_layers()
    base = layers["buildings"].iloc[0]
    layers["buildings"] = gpd.GeoDataFrame(
        [{**base.to_dict(), "id": f"B{i}", "households": -1} for i in range(130)], crs=4490)
    layers.pop("addresses")
    exc = refused(conn, write_tiny(tmp_path / "cap.gpkg", layers), options=CheckOptions(max_issues=100))
    assert len(exc.issues) == 100 and exc.omitted == 30
    assert "... and 30 more error(s)" in exc.detail
    assert exc.detail.startswith(f"{tmp_path / 'cap.gpkg'}: 130 problems")


def test_api_error_body_lists_the_issues() -> None:
    from api.errors import body
    from gridmap.interchange.issues import Issue, IssueLog

    log = IssueLog()
    log.add(Issue("buildings", "B7", "compound_id", "C3", "lies 212 m outside its compound C3",
                  kind="building_outside"))
    with pytest.raises(InvalidFile) as info:
        log.raise_if_errors("city.gpkg")
    out = body(info.value)
    assert out["error"] == "invalid_file"
    assert out["issues"] == [{"layer": "buildings", "feature": "B7", "column": "compound_id", "value": "C3",
                              "problem": "lies 212 m outside its compound C3", "severity": "error",
                              "kind": "building_outside"}]


# ---------------------------------------------------------------- the command line


runner = CliRunner()


@pytest.fixture
def cli_env(scratch_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    from gridmap.storage import migrate

    migrate.upgrade(scratch_url)
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", scratch_url)
    return scratch_url


def cli(*args: str, code: int = 0) -> str:
    from gridmap.cli import app

    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())


def test_cli_dry_run_prints_the_report_and_writes_nothing(cli_env: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    near = write_tiny(tmp_path / "near.gpkg", moved_building(100))
    out = cli("import", str(near), "--dry-run")
    assert "警告" in out and "楼栋 buildings: C1-B1, column compound_id = C1" in out and "楼栋在所属小区之外" in out
    assert "dry run: nothing written" in out
    out = cli("import", str(near), "--dry-run", "--strict", code=2)
    assert "错误" in out and "C1-B1" in out and "nothing was written" in out
    monkeypatch.setenv("GRIDMAP_BUILDING_TOLERANCE_M", "50")
    assert "at most 50 m allowed" in cli("import", str(near), code=2)
    monkeypatch.delenv("GRIDMAP_BUILDING_TOLERANCE_M")
    bad = tiny_layers()
    bad["compounds"].loc[0, "households"] = -5
    bad["addresses"].loc[0, "compound_id"] = "C2"
    out = cli("import", str(write_tiny(tmp_path / "bad.gpkg", bad)), "--dry-run", code=2)
    assert "小区 compounds: C1, column households = -5" in out and "地址 addresses: A1" in out
    assert "committed" in cli("import", str(near))
