"""Publishing is safe and reversible, on the tiny district (tests/tiny.py)::

    lon 120.30      120.31  120.315  120.32
  31.51 +-----------+--------+--------+
        |  grid W   | grid E (plan A) |
        |  [C1] [C2]|  E1  [C3]  E2   |   plan B redraws community ...002 only:
  31.50 +-----------+--------+--------+   E1 | E2 split at lon 120.315
        community ...001    community ...002

Plan A covers both communities and is published; plan B covers community ...002 alone.
Publishing B keeps W exactly as it was (code, polygon, members, head, party branch) and
answers from B's grids in ...002; a rollback answers exactly as before. Two concurrent
publishes, in two real transactions, give one success and one conflict.
"""

from __future__ import annotations

import copy
import threading
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box
from sqlalchemy import Connection, Engine, create_engine, text

from gridmap.errors import GenerationConflict, InvalidInput, NotFound, PlanError, PublishRefused
from gridmap.publishing import LISTED, GridRef, Readiness, is_proved, refusal, unproved
from gridmap.services.workflows import assign_scope
from gridmap.storage import plans
from gridmap.storage.grids import write_plan
from gridmap.storage.keys import create_key
from gridmap.storage.load import import_file
from tests.review import approve
from tests.tiny import tiny_layers, write_tiny

STREET, WEST, EAST = "320214050", "320214050001", "320214050002"
W, E, E1, E2 = f"{WEST}001", f"{EAST}001", f"{EAST}001", f"{EAST}002"
POINTS = {"C1": (120.3025, 31.5025), "C2": (120.307, 31.5025), "C3 west": (120.313, 31.505),
          "C3 east": (120.317, 31.505)}


def roster() -> pd.DataFrame:
    people = [("H1", "grid_head", WEST), ("H2", "grid_head", EAST), ("P1", "community_police", WEST),
              ("P2", "community_police", EAST), ("U1", "urban_management", WEST), ("M1", "market_regulation", WEST),
              ("W1", "community_worker", WEST), ("W2", "community_worker", EAST)]
    agency = {"community_police": "police", "urban_management": "urban_management",
              "market_regulation": "market_regulation"}
    return pd.DataFrame([{"id": sid, "name": f"{role}-{sid}", "role": role, "agency": agency.get(role, "community"),
                          "phone": f"1390000{i:04d}", "phone_public": False, "community_code": comm,
                          "street_code": STREET} for i, (sid, role, comm) in enumerate(people)])


def load(conn: Connection, folder: Path) -> None:
    layers = tiny_layers()
    layers["staff"] = roster()
    import_file(conn, write_tiny(folder / "tiny.gpkg", layers))


def write(conn: Connection, plan: str, grids: list[tuple], members: list[tuple], communities: list[str],
          violations: list[dict] | None = None) -> None:
    """A partition's write: grids (code, name, community, polygon), members (grid, compound, households)."""
    gdf = gpd.GeoDataFrame([{"code": c, "name": n, "community_code": cc, "geometry": g} for c, n, cc, g in grids],
                           crs=4490)
    mem = pd.DataFrame([{"grid_code": g, "compound_id": k, "building_id": None, "households": h}
                        for g, k, h in members])
    gdf["households"] = gdf["code"].map(mem.groupby("grid_code")["households"].sum()).fillna(0).astype(int)
    write_plan(conn, plan, gdf, mem, communities, {"violations": violations or []},
               params={"scope": "street", "code": STREET})
    approve(conn, plan)  # approved: these tests are about staffing and rules


def plan_a(conn: Connection) -> None:
    write(conn, "A", [(W, "新光社区第1网格", WEST, box(120.30, 31.50, 120.31, 31.51)),
                      (E, "春雷社区第1网格", EAST, box(120.31, 31.50, 120.32, 31.51))],
          [(W, "C1", 320), (W, "C2", 410), (E, "C3", 350)], [WEST, EAST])


