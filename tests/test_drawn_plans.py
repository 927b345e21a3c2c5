"""Grids from a file are a plan, never the published one: tiny.py with grids drawn by hand::

    lon 120.30  120.306   120.31       120.315      120.32
  31.51 +---------+--------+-------------+------------+
        | grid W1 | grid W2|   grid E1   |  grid E2   |
        | [C1]    [  C2  ] |     [C3 b1  |  b2 ]      |
  31.50 +---------+--------+-------------+------------+
        community ...001     community ...002

C2 overlaps W1 by a quarter of its area: it belongs to W2, which covers most of it. C3's
buildings lie in E1 and E2: C3 is split along them. C1's only building lies in W1.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box
from sqlalchemy import Connection, text

from gridmap.errors import PlanError, PublishRefused
from gridmap.partition.drawn import HAND_DRAWN, check_drawn
from gridmap.publishing import is_proved
from gridmap.storage import plans
from gridmap.storage.load import import_file
from tests.tiny import tiny_layers, write_tiny

WEST, EAST = "320214050001", "320214050002"
W1, W2, E1, E2 = f"{WEST}001", f"{WEST}002", f"{EAST}001", f"{EAST}002"


def drawn(plan: str = "qgis", east_split: float = 120.315) -> gpd.GeoDataFrame:
    rows = [(W1, "新光社区第1网格", WEST, 999, box(120.30, 31.50, 120.306, 31.51)),
            (W2, "新光社区第2网格", WEST, 410, box(120.306, 31.50, 120.31, 31.51)),
            (E1, "春雷社区西网格", EAST, 150, box(120.31, 31.50, east_split, 31.51)),
            (E2, "春雷社区东网格", EAST, 200, box(east_split, 31.50, 120.32, 31.51))]
    return gpd.GeoDataFrame([{"code": c, "name": n, "community_code": cc, "households": h, "plan": plan,
                              "drawn_by": "张规划", "geometry": g} for c, n, cc, h, g in rows], crs=4490)


def layers() -> dict[str, pd.DataFrame]:
    out = tiny_layers()
    out["buildings"] = gpd.GeoDataFrame([
        {"id": "C1-B1", "compound_id": "C1", "households": 320, "geometry": Point(120.302, 31.502)},
        {"id": "C3-B1", "compound_id": "C3", "households": 150, "geometry": box(120.3125, 31.503, 120.3135, 31.504)},
        {"id": "C3-B2", "compound_id": "C3", "households": 200, "geometry": Point(120.317, 31.505)},
    ], crs=4490)
    return out


@pytest.fixture
def stored(conn: Connection, tmp_path: Path) -> Connection:
    """The boundaries and compounds imported; plan 'current' (one grid per community) published."""
    import_file(conn, write_tiny(tmp_path / "base.gpkg", layers()))
    base = {k: v for k, v in layers().items() if k in ("districts", "streets", "communities")}
    base["grids"] = gpd.GeoDataFrame([
        {"code": f"{WEST}001", "name": "新光社区网格", "community_code": WEST, "households": 730, "plan": "current",
         "geometry": box(120.30, 31.50, 120.31, 31.51)},
        {"code": f"{EAST}001", "name": "春雷社区网格", "community_code": EAST, "households": 350, "plan": "current",
         "geometry": box(120.31, 31.50, 120.32, 31.51)}], crs=4490)
    import_file(conn, write_tiny(tmp_path / "current.gpkg", base))
    plans.publish(conn, "current", force=True, reason="test: unstaffed base")
    return conn


def members(conn: Connection, plan: str) -> list[tuple]:
    return [tuple(r) for r in conn.execute(text(
        "SELECT grid_code, compound_id, building_id, households FROM grid_member WHERE plan = :p "
        "ORDER BY compound_id, building_id NULLS FIRST"), {"p": plan})]


def test_membership_from_geometry_and_the_engines_checks() -> None:
    """Pure: who belongs where, households from the members, the rules of the engine's report."""
    data = layers()
    comms = data["communities"].assign(name=["新光社区", "春雷社区"])
    result = check_drawn(comms, data["compounds"], data["buildings"], drawn()).result
    got = sorted((m.grid_code, m.compound_id, m.building_id, m.households) for m in result.members.itertuples())
    assert got == [(W1, "C1", None, 320), (W2, "C2", None, 410), (E1, "C3", "C3-B1", 150),
                   (E2, "C3", "C3-B2", 200)]
    assert dict(zip(result.grids["code"], result.grids["households"])) == {W1: 320, W2: 410, E1: 150, E2: 200}
    assert list(result.grids["name"]) == list(drawn()["name"])  # the file's names are kept
    rules = sorted((v.rule, v.grid_code) for v in result.violations)
    assert rules == [("min_households", E1), ("min_households", E2)]
    assert all(HAND_DRAWN.text in v.detail and v.kind == "unrecorded" for v in result.violations)
    assert result.summary()["compounds_split"] == 1 and result.gaps_m2 < 1 and result.overlaps_m2 < 1


