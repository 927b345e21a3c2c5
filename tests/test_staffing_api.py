"""Staffing over HTTP: a grid's staff, officers' compounds, stats, edits with history, private phones."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, text

from gridmap.storage.keys import create_key
from tests.test_staffing import COMM1, G1, G3, full_roster, staffed


@pytest.fixture
def keys(conn: Connection) -> dict[str, dict[str, str]]:
    """X-API-Key headers per role."""
    return {role: {"X-API-Key": create_key(conn, role)} for role in ("dispatcher", "planner")}


@pytest.fixture
def district(conn: Connection) -> dict:
    return staffed(conn)


def matched(client, path: str, headers: dict) -> dict:
    """``headers`` plus If-Match with the ETag a GET of ``path`` gives now."""
    return {**headers, "If-Match": client.get(path, headers=headers).headers["etag"]}


def private_phones() -> set[str]:
    return {p["phone"] for p in full_roster() if not p["phone_public"]}


def test_grid_staff_for_public_hides_private_phones(client, district, keys) -> None:
    """The public sees every name but only public phones; a dispatcher sees all phones."""
    r = client.get(f"/v1/grids/{G1}/staff")
    assert r.status_code == 200
    body = r.json()
    assert not any(phone in r.text for phone in private_phones())
    people = [body["head"], *body["heads"], body["branch"]["secretary"],
              *[p for ps in body["workers"].values() for p in ps],
              *[c["chief"] for c in body["building_chiefs"]],
              *[o[a] for o in body["officers"] for a in ("police", "urban_management", "market_regulation")]]
    assert all(p is not None for p in people)
    for p in people:
        assert ("phone" in p) == (p["id"] == "H1")
    full = client.get(f"/v1/grids/{G1}/staff", headers=keys["dispatcher"]).json()
    assert all("phone" in o["police"] for o in full["officers"])


def test_grid_staff_shape(client, district) -> None:
    """Branch and secretary, a head, the five worker roles, building chiefs, officers per compound."""
    body = client.get(f"/v1/grids/{G1}/staff").json()
    assert body["branch"]["id"] == f"PB-{G1}@p1" and body["branch"]["name"].endswith("党支部")
    assert body["branch"]["secretary"]["id"] == body["head"]["id"]
    assert {"community_police", "community_worker", "urban_management", "market_regulation",
            "sanitation"} <= set(body["workers"])
    assert body["building_chiefs"] == [{"building_id": "C1-B1", "party_group": "BG-C1-B1@p1",
                                        "chief": {"id": "B1", "name": "building_chief-B1",
                                                  "role": "building_chief", "agency": "community"}}]
    assert {o["compound_id"] for o in body["officers"]} == {"C1", "C2", "C4", "C5"}
    assert client.get(f"/v1/grids/{COMM1}999/staff").json()["error"] == "not_found"


def test_draft_plans_are_for_planners(client, conn, district, keys) -> None:
    from tests.test_staffing import partition

    partition(conn, "p2", split_col=1, publish=False)
    assert client.get(f"/v1/grids/{G3}/staff?plan=p2").status_code == 403
    draft = client.get(f"/v1/grids/{G3}/staff?plan=p2", headers=keys["planner"]).json()
    assert draft["head"] is None and draft["branch"] is None  # not staffed yet
    assert all(o["police"]["id"] == "P2" for o in draft["officers"])  # links belong to compounds
    assert client.get("/v1/stats?plan=p2", headers=keys["planner"]).json()["grid_branches"] == 0


def test_officer_compounds_need_dispatcher(client, conn, district, keys) -> None:
    assert client.get("/v1/officers/P2/compounds").status_code == 403
    body = client.get("/v1/officers/P2/compounds", headers=keys["dispatcher"]).json()
    assert {c["compound_id"] for c in body["compounds"]} == {"C3", "C10"}
    assert body["officer"]["agency"] == "police"
    assert client.get("/v1/officers/nobody/compounds", headers=keys["dispatcher"]).status_code == 404


def test_stats_are_public(client, district) -> None:
    body = client.get("/v1/stats").json()
    assert body["plan"] == "p1" and body["grids"] == 3 and body["grid_branches"] == 3
    assert body["officers_by_agency"] == {"police": 3, "urban_management": 3, "market_regulation": 3}
    assert body["uncovered_compounds"] == 0 and body["staff_by_role"]["grid_head"] == 3


def test_edits_need_planner(client, district, keys) -> None:
    new = {"id": "H9", "name": "新网格长", "role": "grid_head", "community_code": COMM1}
    assert client.post("/v1/staff", json=new).status_code == 403
    assert client.post("/v1/staff", json=new, headers=keys["dispatcher"]).status_code == 403
    assert client.delete("/v1/staff/H1", headers=keys["dispatcher"]).status_code == 403


def test_post_edits_are_recorded_in_history(client, conn: Connection, district, keys) -> None:
    """Hand grid 1's head post to a new person, then end it: rows are closed, never deleted."""
    planner = keys["planner"]
    r = client.post("/v1/staff", headers=planner, json={
        "id": "H9", "name": "新网格长", "role": "grid_head", "phone": "13912345678", "community_code": COMM1})
    assert r.status_code == 201, r.text
    assert client.post("/v1/staff", headers=planner, json={"id": "H9", "name": "x", "role": "grid_head",
                                                           "community_code": COMM1}).status_code == 422
    assert client.post("/v1/staff", headers=planner, json={  # the same person again: the same record
        "id": "H9", "name": "新网格长", "role": "grid_head", "phone": "13912345678",
        "community_code": COMM1}).status_code == 200
    head = client.get(f"/v1/grids/{G1}/staff").json()["head"]["id"]
    post_id = conn.execute(text("SELECT id FROM staff_post WHERE valid_to IS NULL AND staff_id = :s "
                                "AND role = 'grid_head' AND grid_code = :g"), {"s": head, "g": G1}).scalar()
    r = client.patch(f"/v1/posts/{post_id}", headers=matched(client, f"/v1/posts/{post_id}", planner),
                     json={"staff_id": "H9"})
    assert r.status_code == 200, r.text
    new_post = r.json()["post"]
    assert r.json()["closed"]["valid_to"] is not None and new_post["staff_id"] == "H9"
    assert client.get(f"/v1/grids/{G1}/staff").json()["head"]["id"] == "H9"
    assert client.patch(f"/v1/posts/{post_id}", headers=matched(client, f"/v1/posts/{post_id}", planner),
                        json={"staff_id": "H2"}).status_code == 422  # closed
    assert client.delete(f"/v1/posts/{new_post['id']}",
                         headers=matched(client, f"/v1/posts/{new_post['id']}", planner)).status_code == 200

    old = client.get(f"/v1/staff/{head}/history", headers=keys["dispatcher"]).json()
    closed = [p for p in old["posts"] if p["id"] == post_id][0]
    assert closed["valid_to"] is not None and closed["changed_by"].startswith("planner:gm_")
    mine = client.get("/v1/staff/H9/history", headers=keys["dispatcher"]).json()["posts"]
    assert [(p["role"], p["grid_code"], p["valid_to"] is not None) for p in mine] == [("grid_head", G1, True)]
    assert mine[0]["valid_from"] >= closed["valid_to"]
    assert client.get("/v1/staff/H9/history").status_code == 403