def plan_b(conn: Connection, name: str = "B") -> None:
    write(conn, name, [(E1, "春雷社区西网格", EAST, box(120.31, 31.50, 120.315, 31.51)),
                       (E2, "春雷社区东网格", EAST, box(120.315, 31.50, 120.32, 31.51))],
          [(E1, "C3", 350)], [EAST])


@pytest.fixture
def published(conn: Connection, tmp_path: Path) -> Connection:
    """Plan A staffed by rule and published (generation 1)."""
    load(conn, tmp_path)
    plan_a(conn)
    assign_scope(conn, "street", STREET, plan="A", time_limit=1.0)
    plans.publish(conn, "A", created_by="test")
    return conn


def keys(conn: Connection) -> dict[str, dict[str, str]]:
    return {role: {"X-API-Key": create_key(conn, role)} for role in ("dispatcher", "planner")}


def answers(client, headers: dict) -> dict[str, dict]:
    out = {}
    for name, (lon, lat) in POINTS.items():
        r = client.get("/v1/lookup", params={"lon": lon, "lat": lat, "crs": "cgcs2000"}, headers=headers)
        assert r.status_code == 200, r.text
        out[name] = r.json()
    return out


def without_generation(answer: dict) -> dict:
    """A deep copy of the answer without the generation (which every publish and rollback changes)."""
    out = copy.deepcopy(answer)
    del out["grid"]["generation"]
    return out


# ---------------------------------------------------------------- the rules (pure)


def test_proved_reasons_by_kind_and_by_legacy_text() -> None:
    assert is_proved({"rule": "min_households", "kind": "counting", "detail": "…"})
    assert is_proved({"rule": "contiguity", "kind": "multipart", "detail": "…"})
    assert not is_proved({"rule": "max_households", "kind": "unproved", "detail": "…"})
    assert not is_proved({"rule": "min_households", "kind": "unrecorded", "detail": "…"})
    assert not is_proved({"rule": "tiling", "kind": "gaps_or_overlaps", "detail": "…"})
    # reports stored before violations had a kind
    assert is_proved({"rule": "min_households", "detail": "grid x has 120 households < min 300: community has "
                                                          "120 households < min 300; it forms one grid"})
    assert not is_proved({"rule": "min_households", "detail": "… within 2.0 s (not proved impossible)"})
    assert not is_proved({"rule": "max_households", "detail": "…: the solver left it out of bounds (no reason recorded)"})
    assert not is_proved({"rule": "tiling", "detail": "grids leave 20.0 m2 uncovered"})
    assert not is_proved({"rule": "membership", "detail": "compound K lies in no grid"})
    assert len(unproved([{"rule": "tiling"}, {"rule": "min_households", "kind": "proved"}])) == 1


def test_refusal_names_grids_capped_with_the_count() -> None:
    grids = [GridRef(f"3202140500010{i:02d}", f"新光社区第{i}网格") for i in range(1, 15)]
    text_ = refusal(Readiness("p2", grids, [{"rule": "tiling", "community_code": WEST, "detail": "gap"}],
                              scope=("street", STREET)))
    assert "14 个网格没有网格长" in text_ and "320214050001001 新光社区第1网格" in text_
    assert f"新光社区第{LISTED}网格" in text_ and f"新光社区第{LISTED + 1}网格" not in text_
    assert "另有 4 个" in text_ and "gridmap assign --plan p2 --street 320214050" in text_
    assert "1 条规则违反" in text_ and "--force --reason" in text_


# ---------------------------------------------------------------- refused, forced, recorded


