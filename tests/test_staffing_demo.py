"""Staffing the demo district (Xinwu, synthetic roster) at street scale.

The grids are the street's communities, one grid each (the partition engine
has its own tests); what is checked here is staffing at realistic size.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from gridmap.assign import validate
from gridmap.storage import plans, staffing
from gridmap.storage.load import import_file
from gridmap.storage.export import read_layer
from gridmap.storage.grids import write_plan
from gridmap.storage.schema import community, compound
from gridmap.services.workflows import assign_scope

STREET = "320214050"


def one_grid_per_community(conn: Connection, plan: str) -> None:
    comm = read_layer(conn, "communities", where=community.c.street_code == STREET)
    comps = read_layer(conn, "compounds", where=compound.c.community_code.in_(list(comm["code"])))
    hh = comps.groupby("community_code")["households"].sum()
    grids = comm.assign(code=comm["code"] + "001", community_code=comm["code"],
                        households=comm["code"].map(hh).fillna(0).astype(int))
    members = comps.assign(grid_code=comps["community_code"] + "001", compound_id=comps["id"], building_id=None)
    write_plan(conn, plan, grids[["code", "name", "community_code", "households", "geometry"]],
               members[["grid_code", "compound_id", "building_id", "households"]], list(comm["code"]), {})


@pytest.mark.slow
def test_demo_street_is_staffed_by_rule(conn: Connection, demo_file: Path) -> None:
    """Every rule holds or gave way with a named gap; a second run keeps every link."""
    import_file(conn, demo_file)
    one_grid_per_community(conn, "demo")
    plans.publish(conn, "demo", force=True, reason="test: staffed after publishing")
    t0 = time.perf_counter()
    result = assign_scope(conn, "street", STREET, time_limit=5.0)
    elapsed = time.perf_counter() - t0
    assert result["violations"] == [], result["violations"][:3]
    report = result["report"]
    assert report["grid_branches"] == report["grids"] > 0
    codes = list(staffing.scope_communities(conn, "street", STREET)[0]["code"])
    assert validate(staffing.read_assignment(conn, "demo", codes)) == []
    uncovered = {g["compound_id"] for g in result["gaps"] if g["kind"] == "uncovered_compound"}
    compounds = conn.execute(text("SELECT count(*) FROM compound k JOIN community c ON c.code = k.community_code "
                                  "WHERE c.street_code = :s"), {"s": STREET}).scalar()
    links = conn.execute(text("SELECT count(*) FROM officer_link WHERE valid_to IS NULL")).scalar()
    assert links + len([g for g in result["gaps"] if g["kind"] == "uncovered_compound"]) == compounds * 3
    again = assign_scope(conn, "street", STREET, time_limit=5.0)
    assert again["written"]["officer_links"]["closed"] == 0
    print(f"{report['grids']} grids, {compounds} compounds, {len(uncovered)} uncovered, {elapsed:.1f}s")
