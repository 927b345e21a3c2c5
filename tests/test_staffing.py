"""Staffing stored in PostGIS: assign a partitioned plan, gaps, one savepoint, redraw stability.

The tiny dataset (tests/tiny.py) with a lattice of compounds and three grids::

    lon 120.300        120.3052       120.310          120.320
  31.51 +---------------+---------------+----------------+
        | C4  C5        | C6  C7        |  C10           |
        |               |               |                |
        | C1  C2        | C8  C9        |  C3            |
  31.50 +---------------+---------------+----------------+
        grid ...001001   grid ...001002   grid ...002001
        community 320214050001           community ...002
"""

from __future__ import annotations

import tempfile
from contextlib import nullcontext
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box
from sqlalchemy import Connection, text

from gridmap.assign import validate
from gridmap.storage import plans, staffing
from gridmap.storage.grids import write_plan
from gridmap.storage.load import import_file
from gridmap.services.workflows import assign_scope
from tests.tiny import tiny_layers, write_tiny

STREET, COMM1, COMM2 = "320214050", "320214050001", "320214050002"
G1, G2, G3 = f"{COMM1}001", f"{COMM1}002", f"{COMM2}001"
CELL_X, CELL_Y = 0.0024, 0.005
LATTICE = {(0, 0): "C1", (0, 1): "C2", (0, 2): "C8", (0, 3): "C9",
           (1, 0): "C4", (1, 1): "C5", (1, 2): "C6", (1, 3): "C7"}
AGENCY = {"community_police": "police", "urban_management": "urban_management",
          "market_regulation": "market_regulation"}


def person(sid: str, role: str, community: str | None = COMM1, public: bool = False, **extra) -> dict:
    """One roster row; officer roles get their agency."""
    return {"id": sid, "name": f"{role}-{sid}", "role": role, "agency": AGENCY.get(role, "community"),
            "phone": f"139{sum(ord(ch) * 31 ** i for i, ch in enumerate(sid)) % 10 ** 8:08d}", "phone_public": public,
            "community_code": community, "street_code": STREET, **extra}


def full_roster() -> list[dict]:
    """Enough people for every rule: two heads and two officers per agency in community 1."""
    return [
        person("H1", "grid_head", public=True, party_member=True), person("H2", "grid_head"),
        person("P1a", "community_police"), person("P1b", "community_police"),
        person("U1a", "urban_management"), person("U1b", "urban_management"),
        person("M1a", "market_regulation"), person("M1b", "market_regulation"),
        person("W1", "community_worker"), person("N1", "sanitation"),
        person("V1", "volunteer"), person("V2", "volunteer"),
        person("B1", "building_chief", building_id="C1-B1"),
        person("H3", "grid_head", COMM2), person("P2", "community_police", COMM2),
        person("U2", "urban_management", COMM2), person("M2", "market_regulation", COMM2),
        person("W2", "community_worker", COMM2), person("N2", "sanitation", COMM2),
        person("B3", "building_chief", COMM2),
    ]


def small_roster() -> list[dict]:
    """Too small: one police officer for 8 compounds, none in community 2 nor the street;
    community 2's market regulation comes from the street pool (SM)."""
    return [
        person("H1", "grid_head", public=True), person("P1a", "community_police"),
        person("U1a", "urban_management"), person("U1b", "urban_management"),
        person("M1a", "market_regulation"), person("M1b", "market_regulation"),
        person("W1", "community_worker"), person("N1", "sanitation"),
        person("H3", "grid_head", COMM2), person("U2", "urban_management", COMM2),
        person("W2", "community_worker", COMM2), person("N2", "sanitation", COMM2),
        person("SM", "market_regulation", None),
    ]


def compounds() -> gpd.GeoDataFrame:
    rows = []
    for (r, c), cid in LATTICE.items():
        x, y = 120.3005 + c * CELL_X, 31.5005 + r * CELL_Y
        rows.append({"id": cid, "name": f"小区{cid}", "community_code": COMM1,
                     "households": 320 if cid == "C1" else 120, "geometry": box(x, y, x + 0.0022, y + 0.004)})
    rows.append({"id": "C3", "name": "新洲家园", "community_code": COMM2, "households": 350,
                 "geometry": box(120.312, 31.502, 120.318, 31.508)})
    rows.append({"id": "C10", "name": "新洲二村", "community_code": COMM2, "households": 150,
                 "geometry": box(120.312, 31.5085, 120.318, 31.5095)})
    return gpd.GeoDataFrame(rows, crs=4490)