def test_unstaffed_plan_is_refused_with_its_grids_and_forced_with_a_recorded_reason(published: Connection) -> None:
    plan_b(published)
    with pytest.raises(PublishRefused) as refused:
        plans.publish(published, "B")
    assert [g.code for g in refused.value.readiness.grids_without_head] == [E1, E2]
    assert "春雷社区西网格" in refused.value.detail and "gridmap assign --plan B --street 320214050" in refused.value.detail
    assert plans.current_plan(published) == "A" and plans.plan_status(published, "B") == "draft"
    assert published.execute(text("SELECT count(*) FROM grid WHERE plan = 'B'")).scalar() == 2  # nothing carried
    with pytest.raises(InvalidInput, match="--force needs --reason"):
        plans.publish(published, "B", force=True)
    result = plans.publish(published, "B", force=True, reason="街道同意先发布，人员下周到位", created_by="test")
    assert result["forced"] and result["previous"] == "A"
    made = plans.generation_record(published, result["generation"])
    assert (made["kind"], made["forced"], made["reason"], made["created_by"]) == \
        ("publish", True, "街道同意先发布，人员下周到位", "test")
    assert made["record"]["overridden"]["grids_without_head"] == 2
    assert made["record"]["communities"] == [EAST]


def test_a_violation_without_proved_reason_is_refused(published: Connection) -> None:
    gap = {"rule": "tiling", "community_code": EAST, "grid_code": None, "detail": "grids leave 20.0 m2 uncovered"}
    write(published, "B", [(E1, "春雷社区网格", EAST, box(120.31, 31.50, 120.3199, 31.51))], [(E1, "C3", 350)],
          [EAST], violations=[gap])
    assign_scope(published, "community", EAST, plan="B", time_limit=1.0)
    ready = plans.readiness(published, "B")
    assert ready.grids_without_head == [] and ready.unproved == [gap]
    with pytest.raises(PublishRefused, match="1 条规则违反没有经过证明的原因"):
        plans.publish(published, "B")
    proved = {**gap, "rule": "min_households", "grid_code": E1, "kind": "small_community"}
    published.execute(text("UPDATE plan SET report = jsonb_set(report, '{violations}', CAST(:v AS jsonb)) "
                           "WHERE name = 'B'"), {"v": pd.Series([proved]).to_json(orient="values")})
    assert plans.publish(published, "B")["forced"] is False


def test_only_a_draft_with_grids_is_published(published: Connection) -> None:
    with pytest.raises(PlanError, match="only a draft"):
        plans.publish(published, "A")
    with pytest.raises(PlanError, match="does not exist"):
        plans.publish(published, "nope")
    plans.ensure_plan(published, "empty")
    with pytest.raises(PlanError, match="no grids"):
        plans.publish(published, "empty")


# ---------------------------------------------------------------- one community replaced, the rest kept


def test_publishing_replaces_exactly_the_plans_communities(published: Connection) -> None:
    before = published.execute(text("""SELECT code, name, households, ST_AsText(ST_Normalize(geom)) FROM grid
                                       WHERE plan = 'A' AND community_code = :w"""), {"w": WEST}).all()
    heads_before = published.execute(text("""SELECT staff_id, role, valid_from FROM staff_post
                                             WHERE plan = 'A' AND grid_code = :w AND valid_to IS NULL
                                             ORDER BY staff_id, role"""), {"w": W}).all()
    plan_b(published)
    assign_scope(published, "community", EAST, plan="B", time_limit=1.0)
    result = plans.publish(published, "B", created_by="test")
    assert result["carried"]["grids"] == 1 and result["carried"]["communities"] == 1
    assert result["grids"] == 3 and result["own_grids"] == 2
    grids = published.execute(text("""SELECT code, name, households, ST_AsText(ST_Normalize(geom)),
                                             attrs ->> 'carried_from' FROM grid WHERE plan = 'B' ORDER BY code""")).all()
    assert [tuple(g[:4]) for g in grids if g[0] == W] == [tuple(b) for b in before]
    assert {g[0]: g[4] for g in grids} == {W: "A", E1: None, E2: None}
    members = published.execute(text("SELECT grid_code, compound_id FROM grid_member WHERE plan = 'B' "
                                      "ORDER BY compound_id")).all()
    assert [tuple(m) for m in members] == [(W, "C1"), (W, "C2"), (E1, "C3")]
    heads = published.execute(text("""SELECT staff_id, role, valid_from FROM staff_post
                                      WHERE plan = 'B' AND grid_code = :w AND valid_to IS NULL
                                      ORDER BY staff_id, role"""), {"w": W}).all()
    assert heads == heads_before and heads
    branch = published.execute(text("SELECT id, parent_id, secretary_staff_id FROM party_org "
                                     "WHERE plan = 'B' AND grid_code = :w"), {"w": W}).one()
    old = published.execute(text("SELECT parent_id, secretary_staff_id FROM party_org "
                                  "WHERE plan = 'A' AND grid_code = :w"), {"w": W}).one()
    assert branch.id == f"PB-{W}@B" and (branch.parent_id, branch.secretary_staff_id) == tuple(old)
    assert plans.plan_communities(published, "B") == [EAST]
    assert [p["status"] for p in plans.list_plans(published)] == ["retired", "published"]


