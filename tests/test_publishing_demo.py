"""Issue 11's publish/rollback sequence on the demo district (Xinwu: 6 streets, 126 communities).

The district plan is one grid per community, staffed by rule and published; then one street
(320214053, 12 communities) is partitioned by the engine into p2, refused while unstaffed,
staffed and published. Every compound's lookup is compared before and after, and after a
rollback (HTTP, dispatcher key: full answers with phones).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

from tests.demo_plans import rolled_back, write_grid_per_community
from tests.review import approve

STREET = "320214053"
DISTRICT = "320214"


@pytest.fixture(scope="module")
def demo(engine: Engine, demo_file: Path) -> Iterator[Connection]:
    """The demo imported; plan 'district' (one grid per community) staffed and published."""
    from gridmap.services.workflows import assign_scope
    from gridmap.storage import plans
    from gridmap.storage.load import import_file

    with rolled_back(engine) as conn:
        import_file(conn, demo_file)
        write_grid_per_community(conn, "district")
        assign_scope(conn, "district", DISTRICT, plan="district", time_limit=2.0)
        approve(conn, "district")
        plans.publish(conn, "district", created_by="test")
        yield conn


@pytest.fixture(scope="module")
def api(demo: Connection, engine: Engine):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.deps import get_conn
    from gridmap.config import Settings
    from gridmap.services.coverage import CoverageCache
    from gridmap.storage.keys import create_key
    from tests.overrides import nested_conn

    app = create_app(Settings(), engine=engine)
    app.dependency_overrides[get_conn] = nested_conn(demo)
    with TestClient(app) as client:
        app.state.coverage = CoverageCache(edge_m=30, max_age=0.0)
        client.keys = {role: {"X-API-Key": create_key(demo, role)} for role in ("dispatcher", "planner")}
        yield client


def answers(api, points: list) -> dict[str, tuple[str, dict]]:
    out = {}
    for street, cid, x, y in points:
        r = api.get("/v1/lookup", params={"lon": x, "lat": y, "crs": "cgcs2000"}, headers=api.keys["dispatcher"])
        assert r.status_code == 200, (cid, r.text)
        out[cid] = (street, r.json())
    return out


def same_but_plan(answer: dict) -> dict:
    """What must not change in a street the publish did not touch: all but the generation, the
    plan's name in it, the branch's plan-keyed id and neighbours across into the redrawn street."""
    out = copy.deepcopy(answer)
    del out["grid"]["generation"], out["grid"]["plan"]
    if out["party"]["grid_branch"]:
        del out["party"]["grid_branch"]["id"]
    out["neighbours"] = [n for n in out["neighbours"] if not n["code"].startswith(STREET)]
    return out


def without_generation(answer: dict) -> dict:
    out = copy.deepcopy(answer)
    del out["grid"]["generation"]
    return out


@pytest.mark.slow
def test_one_street_published_keeps_the_others_and_rollback_restores_every_answer(api, demo: Connection) -> None:
    from gridmap.services.workflows import assign_scope, partition_plan

    points = demo.execute(text("""SELECT c.street_code, k.id, ST_X(ST_PointOnSurface(k.geom)),
                                         ST_Y(ST_PointOnSurface(k.geom))
                                  FROM compound k JOIN community c ON c.code = k.community_code ORDER BY k.id""")).all()
    before = answers(api, points)
    stats_before = api.get("/v1/stats", headers=api.keys["planner"]).json()
    assert stats_before["grids_without_head"] == 0

    partition_plan(demo, "street", STREET, "p2", workers=1)
    refused = api.post("/v1/plans/p2/publish", headers=api.keys["planner"])
    own = demo.execute(text("SELECT count(*) FROM grid WHERE plan = 'p2'")).scalar()
    assert refused.status_code == 409 and refused.json()["error"] == "publish_refused"
    assert f"{own} 个网格没有网格长" in refused.json()["detail"] and f"另有 {own - 10} 个" in refused.json()["detail"]
    assign_scope(demo, "street", STREET, plan="p2", time_limit=2.0)
    approve(demo, "p2")
    etag = api.get("/v1/generations", headers=api.keys["dispatcher"]).headers["ETag"]
    published = api.post("/v1/plans/p2/publish", headers={**api.keys["planner"], "If-Match": etag})
    assert published.status_code == 200, published.text
    assert published.json()["carried"]["communities"] == 126 - 12

    after = answers(api, points)
    others = [cid for cid, (street, _) in before.items() if street != STREET]
    inside = [cid for cid, (street, _) in before.items() if street == STREET]
    assert len(others) > 500 and len(inside) > 50
    changed = [cid for cid in others if same_but_plan(before[cid][1]) != same_but_plan(after[cid][1])]
    assert changed == []
    p2_codes = set(demo.execute(text("SELECT code FROM grid WHERE plan = 'p2' AND NOT attrs ? 'carried_from'"))
                   .scalars())
    assert {after[cid][1]["grid"]["code"] for cid in inside} <= p2_codes
    assert all(after[cid][1]["staff"]["grid_head"] for cid in inside)
    # really redrawn: the street's 12 one-per-community grids became the engine's grids of 300-500 households
    assert len({before[cid][1]["grid"]["code"] for cid in inside}) == 12 < len({after[cid][1]["grid"]["code"]
                                                                               for cid in inside})
    stats = api.get("/v1/stats", headers=api.keys["planner"]).json()
    assert (stats["plan"], stats["grids"], stats["grids_without_head"]) == ("p2", 126 - 12 + own, 0)

    rolled = api.post("/v1/generations/rollback", json={"reason": "验收: 回退到全区方案"},
                      headers=api.keys["planner"])
    assert rolled.status_code == 200 and rolled.json()["plan"] == "district"
    back = answers(api, points)
    differ = [cid for cid in before if without_generation(before[cid][1]) != without_generation(back[cid][1])]
    assert differ == []
    assert api.get("/v1/stats", headers=api.keys["planner"]).json()["grids"] == 126