def load(conn: Connection, roster: list[dict]) -> None:
    """The tiny layers with the lattice of compounds and ``roster`` as staff."""
    layers = tiny_layers()
    layers["compounds"] = compounds()
    layers["staff"] = pd.DataFrame(roster)
    if not roster:
        del layers["staff"]
    with tempfile.TemporaryDirectory() as folder:
        import_file(conn, write_tiny(Path(folder) / "tiny.gpkg", layers))


def grids(split_col: int = 2) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Three grids; lattice columns < ``split_col`` in grid 1, the rest in grid 2."""
    x = 120.3005 + split_col * CELL_X - 0.0001
    comp = compounds().set_index("id")
    g1 = [cid for (r, c), cid in LATTICE.items() if c < split_col]
    g2 = [cid for (r, c), cid in LATTICE.items() if c >= split_col]
    members = pd.DataFrame(
        [{"grid_code": code, "compound_id": cid, "building_id": None, "households": int(comp.loc[cid, "households"])}
         for code, ids in ((G1, g1), (G2, g2), (G3, ["C3", "C10"])) for cid in ids])
    hh = members.groupby("grid_code")["households"].sum()
    gdf = gpd.GeoDataFrame([
        {"code": G1, "name": "新光社区第1网格", "community_code": COMM1,
         "geometry": box(120.30, 31.50, x, 31.51)},
        {"code": G2, "name": "新光社区第2网格", "community_code": COMM1,
         "geometry": box(x, 31.50, 120.31, 31.51)},
        {"code": G3, "name": "春雷社区第1网格", "community_code": COMM2,
         "geometry": box(120.31, 31.50, 120.32, 31.51)},
    ], crs=4490)
    gdf["households"] = gdf["code"].map(hh).astype(int)
    return gdf, members


def partition(conn: Connection, plan: str = "p1", split_col: int = 2, publish: bool = True) -> None:
    """Write a partitioned plan (as the partition workflow does) and publish it before staffing
    (forced: these tests staff the current generation)."""
    gdf, members = grids(split_col)
    write_plan(conn, plan, gdf, members, [COMM1, COMM2], report={})
    if publish:
        plans.publish(conn, plan, force=True, reason="test: staffed after publishing")


def staffed(conn: Connection, roster: list[dict] | None = None) -> dict:
    """Load, partition, publish and staff the district."""
    load(conn, full_roster() if roster is None else roster)
    partition(conn)
    return assign_scope(conn, "district", "320214", time_limit=2.0)


def snapshot(conn: Connection) -> dict:
    """Every staffing row, to compare before and after."""
    return {table: conn.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all()
            for table in ("staff_post", "officer_link", "party_org")} | {
        "report": conn.execute(text("SELECT name, report FROM plan ORDER BY name")).all()}


def open_links(conn: Connection) -> pd.DataFrame:
    return pd.read_sql(text("SELECT id, staff_id, agency, compound_id FROM officer_link WHERE valid_to IS NULL "
                            "ORDER BY compound_id, agency"), conn)


def open_posts(conn: Connection, plan: str = "p1") -> pd.DataFrame:
    return pd.read_sql(text("SELECT id, staff_id, role, grid_code, building_id FROM staff_post "
                            "WHERE valid_to IS NULL AND plan = :p ORDER BY staff_id, role, grid_code"),
                       conn, params={"p": plan})


# ---------------------------------------------------------------- the rules hold


def test_full_roster_meets_the_rules(conn: Connection) -> None:
    """Every grid: a branch up the chain, a head, the five worker roles; every compound one officer per agency."""
    result = staffed(conn)
    assert result["violations"] == [] and result["gaps"] == []
    stored = staffing.read_assignment(conn, "p1")
    assert validate(stored) == []
    posts = open_posts(conn)
    for grid in (G1, G2, G3):
        roles = set(posts.loc[posts["grid_code"] == grid, "role"])
        assert {"grid_head", "community_police", "community_worker", "urban_management", "market_regulation",
                "sanitation"} <= roles, grid
    links = open_links(conn)
    assert len(links) == 10 * 3 and not links.duplicated(["compound_id", "agency"]).any()
    orgs = pd.read_sql(text("SELECT id, level, parent_id, plan, grid_code, secretary_staff_id FROM party_org"),
                       conn).set_index("id")
    assert orgs.loc[f"PB-{G1}@p1", "parent_id"] == f"CC-{COMM1}"
    assert orgs.loc[f"CC-{COMM1}", "parent_id"] == f"SC-{STREET}"
    assert orgs.loc["BG-C1-B1@p1", "parent_id"] == f"PB-{G1}@p1"
    assert (orgs["level"] == "grid_branch").sum() == 3 and (orgs["level"] == "building_group").sum() == 2
    head_g1 = posts.loc[(posts["grid_code"] == G1) & (posts["role"] == "grid_head"), "staff_id"].iloc[0]
    assert orgs.loc[f"PB-{G1}@p1", "secretary_staff_id"] == head_g1
    chiefs = posts[posts["role"] == "building_chief"].set_index("staff_id")["building_id"]
    assert chiefs.to_dict() == {"B1": "C1-B1", "B3": "C3-B1"}
    report = result["report"]
    assert report["grids"] == 3 and report["grid_branches"] == 3 and report["uncovered_compounds"] == 0
    assert report["officers_by_agency"] == {"police": 3, "urban_management": 3, "market_regulation": 3}
    assert stored.report()["grid_branches"] == 3
    staffing_record = conn.execute(text("SELECT report->'staffing' FROM plan WHERE name = 'p1'")).scalar()
    assert staffing_record["gaps"] == [] and staffing_record["report"]["grids"] == 3


def test_again_changes_nothing(conn: Connection) -> None:
    """Assigning twice keeps every post and link open as it was."""
    staffed(conn)
    before = snapshot(conn)
    again = assign_scope(conn, "district", "320214", time_limit=2.0)
    assert again["written"]["posts"]["opened"] == 0 and again["written"]["posts"]["closed"] == 0
    assert again["written"]["officer_links"] == {"opened": 0, "closed": 0, "kept": 30}
    after = snapshot(conn)
    assert after["staff_post"] == before["staff_post"] and after["officer_link"] == before["officer_link"]


# ---------------------------------------------------------------- too small a roster


def test_small_roster_gives_an_exact_gap_report(conn: Connection) -> None:
    """Uncovered compounds and overloaded officers are named exactly, and stored with the plan."""
    result = staffed(conn, small_roster())
    assert result["violations"] == []
    got = {(g["kind"], g["community_code"], g["compound_id"], g["grid_code"], g["staff_id"], g["agency"], g["role"])
           for g in result["gaps"]}
    assert got == {
        ("officer_overloaded", COMM1, None, None, "P1a", "police", None),
        ("uncovered_compound", COMM2, "C10", None, None, "police", None),
        ("uncovered_compound", COMM2, "C3", None, None, "police", None),
        ("street_fallback", COMM2, None, None, None, "market_regulation", None),
        ("role_unfilled", COMM2, None, G3, None, None, "community_police"),
        ("role_unfilled", COMM2, None, G3, None, None, "market_regulation"),
    }
    over = next(g for g in result["gaps"] if g["kind"] == "officer_overloaded")
    assert "has 8 compounds, limit 6" in over["detail"]
    assert result["report"]["uncovered_compounds"] == 2 and result["report"]["overloaded_officers"] == 1
    links = open_links(conn)
    assert set(links.loc[links["agency"] == "police", "compound_id"]) == set(LATTICE.values())
    assert set(links.loc[links["compound_id"].isin(["C3", "C10"]) & (links["agency"] == "market_regulation"),
                         "staff_id"]) == {"SM"}
    stored = conn.execute(text("SELECT report->'staffing'->'gaps' FROM plan WHERE name = 'p1'")).scalar()
    assert len(stored) == 6
    assert staffing.read_assignment(conn, "p1").report()["uncovered_compounds"] == 2


def test_failed_write_leaves_nothing_half_written(conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure after posts and branches are written rolls the whole savepoint back."""
    staffed(conn)
    held = open_links(conn).query("staff_id == 'P1a'")
    staffing.retire_staff(conn, "P1a", changed_by="test")  # the next run must move P1a's compounds
    conn.execute(text("INSERT INTO staff (id, name, role, agency, community_code, street_code) VALUES "
                      "('H4', 'new head', 'grid_head', 'community', :c, :s)"), {"c": COMM1, "s": STREET})
    before = snapshot(conn)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(staffing.assignment, "_write_links", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        assign_scope(conn, "district", "320214", time_limit=1.0)
    assert snapshot(conn) == before
    monkeypatch.undo()
    result = assign_scope(conn, "district", "320214", time_limit=1.0)
    assert result["written"]["officer_links"]["opened"] == len(held) > 0  # P1a's compounds, now P1b's
    assert set(open_links(conn).query("staff_id == 'P1b'")["compound_id"]) >= set(held["compound_id"])
    assert snapshot(conn) != before


# ---------------------------------------------------------------- stability


def test_redraw_keeps_still_valid_links_and_posts(conn: Connection) -> None:
    """A redrawn plan (column 1 moves from grid 1 to grid 2) keeps every officer link and the heads."""
    staffed(conn)
    links_before = open_links(conn)
    heads_before = open_posts(conn).query("role == 'grid_head'").set_index("grid_code")["staff_id"]
    partition(conn, "p2", split_col=1, publish=False)
    result = assign_scope(conn, "district", "320214", plan="p2", time_limit=2.0)
    assert result["violations"] == []
    assert result["written"]["officer_links"] == {"opened": 0, "closed": 0, "kept": 30}
    pd.testing.assert_frame_equal(open_links(conn), links_before)
    heads = open_posts(conn, "p2").query("role == 'grid_head'").set_index("grid_code")["staff_id"]
    assert heads.sort_index().to_dict() == heads_before.sort_index().to_dict()
    assert len(open_posts(conn, "p1")) > 0  # the published plan's posts stay as they were


def test_redraw_moves_only_invalid_links(conn: Connection) -> None:
    """An officer who left: only his compounds change hands; every other link stays open."""
    staffed(conn)
    before = open_links(conn)
    gone = set(before.loc[before["staff_id"] == "U1a", "compound_id"])
    staffing.retire_staff(conn, "U1a", changed_by="test")
    partition(conn, "p2", split_col=1, publish=False)
    assign_scope(conn, "district", "320214", plan="p2", time_limit=2.0)
    after = open_links(conn)
    kept = before[before["staff_id"] != "U1a"]
    assert set(kept["id"]) <= set(after["id"])
    moved = after[~after["id"].isin(before["id"])]
    assert set(moved["compound_id"]) == gone and set(moved["staff_id"]) == {"U1b"}
    closed = conn.execute(text("SELECT count(*) FROM officer_link WHERE staff_id = 'U1a' AND valid_to IS NOT NULL "
                               "AND changed_by = 'test'")).scalar()
    assert closed == len(gone)


# ---------------------------------------------------------------- the command line


def test_assign_command_prints_counts_and_gaps(conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    """``gridmap assign --district`` (on the test transaction) prints the counts and names the gaps."""
    from typer.testing import CliRunner

    import gridmap.cli.staffing as command
    from gridmap.cli import app

    load(conn, small_roster())
    partition(conn)

    class Engine:
        def begin(self):
            return nullcontext(conn)

    monkeypatch.setattr(command, "engine", lambda: Engine())
    result = CliRunner().invoke(app, ["assign", "--district", "320214", "--time-limit", "1"])
    assert result.exit_code == 0, result.output
    assert "grid_branches" in result.output and "uncovered_compound (2)" in result.output
    assert "compound C3 has no police officer" in result.output
    bad = CliRunner().invoke(app, ["assign", "--district", "320214", "--plan", "nope"])
    assert bad.exit_code == 2 and "does not exist" in bad.output


def test_roster_command_imports_all_or_nothing(conn: Connection, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    """``gridmap roster import`` writes a good roster and refuses a bad one naming row and column."""
    from typer.testing import CliRunner

    import gridmap.cli.staffing as command
    from gridmap.cli import app

    load(conn, [])

    class Engine:
        def begin(self):
            return nullcontext(conn)

    monkeypatch.setattr(command, "engine", lambda: Engine())
    good = tmp_path / "roster.csv"
    pd.DataFrame(full_roster()).to_csv(good, index=False)
    result = CliRunner().invoke(app, ["roster", "import", str(good)])
    assert result.exit_code == 0, result.output
    text_out = " ".join(result.output.split())
    assert "20 people" in text_out and "20 new, 0 changed" in text_out
    bad = tmp_path / "bad.csv"
    rows = full_roster()[:3] + [person("X1", "grid_head", "320214050099")]
    pd.DataFrame(rows).to_csv(bad, index=False)
    before = conn.execute(text("SELECT count(*) FROM staff")).scalar()
    result = CliRunner().invoke(app, ["roster", "import", str(bad)])
    assert result.exit_code == 2
    assert "row 5, column community_code" in " ".join(result.output.split())
    assert conn.execute(text("SELECT count(*) FROM staff")).scalar() == before