def test_lookups_keep_other_communities_and_rollback_restores_every_answer(client, published: Connection) -> None:
    from gridmap.services.coverage import CoverageCache

    client.app.state.coverage = CoverageCache(edge_m=30, max_age=0.0)
    key = keys(published)
    before = answers(client, key["dispatcher"])
    plan_b(published)
    assign_scope(published, "community", EAST, plan="B", time_limit=1.0)
    g1 = plans.current_generation(published)["id"]  # ids come from a sequence that rollbacks do not reset
    seen = client.get("/v1/generations", headers=key["dispatcher"])
    assert seen.headers["ETag"] == f'"generation-current-v{g1}"'
    r = client.post("/v1/plans/B/publish", headers={**key["planner"], "If-Match": seen.headers["ETag"]})
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == f'"generation-current-v{r.json()["generation"]}"'
    after = answers(client, key["dispatcher"])
    for name in ("C1", "C2"):  # community ...001: everything as before but the generation and branch id
        old, new = without_generation(before[name]), without_generation(after[name])
        old["grid"]["plan"] = new["grid"]["plan"] = None
        old["party"]["grid_branch"]["id"] = new["party"]["grid_branch"]["id"] = None
        old["neighbours"] = new["neighbours"] = None  # W's neighbour in ...002 was redrawn
        assert new == old
        assert after[name]["staff"]["grid_head"] is not None
    assert (after["C3 west"]["grid"]["code"], after["C3 east"]["grid"]["code"]) == (E1, E2)
    assert after["C3 west"]["grid"]["plan"] == "B"
    r = client.post("/v1/generations/rollback", json={"reason": "回退测试"}, headers=key["dispatcher"])
    assert r.status_code == 403
    r = client.post("/v1/generations/rollback", json={"reason": "回退测试"}, headers=key["planner"])
    assert r.status_code == 200, r.text
    assert r.json()["plan"] == "A" and r.json()["restores"] == g1
    back = answers(client, key["dispatcher"])
    assert {k: without_generation(v) for k, v in back.items()} == {k: without_generation(v) for k, v in before.items()}
    listed = client.get("/v1/generations", headers=key["dispatcher"]).json()
    assert [(g["id"] - g1, g["plan"], g["kind"], g["previous_id"], g["restores_id"]) for g in listed] == [
        (0, "A", "publish", None, None), (1, "B", "publish", g1, None), (2, "A", "rollback", g1 + 1, g1)]
    assert listed[2]["reason"] == "回退测试" and listed[2]["created_by"].startswith("planner:")
    at_b = client.get("/v1/lookup", params={"lon": 120.317, "lat": 31.505, "crs": "cgcs2000",
                                            "at": listed[1]["valid_from"]}, headers=key["dispatcher"])
    assert at_b.json()["grid"]["code"] == E2  # history: the rolled-back generation still answers for its time
    assert [p["status"] for p in plans.list_plans(published)] == ["published", "retired"]