def test_gaps_and_compounds_in_no_grid_are_reported() -> None:
    data = layers()
    comms = data["communities"].assign(name=["新光社区", "春雷社区"])
    grids = drawn().iloc[:3].copy()
    grids.loc[2, "geometry"] = box(120.31, 31.50, 120.311, 31.51)  # E1 shrunk: C3 lies in no grid
    result = check_drawn(comms, data["compounds"], data["buildings"], grids).result
    rules = {(v.rule, v.community_code) for v in result.violations}
    assert ("tiling", EAST) in rules and ("membership", EAST) in rules
    assert "C3" not in set(result.members["compound_id"])
    assert not any(is_proved(asdict(v)) for v in result.violations if v.rule in ("tiling", "membership"))


def test_a_small_community_drawn_as_one_grid_has_a_proved_reason() -> None:
    data = layers()
    comms = data["communities"].assign(name=["新光社区", "春雷社区"])
    one = drawn().iloc[:3].copy()
    one.loc[2, "geometry"] = box(120.31, 31.50, 120.32, 31.51)  # E1 is the whole of ...002: 350 households
    one = one.assign(households=0)
    data["compounds"].loc[data["compounds"]["id"] == "C3", "households"] = 120
    result = check_drawn(comms, data["compounds"], data["buildings"], one).result
    small = [v for v in result.violations if v.grid_code == E1]
    assert [(v.rule, v.kind) for v in small] == [("min_households", "small_community")]
    assert "it forms one grid" in small[0].detail
    assert is_proved(small[0].__dict__)


def test_grids_layer_lands_as_a_draft_with_members_and_a_report(stored: Connection, tmp_path: Path) -> None:
    before = stored.execute(text("SELECT code, ST_AsText(geom) FROM grid WHERE plan = 'current' ORDER BY code")).all()
    report = import_file(stored, write_tiny(tmp_path / "qgis.gpkg", {"grids": drawn()}))
    assert report.plans["qgis"]["grids"] == 4 and report.plans["qgis"]["unproved"] == 2
    assert plans.plan_status(stored, "qgis") == "draft" and plans.current_plan(stored) == "current"
    after = stored.execute(text("SELECT code, ST_AsText(geom) FROM grid WHERE plan = 'current' ORDER BY code")).all()
    assert after == before  # the current generation is untouched
    assert members(stored, "qgis") == [(W1, "C1", None, 320), (W2, "C2", None, 410), (E1, "C3", "C3-B1", 150),
                                       (E2, "C3", "C3-B2", 200)]
    record = plans.plan_record(stored, "qgis")
    assert record["communities"] == [WEST, EAST]
    assert record["report"]["source"] == "import" and record["report"]["summary"]["grids"] == 4
    assert {v["grid_code"] for v in record["report"]["violations"]} == {E1, E2}
    assert "grid 320214050001001: the file says 999 households, its members hold 320" in record["report"]["notes"]
    stored_attrs = stored.execute(text("SELECT attrs ->> 'drawn_by' FROM grid WHERE plan = 'qgis' LIMIT 1")).scalar()
    assert stored_attrs == "张规划"
    listed = {p["name"]: p for p in plans.list_plans(stored)}
    assert (listed["qgis"]["source"], listed["qgis"]["violations"], listed["qgis"]["unproved"]) == ("import", 2, 2)
    with pytest.raises(PublishRefused, match="2 条规则违反没有经过证明的原因"):
        plans.publish(stored, "qgis")


