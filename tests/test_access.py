"""Access audit: every operation of the API classified, and each surface tried anonymously.

Anonymous callers see the published plan and public fields only; drafts (their grids, staff, maps,
reports) need a planner key, the officer roster and history a dispatcher key. A new route must be
added to one of the tables below, or test_every_operation_is_classified fails.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Connection

from gridmap.storage.keys import create_key
from tests.test_staffing import G1, G3, full_roster, partition, staffed

#: Operations anyone may call (public fields only).
PUBLIC = {
    ("get", "/v1/health"), ("get", "/v1/grids/{code}/staff"), ("get", "/v1/stats"), ("get", "/v1/lookup"),
    ("get", "/maps/coverage"), ("get", "/maps/lookup"), ("get", "/maps/service-points"),
    ("get", "/maps/data/grids"), ("get", "/maps/data/compounds"), ("get", "/maps/login"),
    ("post", "/v1/session"), ("delete", "/v1/session"),
    # events: the catalogue, statistics and a resident's view of an event (no personal data) are public
    ("get", "/v1/event-categories"), ("get", "/v1/events/stats"), ("get", "/v1/events/{event_id}/status"),
    ("get", "/v1/events/{event_id}"), ("get", "/maps/events"), ("get", "/maps/my-event"),
    ("get", "/maps/events/{event_id}"),
    # Open311 GeoReport v2: reading is public; posting needs a dispatcher's api_key (a form field, per the spec)
    ("get", "/open311/v2/discovery.json"), ("get", "/open311/v2/services.json"),
    ("get", "/open311/v2/services/{code}.json"), ("get", "/open311/v2/requests.json"),
    ("post", "/open311/v2/requests.json"), ("get", "/open311/v2/requests/{request_id}.json"),
}
#: Operations refused to anonymous callers, with a concrete request and the lowest role they need.
PROTECTED = {
    ("get", "/v1/plans"): ("/v1/plans", "planner"),
    ("get", "/v1/plans/{plan}"): ("/v1/plans/p1", "planner"),
    ("post", "/v1/plans/{plan}/partition"): ("/v1/plans/p9/partition", "planner"),
    ("post", "/v1/plans/{plan}/publish"): ("/v1/plans/p2/publish", "planner"),
    ("get", "/v1/generations"): ("/v1/generations", "dispatcher"),
    ("get", "/v1/generations/{generation_id}"): ("/v1/generations/1", "dispatcher"),
    ("post", "/v1/generations/rollback"): ("/v1/generations/rollback", "planner"),
    ("get", "/v1/officers/{staff_id}/compounds"): ("/v1/officers/P2/compounds", "dispatcher"),
    ("get", "/v1/staff/{staff_id}/history"): ("/v1/staff/H1/history", "dispatcher"),
    ("get", "/v1/staff"): ("/v1/staff", "planner"),
    ("post", "/v1/staff"): ("/v1/staff", "planner"),
    ("get", "/v1/staff/{staff_id}"): ("/v1/staff/H1", "planner"),
    ("patch", "/v1/staff/{staff_id}"): ("/v1/staff/H1", "planner"),
    ("delete", "/v1/staff/{staff_id}"): ("/v1/staff/H1", "planner"),
    ("post", "/v1/staff/{staff_id}/posts"): ("/v1/staff/H1/posts", "planner"),
    ("get", "/v1/posts/{post_id}"): ("/v1/posts/1", "planner"),
    ("patch", "/v1/posts/{post_id}"): ("/v1/posts/1", "planner"),
    ("delete", "/v1/posts/{post_id}"): ("/v1/posts/1", "planner"),
    ("post", "/v1/staffing/assign"): ("/v1/staffing/assign", "planner"),
    ("post", "/v1/lookup/batch"): ("/v1/lookup/batch", "dispatcher"),
    ("get", "/maps/officers"): ("/maps/officers?tiles=none", "dispatcher"),
    ("post", "/v1/plans/{plan}/edits"): ("/v1/plans/p2/edits", "planner"),
    ("post", "/v1/plans/{plan}/undo"): ("/v1/plans/p2/undo", "planner"),
    ("post", "/v1/plans/{plan}/redo"): ("/v1/plans/p2/redo", "planner"),
    ("get", "/v1/plans/{plan}/log"): ("/v1/plans/p2/log", "planner"),
    ("get", "/v1/plans/{plan}/check"): ("/v1/plans/p2/check", "planner"),
    ("get", "/v1/plans/{a}/diff/{b}"): ("/v1/plans/current/diff/p2", "planner"),
    ("post", "/v1/plans/{plan}/submit"): ("/v1/plans/p2/submit", "planner"),
    ("post", "/v1/plans/{plan}/approve"): ("/v1/plans/p2/approve", "approver"),
    ("post", "/v1/plans/{plan}/reject"): ("/v1/plans/p2/reject", "approver"),
    ("get", "/v1/plans/{plan}/map"): ("/v1/plans/p2/map", "planner"),
    ("get", "/maps/editor"): ("/maps/editor?plan=p2", "planner"),
    ("post", "/v1/events"): ("/v1/events", "dispatcher"),
    ("get", "/v1/events"): ("/v1/events", "dispatcher"),
    ("post", "/v1/events/{event_id}/actions"): ("/v1/events/1/actions", "dispatcher"),
    ("get", "/maps/events.json"): ("/maps/events.json", "dispatcher"),
}
BELOW = {"approver": "planner", "planner": "dispatcher", "dispatcher": None}
#: Draft plan p2 named on every surface that takes a plan.
DRAFT_SURFACES = [f"/v1/grids/{G3}/staff?plan=p2", "/v1/stats?plan=p2", "/maps/coverage?tiles=none&plan=p2",
                  "/maps/data/grids?bbox=120,31,121,32&plan=p2", "/maps/data/compounds?bbox=120,31,121,32&plan=p2",
                  "/maps/lookup?lon=120.3&lat=31.5&crs=wgs84&tiles=none&plan=p2", "/v1/plans/p2"]


@pytest.fixture
def district(conn: Connection) -> dict:
    out = staffed(conn)
    partition(conn, "p2", split_col=1, publish=False)
    return out


@pytest.fixture
def keys(conn: Connection) -> dict[str, dict[str, str]]:
    return {role: {"X-API-Key": create_key(conn, role)} for role in ("dispatcher", "planner", "approver")}


def test_every_operation_is_classified(client) -> None:
    ops = {(method, path) for path, item in client.get("/openapi.json").json()["paths"].items() for method in item}
    assert ops == PUBLIC | set(PROTECTED), ops ^ (PUBLIC | set(PROTECTED))


@pytest.mark.parametrize("op", sorted(PROTECTED))
def test_protected_operations_refuse_anonymous_and_lower_roles(client, district, keys, op) -> None:
    method, _ = op
    url, role = PROTECTED[op]
    body = {} if method in ("post", "patch") else None
    r = client.request(method.upper(), url, json=body, headers={"Accept": "application/json"})
    assert r.status_code == 403 and r.json()["error"] == "forbidden", (op, r.status_code, r.text[:200])
    lower = BELOW[role]
    if lower:
        r = client.request(method.upper(), url, json=body, headers={**keys[lower], "Accept": "application/json"})
        assert r.status_code == 403, (op, lower, r.status_code)
    r = client.request(method.upper(), url, json=body, headers={"X-API-Key": "gm_not_a_key"})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized", op


@pytest.mark.parametrize("url", DRAFT_SURFACES)
def test_drafts_are_for_planners_on_every_surface(client, district, keys, url) -> None:
    anonymous = client.get(url)
    assert anonymous.status_code == 403 and "planner" in anonymous.json()["detail"], (url, anonymous.text[:200])
    assert client.get(url, headers=keys["dispatcher"]).status_code == 403
    assert client.get(url, headers=keys["planner"]).status_code in (200, 404), url  # 404: the point is in no grid


def test_published_plan_is_public_and_private_phones_stay_private(client, district, keys) -> None:
    private = {p["phone"] for p in full_roster() if not p["phone_public"] and p.get("phone")}
    assert private
    for url in (f"/v1/grids/{G1}/staff", f"/v1/grids/{G1}/staff?plan=p1", "/v1/stats?plan=p1",
                "/maps/coverage?tiles=none", "/maps/data/grids?bbox=119,30,122,33&plan=p1",
                "/maps/service-points?tiles=none"):
        r = client.get(url)
        assert r.status_code == 200, (url, r.text[:200])
        assert not any(phone in r.text for phone in private), url
    seen = client.get(f"/v1/grids/{G1}/staff", headers=keys["dispatcher"]).text
    assert any(phone in seen for phone in private)


def test_unknown_plans_say_so(client, district) -> None:
    assert client.get(f"/v1/grids/{G1}/staff?plan=nope").status_code == 404
    assert client.get("/maps/coverage?tiles=none&plan=nope").status_code == 409