def test_a_draft_is_staffed_over_http_then_published(client, published: Connection) -> None:
    key = keys(published)
    plan_b(published)
    links = published.execute(text("SELECT id FROM officer_link WHERE valid_to IS NULL ORDER BY id")).scalars().all()
    r = client.post("/v1/staffing/assign", json={"community": EAST, "plan": "B", "time_limit": 1},
                    headers=key["planner"])
    assert r.status_code == 200, r.text
    assert r.json()["plan"] == "B" and r.json()["report"]["grids_without_head"] == 0
    assert r.json()["written"]["officer_links"]["closed"] == 0
    assert published.execute(text("SELECT id FROM officer_link WHERE valid_to IS NULL ORDER BY id")).scalars().all() \
        == links  # a draft's staffing leaves the live officer links alone
    staff = client.get(f"/v1/grids/{E2}/staff", params={"plan": "B"}, headers=key["planner"]).json()
    assert staff["head"]["id"] == "H2"
    assert client.get(f"/v1/grids/{E2}/staff", params={"plan": "B"}).status_code == 403  # drafts are for planners
    r = client.post("/v1/plans/B/publish", headers=key["planner"])
    assert r.status_code == 200 and r.json()["forced"] is False


def test_stats_count_what_the_current_generation_has(client, published: Connection) -> None:
    key = keys(published)
    before = client.get("/v1/stats", headers=key["planner"]).json()
    assert (before["plan"], before["grids"], before["grids_without_head"]) == ("A", 2, 0)
    plan_b(published)
    plans.publish(published, "B", force=True, reason="test: staff later")
    after = client.get("/v1/stats", headers=key["planner"]).json()
    assert (after["plan"], after["grids"], after["grids_without_head"]) == ("B", 3, 2)
    assert after["grid_branches"] == before["grid_branches"] - 1  # E's branch is gone with E; W's was carried
    assert after["compounds"] == before["compounds"]
    assign_scope(published, "community", EAST, time_limit=1.0)
    staffed = client.get("/v1/stats", headers=key["planner"]).json()
    assert (staffed["grids_without_head"], staffed["grid_branches"]) == (0, 3)


# ---------------------------------------------------------------- rollback rules


def test_rollback_walks_back_and_refuses_what_makes_no_sense(published: Connection) -> None:
    g1 = plans.current_generation(published)["id"]
    with pytest.raises(PlanError, match="is the first"):
        plans.rollback(published)
    plan_b(published)
    plans.publish(published, "B", force=True, reason="test")
    plan_b(published, "C")
    plans.publish(published, "C", force=True, reason="test")
    assert plans.rollback(published)["plan"] == "B"  # generation 4 restores 2
    assert plans.rollback(published)["plan"] == "A"  # then one further back: 5 restores 1
    with pytest.raises(PlanError, match="is the first"):
        plans.rollback(published)
    assert plans.rollback(published, to=g1 + 2, reason="forward again")["plan"] == "C"
    with pytest.raises(PlanError, match="current one"):
        plans.rollback(published, to=g1 + 5)
    with pytest.raises(PlanError, match="current already"):
        plans.rollback(published, to=g1 + 2)
    with pytest.raises(NotFound, match="does not exist"):
        plans.rollback(published, to=g1 + 99)
    with pytest.raises(PlanError, match="only a draft"):
        plans.publish(published, "B")  # a retired plan comes back by rollback, not by publish
    kinds = [(g["plan"], g["kind"], g["restores_id"]) for g in plans.list_generations(published)]
    assert kinds == [("A", "publish", None), ("B", "publish", None), ("C", "publish", None),
                     ("B", "rollback", g1 + 1), ("A", "rollback", g1), ("C", "rollback", g1 + 2)]


