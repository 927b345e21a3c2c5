"""The HTTP skeleton: health, errors as JSON, roles through API keys."""

from __future__ import annotations

from sqlalchemy import Connection

from gridmap.storage.keys import create_key


def test_health(client) -> None:
    r = client.get("/v1/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_unknown_route_is_json_404(client) -> None:
    r = client.get("/v1/nope")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"


def test_plans_need_planner_key(client, conn: Connection) -> None:
    assert client.get("/v1/plans").status_code == 403
    assert client.get("/v1/plans", headers={"X-API-Key": "gm_wrong"}).status_code == 401
    dispatcher = create_key(conn, "dispatcher")
    assert client.get("/v1/plans", headers={"X-API-Key": dispatcher}).json()["error"] == "forbidden"
    planner = create_key(conn, "planner")
    r = client.get("/v1/plans", headers={"Authorization": f"Bearer {planner}"})
    assert r.status_code == 200 and r.json() == []