def test_opening_a_post_checks_the_grid(client, district, keys) -> None:
    planner = keys["planner"]
    r = client.post("/v1/staff/W2/posts", headers=planner, json={"grid_code": G1})
    assert r.status_code == 422 and "posts stay in the community" in r.json()["detail"]
    r = client.post("/v1/staff/V1/posts", headers=planner, json={"grid_code": f"{COMM1}999"})
    assert r.status_code == 422
    r = client.post("/v1/staff/V1/posts", headers=planner, json={"grid_code": G1, "role": "grid_worker"})
    assert r.status_code == 201 and r.json()["plan"] == "p1" and r.json()["changed_by"].startswith("planner")


def test_changing_role_or_leaving_closes_posts_and_links(client, conn: Connection, district, keys) -> None:
    planner = keys["planner"]
    r = client.patch("/v1/staff/H1", headers=matched(client, "/v1/staff/H1", planner), json={"phone": "13800000000"})
    assert r.json()["closed"] == {"posts": 0, "officer_links": 0}
    links = conn.execute(text("SELECT count(*) FROM officer_link WHERE staff_id = 'P1a' AND valid_to IS NULL")).scalar()
    r = client.delete("/v1/staff/P1a", headers=matched(client, "/v1/staff/P1a", planner))
    assert r.status_code == 200 and r.json()["closed"]["officer_links"] == links > 0
    assert r.json()["staff"]["active"] is False
    history = client.get("/v1/staff/P1a/history", headers=keys["dispatcher"]).json()
    assert len(history["officer_links"]) == links and all(h["valid_to"] for h in history["officer_links"])
    r = client.patch("/v1/staff/W1", headers=matched(client, "/v1/staff/W1", planner), json={"role": "grid_worker"})
    assert r.json()["closed"]["posts"] >= 1
    w1 = matched(client, "/v1/staff/W1", planner)
    assert client.patch("/v1/staff/W1", headers=w1, json={"role": "boss"}).status_code == 422
    assert client.patch("/v1/staff/W1", headers=w1,
                        json={"community_code": "320214050099"}).json()["detail"].startswith("community_code")


def test_assign_endpoint(client, conn: Connection, keys) -> None:
    from tests.test_staffing import load, partition, small_roster

    load(conn, small_roster())
    partition(conn)
    assert client.post("/v1/staffing/assign", json={"district": "320214"}).status_code == 403
    r = client.post("/v1/staffing/assign", headers=keys["planner"], json={"district": "320214", "time_limit": 1})
    assert r.status_code == 200, r.text
    assert r.json()["report"]["uncovered_compounds"] == 2
    assert client.get("/v1/stats").json()["uncovered_compounds"] == 2
