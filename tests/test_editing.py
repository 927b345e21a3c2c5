"""Plan edits on the tiny district: the undo stack, the diff, a rewrite ending the stack and the review."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from gridmap.editing.diff import compare
from gridmap.editing.stack import replay, to_redo, to_undo
from gridmap.errors import InvalidInput, InvalidTransition, StaleVersion
from tests.test_editing_browser import W1, W2, WEST, load


def rows(*ops: str) -> list[dict]:
    return [{"version": i + 1, "op": op} for i, op in enumerate(ops)]


def test_the_undo_stack_replays_the_log() -> None:
    assert replay(rows("copy", "move", "split")) == ([2, 3], [])
    assert replay(rows("copy", "move", "split", "undo")) == ([2], [3])
    assert replay(rows("copy", "move", "split", "undo", "undo", "redo")) == ([2], [3])
    assert replay(rows("copy", "move", "undo", "lock")) == ([4], [])  # a new edit clears the redo side
    assert replay(rows("rewrite", "move", "rewrite", "move")) == ([4], [])
    assert replay(rows("copy", "move", "submit", "approve")) == ([2], [])  # review steps are not undone
    with pytest.raises(InvalidTransition):
        to_undo(rows("copy", "submit"))
    with pytest.raises(InvalidTransition):
        to_redo(rows("copy", "move"))


def test_compare_lists_moved_units_and_grid_changes() -> None:
    a = {("K1", None): ("G1", 100), ("K2", None): ("G1", 50), ("K3", "B1"): ("G2", 30)}
    b = {("K1", None): ("G2", 100), ("K2", None): ("G1", 50), ("K3", "B1"): ("G3", 30)}
    grids_a = {"G1": {"households": 150, "shape": "x"}, "G2": {"households": 30, "shape": "y"}}
    grids_b = {"G1": {"households": 50, "shape": "x2"}, "G2": {"households": 100, "shape": "y2"},
               "G3": {"households": 30, "shape": "z"}}
    out = compare(a, b, grids_a, grids_b)
    assert out["compounds_moved"] == [
        {"compound_id": "K1", "building_id": None, "from": "G1", "to": "G2", "households": 100},
        {"compound_id": "K3", "building_id": "B1", "from": "G2", "to": "G3", "households": 30}]
    assert (out["grids_added"], out["grids_removed"], out["grids_changed"]) == (["G3"], [], ["G1", "G2"])
    assert compare(a, a, grids_a, grids_a)["compounds_moved"] == []


def test_a_rewrite_clears_the_review_and_ends_the_undo_stack(conn: Connection, tmp_path: Path) -> None:
    from gridmap.services import editing
    from gridmap.storage import plans
    from gridmap.storage.grids import read_grids, read_members, write_plan

    load(conn, tmp_path)
    state = editing.plan_state(conn, "draft")
    assert state["version"] == 2 and editing.log(conn, "draft")["entries"][0]["op"] == "rewrite"
    moved = editing.move(conn, "draft", to=W2, compounds=["C4"], author="a", expected_version=2)
    with pytest.raises(StaleVersion):
        editing.move(conn, "draft", to=W1, compounds=["C4"], author="a", expected_version=2)
    editing.submit(conn, "draft", author="a", expected_version=moved["version"])
    editing.decide(conn, "draft", approve=True, author="b")
    assert plans.readiness(conn, "draft").approved
    grids, members = read_grids(conn, "draft"), read_members(conn, "draft")
    write_plan(conn, "draft", grids[grids["community_code"] == WEST], members[members["grid_code"].str[:12] == WEST],
               [WEST], {})  # a partition writes the west community again
    assert editing.plan_state(conn, "draft")["review"] is None
    assert not plans.readiness(conn, "draft").approved
    with pytest.raises(InvalidTransition):
        editing.undo(conn, "draft", author="a")
    stored = conn.execute(text("SELECT op FROM plan_edit WHERE plan = 'draft' ORDER BY version")).scalars().all()
    assert stored == ["rewrite", "move", "submit", "approve", "rewrite"]


def test_a_building_of_a_split_compound_moves_with_its_territory(conn: Connection, tmp_path: Path) -> None:
    import geopandas as gpd
    import pandas as pd
    from shapely.geometry import box

    from gridmap.services import editing
    from gridmap.storage.grids import write_plan
    from gridmap.storage.load import import_file
    from tests.test_drawn_plans import E1, E2, drawn, layers
    from tests.tiny import write_tiny

    data = layers()
    extra = gpd.GeoDataFrame([{"id": "C5", "name": "东苑", "community_code": "320214050002", "households": 100,
                               "geometry": box(120.3185, 31.5085, 120.3195, 31.5095), "provenance": "synthetic"}],
                             geometry="geometry", crs=4490)
    data["compounds"] = pd.concat([data["compounds"], extra], ignore_index=True)
    import_file(conn, write_tiny(tmp_path / "split.gpkg", data))
    grids = drawn("split").drop(columns=["plan", "drawn_by"])
    members = pd.DataFrame([(W1, "C1", None, 320), (W2, "C2", None, 410), (E1, "C3", "C3-B1", 150),
                            (E2, "C3", "C3-B2", 200), (E2, "C5", None, 100)],
                           columns=["grid_code", "compound_id", "building_id", "households"])
    grids["households"] = grids["code"].map(members.groupby("grid_code")["households"].sum())
    write_plan(conn, "split", grids, members, sorted(set(grids["community_code"])), {})
    area = "SELECT code, ST_Area(geom::geography) FROM grid WHERE plan = 'split' AND code IN (:a, :b)"
    before = dict(conn.execute(text(area), {"a": E1, "b": E2}).all())

    moved = editing.move(conn, "split", to=E1, buildings=["C3-B2"], author="a")
    assert {a["code"]: a["households"] for a in moved["affected"]} == {E1: 350, E2: 100}
    after = dict(conn.execute(text(area), {"a": E1, "b": E2}).all())
    assert after[E1] > before[E1] and after[E2] < before[E2]  # the building took its territory along
    assert abs(sum(after.values()) - sum(before.values())) < 1.0  # and nothing was lost or doubled
    held = conn.execute(text("""SELECT ST_Covers(geom, ST_SetSRID(ST_MakePoint(120.317, 31.505), 4490))
                                FROM grid WHERE plan = 'split' AND code = :c"""), {"c": E1}).scalar()
    assert held is True
    with pytest.raises(InvalidInput, match="empties it"):
        editing.move(conn, "split", to=E1, compounds=["C5"], author="a")
    editing.undo(conn, "split", author="a")
    assert dict(conn.execute(text(area), {"a": E1, "b": E2}).all()) == pytest.approx(before)
