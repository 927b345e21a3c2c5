"""Issue 13's done-when on the demo district (Xinwu): the planner's redraw loop.

The district is published one grid per community, then one large community is partitioned by
the engine and published, so that it has several grids. A draft copied from the current
generation gets a compound moved to a touching grid (both grids' new households in the
answer), the diff lists exactly that compound, undo empties the diff; a stale If-Match is a
412; submit → approve → publish works and an unapproved publish is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely
from sqlalchemy import Connection, Engine, text

from tests.demo_plans import rolled_back, write_grid_per_community

DISTRICT = "320214"


@pytest.fixture(scope="module")
def demo(engine: Engine, demo_file: Path) -> Iterator[tuple[Connection, str]]:
    """The demo imported; one grid per community published; the largest community of street
    320214053 partitioned by the engine and published on top (forced: not staffed)."""
    from gridmap.services.workflows import partition_plan
    from gridmap.storage import plans
    from gridmap.storage.load import import_file

    with rolled_back(engine) as conn:
        import_file(conn, demo_file)
        hh = write_grid_per_community(conn, "district")
        plans.publish(conn, "district", created_by="test", force=True, reason="test: unstaffed")
        big = hh[hh.index.str.startswith("320214053")].sort_values().index[-1]
        partition_plan(conn, "community", big, "engine", workers=1)
        plans.publish(conn, "engine", created_by="test", force=True, reason="test: unstaffed")
        yield conn, big


@pytest.fixture(scope="module")
def api(demo, engine: Engine):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.deps import get_conn
    from gridmap.config import Settings
    from gridmap.storage.keys import create_key
    from tests.overrides import nested_conn

    conn, _ = demo
    app = create_app(Settings(), engine=engine)
    app.dependency_overrides[get_conn] = nested_conn(conn)
    with TestClient(app) as client:
        client.keys = {role: {"X-API-Key": create_key(conn, role)} for role in ("dispatcher", "planner", "approver")}
        client.keys["planner2"] = {"X-API-Key": create_key(conn, "planner")}
        yield client


def touching_pair(conn: Connection, plan: str, community: str) -> tuple[str, str, str]:
    """(compound, its grid, a grid of the same community its compound touches or is nearest to)."""
    row = conn.execute(text("""
        SELECT m.compound_id, m.grid_code, g2.code
        FROM grid_member m JOIN grid g1 ON g1.plan = m.plan AND g1.code = m.grid_code
        JOIN compound k ON k.id = m.compound_id
        JOIN grid g2 ON g2.plan = m.plan AND g2.community_code = g1.community_code AND g2.code <> g1.code
        WHERE m.plan = :plan AND g1.community_code = :c AND m.building_id IS NULL
              AND ST_Intersects(ST_Buffer(k.geom, 0.0003), g2.geom)
              AND (SELECT count(*) FROM grid_member x WHERE x.plan = m.plan AND x.grid_code = m.grid_code) > 1
        ORDER BY ST_Distance(k.geom, ST_Boundary(g2.geom)), m.compound_id LIMIT 1"""),
                       {"plan": plan, "c": community}).first()
    assert row is not None, "the engine's grids of the big community touch"
    return row[0], row[1], row[2]


def test_copy_move_diff_undo_review_publish(api, demo) -> None:
    from gridmap.services import editing
    from gridmap.storage import plans

    conn, big = demo
    copied = editing.copy(conn, "current", "redraw", author="test", scope="community", code=big)
    assert copied["version"] == 1 and copied["grids"] >= 2
    got = api.get("/v1/plans/redraw", headers=api.keys["planner"])
    assert got.status_code == 200 and got.headers["ETag"] == '"plan-v1"' and got.json()["version"] == 1
    assert "communities" in got.json() and "report" in got.json()  # the report's fields are kept

    compound, source, target = touching_pair(conn, "redraw", big)
    before = dict(conn.execute(text("SELECT code, households FROM grid WHERE plan = 'redraw'")).all())
    hh = conn.execute(text("SELECT households FROM grid_member WHERE plan = 'redraw' AND compound_id = :c"),
                      {"c": compound}).scalar()
    area_before = conn.execute(text("SELECT sum(ST_Area(geom::geography)) FROM grid WHERE plan = 'redraw'")).scalar()

    moved = api.post("/v1/plans/redraw/edits", json={"op": "move", "compounds": [compound], "to": target,
                                                      "reason": "社区书记要求"},
                     headers={**api.keys["planner"], "If-Match": got.headers["ETag"]})
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["plan"] == "redraw" and body["version"] == 2 and moved.headers["ETag"] == '"plan-v2"'
    affected = {a["code"]: a for a in body["affected"]}
    assert set(affected) == {source, target}
    assert affected[source]["households"] == before[source] - hh
    assert affected[target]["households"] == before[target] + hh
    assert all("violations" in a for a in body["affected"])
    # the compound carried its territory: the community is still tiled, the grids still valid
    area_after = conn.execute(text("SELECT sum(ST_Area(geom::geography)) FROM grid WHERE plan = 'redraw'")).scalar()
    assert abs(area_after - area_before) < 1.0
    inside = conn.execute(text("""SELECT ST_Covers(g.geom, ST_PointOnSurface(k.geom)) FROM grid g, compound k
                                  WHERE g.plan = 'redraw' AND g.code = :t AND k.id = :c"""),
                          {"t": target, "c": compound}).scalar()
    assert inside is True

    diff = api.get("/v1/plans/current/diff/redraw", headers=api.keys["planner"]).json()
    assert [(m["compound_id"], m["from"], m["to"], m["households"]) for m in diff["compounds_moved"]] == \
        [(compound, source, target, hh)]
    assert sorted(diff["grids_changed"]) == sorted([source, target]) and diff["grids_added"] == []

    stale = api.post("/v1/plans/redraw/edits", json={"op": "move", "compounds": [compound], "to": source},
                     headers={**api.keys["planner"], "If-Match": '"plan-v1"'})
    assert stale.status_code == 412 and stale.json()["error"] == "stale_version"
    assert stale.json()["current"] == '"plan-v2"'
    missing = api.post("/v1/plans/redraw/edits", json={"op": "move", "compounds": [compound], "to": source},
                       headers=api.keys["planner"])
    assert missing.status_code == 428

    undone = api.post("/v1/plans/redraw/undo", headers={**api.keys["planner"], "If-Match": '"plan-v2"'})
    assert undone.status_code == 200 and undone.json()["version"] == 3
    assert {a["code"]: a["households"] for a in undone.json()["affected"]} == {source: before[source],
                                                                                 target: before[target]}
    empty = editing.diff(conn, "current", "redraw")
    assert (empty["compounds_moved"], empty["grids_changed"], empty["grids_added"], empty["grids_removed"]) == \
        ([], [], [], [])

    redone = api.post("/v1/plans/redraw/redo", headers={**api.keys["planner"], "If-Match": '"plan-v3"'})
    assert redone.status_code == 200 and redone.json()["version"] == 4
    assert [m["compound_id"] for m in editing.diff(conn, "current", "redraw")["compounds_moved"]] == [compound]

    log = api.get("/v1/plans/redraw/log", headers=api.keys["planner"]).json()
    assert [e["op"] for e in log["entries"]] == ["copy", "move", "undo", "redo"] and log["can_undo"]
    assert log["entries"][1]["reason"] == "社区书记要求" and log["entries"][1]["households_moved"] == hh
    assert log["entries"][1]["author"].startswith("planner:")

    # the moved compound may leave a grid under the minimum, which would stop the publish: undo it
    assert api.post("/v1/plans/redraw/undo", headers={**api.keys["planner"], "If-Match": '"plan-v4"'}).status_code == 200
    assert api.post("/v1/plans/redraw/undo", headers={**api.keys["planner"], "If-Match": '"plan-v5"'}).status_code == 409
    # publishing needs an approved plan
    refused = api.post("/v1/plans/redraw/publish", headers=api.keys["planner"])
    assert refused.status_code == 409 and "未经审批" in refused.json()["detail"]
    assert api.post("/v1/plans/redraw/approve", headers=api.keys["approver"]).status_code == 409  # not submitted
    submitted = api.post("/v1/plans/redraw/submit", headers=api.keys["planner"])
    assert submitted.status_code == 200 and submitted.json()["review"] == "submitted"
    assert api.post("/v1/plans/redraw/approve", headers=api.keys["planner"]).status_code == 403
    approved = api.post("/v1/plans/redraw/approve", json={"reason": "街道同意"}, headers=api.keys["approver"])
    assert approved.status_code == 200 and approved.json()["review"] == "approved"
    from gridmap.services.workflows import assign_scope

    assign_scope(conn, "community", big, plan="redraw", time_limit=2.0)
    published = api.post("/v1/plans/redraw/publish", headers=api.keys["planner"])
    assert published.status_code == 200, published.text
    assert plans.current_plan(conn) == "redraw"
    ops = [e["op"] for e in api.get("/v1/plans/redraw/log", headers=api.keys["planner"]).json()["entries"]]
    assert ops[-2:] == ["submit", "approve"]
    # a published plan is not edited
    again = api.post("/v1/plans/redraw/edits", json={"op": "lock", "grids": [source]},
                     headers={**api.keys["planner"], "If-Match": "*"})
    assert again.status_code == 409


def test_refusals_leases_and_rejection(api, demo) -> None:
    from gridmap.services import editing

    conn, big = demo
    editing.copy(conn, "current", "second", author="test", scope="community", code=big)
    compound, source, target = touching_pair(conn, "second", big)
    planner = {**api.keys["planner"], "If-Match": "*"}
    other = conn.execute(text("SELECT code FROM grid WHERE plan = 'second' AND community_code <> :c LIMIT 1"),
                         {"c": big}).scalar()
    if other is None:  # the copy holds one community only: name a grid of another plan's community
        other = "320214053999999"
    wrong = api.post("/v1/plans/second/edits", json={"op": "move", "compounds": [compound], "to": other},
                     headers=planner)
    assert wrong.status_code == 422 and wrong.json()["error"] == "invalid_input"
    unknown = api.post("/v1/plans/second/edits", json={"op": "move", "compounds": ["nope"], "to": target},
                       headers=planner)
    assert unknown.status_code == 422 and "nope" in unknown.json()["detail"]
    assert api.post("/v1/plans/second/edits", json={"op": "move", "compounds": [compound]},
                    headers=planner).status_code == 422
    assert api.post("/v1/plans/second/edits", json={"op": "move", "compounds": [compound], "to": target},
                    headers={"If-Match": "*"}).status_code == 403

    locked = api.post("/v1/plans/second/edits", json={"op": "lock", "grids": [target]}, headers=planner)
    assert locked.status_code == 200 and locked.json()["affected"][0]["locked"] is True
    refused = api.post("/v1/plans/second/edits", json={"op": "move", "compounds": [compound], "to": target},
                       headers=planner)
    assert refused.status_code == 409 and "锁定" in refused.json()["detail"]
    # another planner touching the grid leased by the first one's lock gets 423 with the holder
    leased = api.post("/v1/plans/second/edits", json={"op": "unlock", "grids": [target]},
                      headers={**api.keys["planner2"], "If-Match": "*"})
    assert leased.status_code == 423 and leased.json()["error"] == "leased"
    assert leased.json()["holder"].startswith("planner:") and leased.json()["until"]
    assert api.post("/v1/plans/second/edits", json={"op": "unlock", "grids": [target]},
                    headers=planner).status_code == 200


    # split: the compound and its territory become a new grid; merge: it goes back, the new code is retired
    hh = dict(conn.execute(text("SELECT code, households FROM grid WHERE plan = 'second'")).all())
    split = api.post("/v1/plans/second/edits", json={"op": "split", "grid": source, "compounds": [compound]},
                     headers=planner)
    assert split.status_code == 200, split.text
    new = split.json()["affected"][-1]["code"] if split.json()["affected"][-1]["code"] != source \
        else split.json()["affected"][0]["code"]
    assert new[:12] == big and new not in hh
    got = {a["code"]: a["households"] for a in split.json()["affected"]}
    assert got[source] + got[new] == hh[source] and got[new] > 0
    merged = api.post("/v1/plans/second/edits", json={"op": "merge", "grids": [source, new]}, headers=planner)
    assert merged.status_code == 200, merged.text
    assert {a["code"]: a["households"] for a in merged.json()["affected"]} == {source: hh[source], new: 0}
    assert [a.get("removed") for a in merged.json()["affected"] if a["code"] == new] == [True]
    again = api.post("/v1/plans/second/edits", json={"op": "split", "grid": source, "compounds": [compound]},
                     headers=planner).json()
    assert new not in {a["code"] for a in again["affected"]}  # a retired code is never given out again
    assert [m["compound_id"] for m in editing.diff(conn, "current", "second")["compounds_moved"]] == [compound]
    assert api.post("/v1/plans/second/undo", headers=planner).status_code == 200
    assert api.post("/v1/plans/second/undo", headers=planner).status_code == 200  # the merge undone: split again
    assert conn.execute(text("SELECT count(*) FROM grid WHERE plan = 'second' AND code = :n"), {"n": new}).scalar() == 1

    assert api.post("/v1/plans/second/submit", headers=api.keys["planner"]).status_code == 200
    no_reason = api.post("/v1/plans/second/reject", headers=api.keys["approver"])
    assert no_reason.status_code == 422
    rejected = api.post("/v1/plans/second/reject", json={"reason": "网格长未落实"}, headers=api.keys["approver"])
    assert rejected.status_code == 200 and rejected.json()["review"] == "rejected"
    refused = api.post("/v1/plans/second/publish", headers=api.keys["planner"])
    assert refused.status_code == 409 and "驳回" in refused.json()["detail"]
    entries = api.get("/v1/plans/second/log", headers=api.keys["planner"]).json()["entries"]
    assert entries[-1]["op"] == "reject" and entries[-1]["reason"] == "网格长未落实"
    assert entries[-1]["author"].startswith("approver:")
    checked = api.get("/v1/plans/second/check", headers=api.keys["planner"]).json()
    assert checked["grids"] >= 2 and "violations" in checked