def test_stale_generation_is_a_conflict(client, published: Connection) -> None:
    key = keys(published)
    plan_b(published)
    g1 = plans.current_generation(published)["id"]
    with pytest.raises(GenerationConflict, match=f"you saw generation {g1 + 7}"):
        plans.publish(published, "B", expected_generation=g1 + 7, force=True, reason="x")
    r = client.post("/v1/plans/B/publish", json={"force": True, "reason": "x"},
                    headers={**key["planner"], "If-Match": '"generation-current-v0"'})
    assert r.status_code == 412 and r.json()["error"] == "stale_version"  # a stale ETag, as everywhere
    r = client.post("/v1/plans/B/publish", json={"force": True, "reason": "x", "generation": g1 + 7},
                    headers=key["planner"])
    assert r.status_code == 409 and r.json()["error"] == "generation_conflict"
    r = client.post("/v1/plans/B/publish", json={"force": True, "reason": "x"},
                    headers={**key["planner"], "If-Match": '"plan-B-v1"'})
    assert r.status_code == 422 and "generation ETag" in r.json()["detail"]
    r = client.post("/v1/plans/B/publish", headers=key["planner"])
    assert r.status_code == 409 and r.json()["error"] == "publish_refused" and E1 in r.json()["detail"]
    r = client.post("/v1/plans/B/publish", json={"force": True, "reason": "先发布", "generation": g1},
                    headers=key["planner"])
    assert r.status_code == 200 and r.json()["forced"] is True
    assert plans.current_plan(published) == "B"


# ---------------------------------------------------------------- two real transactions at once


def committed_district(url: str, folder: Path) -> Engine:
    from gridmap.storage import migrate

    migrate.upgrade(url)
    eng = create_engine(url)
    with eng.begin() as conn:
        load(conn, folder)
        plan_a(conn)
        plans.publish(conn, "A", force=True, reason="test")
        plan_b(conn, "B")
        plan_b(conn, "C")
    return eng


def race(eng: Engine, *, expected: int | None) -> dict[str, object]:
    """Publish B and C from two threads, each in its own transaction, started together; the
    winner holds its transaction open a moment so that the other really waits on it."""
    start = threading.Barrier(2)
    outcome: dict[str, object] = {}

    def publish(name: str) -> None:
        with eng.connect() as conn:
            try:
                with conn.begin():
                    start.wait()
                    outcome[name] = plans.publish(conn, name, expected_generation=expected, force=True,
                                                  reason=f"race {name}")
                    time.sleep(0.5)
            except GenerationConflict as exc:
                outcome[name] = exc

    threads = [threading.Thread(target=publish, args=(n,)) for n in ("B", "C")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcome


@pytest.mark.parametrize("seen", [True, False], ids=["seen-generation", "read-at-start"])
def test_two_concurrent_publishes_one_succeeds_one_conflicts(scratch_url: str, tmp_path: Path, seen: bool) -> None:
    eng = committed_district(scratch_url, tmp_path)
    try:
        with eng.connect() as conn:
            current = plans.current_generation(conn)["id"]
        outcome = race(eng, expected=current if seen else None)
        won = [n for n, o in outcome.items() if isinstance(o, dict)]
        lost = [n for n, o in outcome.items() if isinstance(o, GenerationConflict)]
        assert len(won) == 1 and len(lost) == 1, outcome
        with eng.connect() as conn:
            rows = conn.execute(text("SELECT plan, valid_to IS NULL FROM generation ORDER BY id")).all()
            assert [tuple(r) for r in rows] == [("A", False), (won[0], True)]
            assert plans.plan_status(conn, lost[0]) == "draft"
            carried = conn.execute(text("SELECT count(*) FROM grid WHERE plan = :p AND attrs ? 'carried_from'"),
                                   {"p": lost[0]}).scalar()
            assert carried == 0  # the loser's transaction left nothing behind
    finally:
        eng.dispose()


def test_an_unapproved_plan_is_refused_until_approved(published: Connection) -> None:
    plan_b(published)
    assign_scope(published, "community", EAST, plan="B", time_limit=1.0)
    published.execute(text("UPDATE plan SET review = NULL WHERE name = 'B'"))  # as if never submitted
    assert plans.readiness(published, "B").ready is False
    with pytest.raises(PublishRefused, match="未经审批") as refused:
        plans.publish(published, "B")
    assert "gridmap plan submit B" in refused.value.detail
    approve(published, "B")
    assert plans.publish(published, "B")["forced"] is False