def test_the_report_is_shown_over_http(client, stored: Connection, tmp_path: Path) -> None:
    from gridmap.storage.keys import create_key

    import_file(stored, write_tiny(tmp_path / "qgis.gpkg", {"grids": drawn()}))
    planner = {"X-API-Key": create_key(stored, "planner")}
    body = client.get("/v1/plans/qgis", headers=planner).json()
    assert (body["status"], body["report"]["source"], body["communities"]) == ("draft", "import", [WEST, EAST])
    assert [v["kind"] for v in body["report"]["violations"]] == ["unrecorded", "unrecorded"]
    listed = {p["name"]: p for p in client.get("/v1/plans", headers=planner).json()}
    assert listed["qgis"]["unproved"] == 2 and listed["current"]["status"] == "published"


def test_reimporting_replaces_the_draft_and_never_writes_a_published_plan(stored: Connection, tmp_path: Path) -> None:
    import_file(stored, write_tiny(tmp_path / "a.gpkg", {"grids": drawn()}))
    again = import_file(stored, write_tiny(tmp_path / "b.gpkg", {"grids": drawn(east_split=120.3165)}))
    assert again.layers["grids"].inserted == 4
    assert members(stored, "qgis")[2:] == [(E1, "C3", "C3-B1", 150), (E2, "C3", "C3-B2", 200)]
    width = stored.execute(text("SELECT ST_XMax(geom) FROM grid WHERE plan = 'qgis' AND code = :c"), {"c": E1}).scalar()
    assert width == pytest.approx(120.3165)
    same = import_file(stored, write_tiny(tmp_path / "c.gpkg", {"grids": drawn(east_split=120.3165)}))
    assert same.changed() == 0 and same.layers["grids"].unchanged == 4
    published = drawn("current").iloc[:2]
    with pytest.raises(PlanError, match="which is published"):
        import_file(stored, write_tiny(tmp_path / "d.gpkg", {"grids": published}))
    assert stored.execute(text("SELECT count(*) FROM grid WHERE plan = 'current'")).scalar() == 2
    into = import_file(stored, write_tiny(tmp_path / "d.gpkg", {"grids": published}), grids_plan="redraw")
    assert into.plans["redraw"]["grids"] == 2 and plans.plan_status(stored, "redraw") == "draft"


def test_a_drawn_plan_covers_its_communities_when_published(stored: Connection, tmp_path: Path) -> None:
    """Only community ...002 redrawn in the file: publishing it keeps ...001's grid from the current plan."""
    east = drawn().iloc[2:].assign(households=0)
    import_file(stored, write_tiny(tmp_path / "east.gpkg", {"grids": east}))
    assert plans.plan_communities(stored, "qgis") == [EAST]
    result = plans.publish(stored, "qgis", force=True, reason="test: unstaffed, hand-drawn bounds")
    assert result["carried"]["grids"] == 1
    codes = stored.execute(text("SELECT code, attrs ->> 'carried_from' FROM grid WHERE plan = 'qgis' "
                                "ORDER BY code")).all()
    assert [tuple(c) for c in codes] == [(f"{WEST}001", "current"), (E1, None), (E2, None)]
