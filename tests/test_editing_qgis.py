"""A QGIS round trip: export a draft with ``gridmap export --plan``, move a compound's territory
between two grids of the exported grids layer (as QGIS would), re-import it with ``--plan``: the
change arrives as one logged ``move`` per moved compound, checked and undoable like the editor's."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
from shapely.geometry import box

from tests.test_editing_browser import W1, W2
from tests.test_editing_cli import as_json, cli_env, run  # noqa: F401  (the fixture)

#: The north strip of W1 that holds compound C4 (100 households), not C1.
NORTH = box(120.30, 31.505, 120.3045, 31.51)


def exported(folder: Path, plan: str) -> tuple[Path, gpd.GeoDataFrame]:
    folder.mkdir(exist_ok=True)
    gpkg = folder / f"{plan}.gpkg"
    run("export", str(gpkg), "--plan", plan)
    return gpkg, gpd.read_file(gpkg, layer="grids")


def redraw(gpkg: Path, grids: gpd.GeoDataFrame) -> None:
    """What a QGIS user does: reshape the polygons and save the layer over itself."""
    grids.to_file(gpkg, layer="grids", driver="GPKG")


def move_north_strip(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    geoms = list(grids.geometry)
    at = {c: i for i, c in enumerate(grids["code"])}
    geoms[at[W1]] = geoms[at[W1]].difference(NORTH)
    geoms[at[W2]] = geoms[at[W2]].union(NORTH)
    return grids.set_geometry(gpd.GeoSeries(geoms, crs=grids.crs))


def test_a_qgis_reimport_arrives_as_one_move_per_compound(cli_env: str, tmp_path: Path) -> None:
    as_json("plan", "copy", "current", "q1")
    gpkg, grids = exported(tmp_path, "q1")
    assert {W1, W2} <= set(grids["code"])
    redraw(gpkg, move_north_strip(grids))
    output = run("import", str(gpkg), "--plan", "q1")
    assert "C4" in output and "1 moves logged" in output
    assert f"网格 {W2}:" in output and f"网格 {W1}:" not in output  # 510 households: over the 500 maximum

    log = as_json("plan", "log", "q1")
    assert [e["op"] for e in log["entries"]] == ["copy", "move"]
    move = log["entries"][1]
    assert move["payload"]["compounds"] == ["C4"] and move["payload"]["from"] == [W1] and move["payload"]["to"] == W2
    assert move["households_moved"] == 100 and move["author"].startswith("cli")
    assert move["reason"] == "QGIS re-import"

    diff = as_json("plan", "diff", "current", "q1")
    assert [(m["compound_id"], m["from"], m["to"], m["households"]) for m in diff["compounds_moved"]] == \
        [("C4", W1, W2, 100)]
    assert diff["grids_added"] == [] and diff["grids_removed"] == []

    # the grids carry the polygons drawn in QGIS and the households of their new members
    after = exported(tmp_path / "after", "q1")[1]
    held = dict(zip(after["code"], after["households"]))
    assert (held[W1], held[W2]) == (320, 510)
    assert after.set_index("code").geometry[W2].buffer(1e-9).contains(NORTH)

    undone = as_json("plan", "undo", "q1")
    assert {a["code"]: a["households"] for a in undone["affected"]} == {W1: 420, W2: 410}
    assert as_json("plan", "diff", "current", "q1")["compounds_moved"] == []


def test_a_dry_run_logs_nothing_and_the_same_file_again_changes_nothing(cli_env: str, tmp_path: Path) -> None:
    as_json("plan", "copy", "current", "q2")
    gpkg, grids = exported(tmp_path, "q2")
    redraw(gpkg, move_north_strip(grids))
    assert "dry run" in run("import", str(gpkg), "--plan", "q2", "--dry-run")
    assert [e["op"] for e in as_json("plan", "log", "q2")["entries"]] == ["copy"]
    run("import", str(gpkg), "--plan", "q2")
    again = run("import", str(gpkg), "--plan", "q2")
    assert "unchanged" in again
    assert [e["op"] for e in as_json("plan", "log", "q2")["entries"]] == ["copy", "move"]


def test_added_grid_codes_still_rewrite_the_draft(cli_env: str, tmp_path: Path) -> None:
    as_json("plan", "copy", "current", "q3")
    gpkg, grids = exported(tmp_path, "q3")
    grids = move_north_strip(grids)
    at = list(grids["code"]).index(W1)
    new = grids.iloc[[at]].copy()
    new["code"], new["name"] = f"{W1[:12]}003", "新光社区第3网格"
    new = new.set_geometry(gpd.GeoSeries([NORTH], crs=grids.crs, index=new.index))
    geoms = list(grids.geometry)
    geoms[list(grids["code"]).index(W2)] = geoms[list(grids["code"]).index(W2)].difference(NORTH)
    grids = grids.set_geometry(gpd.GeoSeries(geoms, crs=grids.crs))
    redraw(gpkg, gpd.GeoDataFrame(pd.concat([grids, new], ignore_index=True), crs=grids.crs))
    run("import", str(gpkg), "--plan", "q3")
    assert [e["op"] for e in as_json("plan", "log", "q3")["entries"]] == ["copy", "rewrite"]
