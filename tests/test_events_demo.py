"""Done-when of the dispatcher's closed loop (issue #14), on the demo district (Xinwu).

Street 旺庄街道 (320214050) is partitioned, staffed and published once for the module (as in
tests/test_coverage_demo.py). Sixty events at compound points are reported over ``POST /v1/events``;
each lands in the grid ``/v1/lookup`` gives for the point and with a person of the catalogue's role or
agency; thirty are walked to ``close`` and the stats say 30 of 60 (50 %); a stale If-Match is a 412, a
transition the table forbids a 409; the timer escalates an overdue event; a second report of the same
category at the same place is a duplicate; Open311 answers with the GeoReport v2 fields.
"""

from __future__ import annotations

from collections.abc import Iterator
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

from gridmap.events.open311 import REQUEST_FIELDS, SERVICE_FIELDS
from tests.demo_plans import publish_street, rolled_back

STREET = "320214050"
PLAN = "demo-events"


@pytest.fixture(scope="module")
def demo(engine: Engine, demo_file: Path) -> Iterator[Connection]:
    with rolled_back(engine) as conn:
        publish_street(conn, demo_file, street=STREET, plan=PLAN)
        yield conn


@pytest.fixture(scope="module")
def api(demo: Connection, engine: Engine):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.deps import get_conn
    from gridmap.config import Settings
    from gridmap.storage.keys import create_key
    from tests.overrides import nested_conn

    key = create_key(demo, "dispatcher", label="events test")
    app = create_app(Settings(event_tick_seconds=0), engine=engine)
    app.dependency_overrides[get_conn] = nested_conn(demo)
    with TestClient(app) as client:
        client.headers["X-API-Key"] = key
        client.key = key
        yield client


@pytest.fixture(scope="module")
def points(demo: Connection) -> list[tuple[str, float, float]]:
    found = demo.execute(text("""SELECT k.id, ST_X(p), ST_Y(p) FROM (
            SELECT k.id, ST_PointOnSurface(k.geom) AS p FROM compound k JOIN community c ON c.code = k.community_code
            WHERE c.street_code = :s) k ORDER BY k.id LIMIT 60"""), {"s": STREET}).all()
    assert len(found) == 60
    return [(r[0], float(r[1]), float(r[2])) for r in found]


@pytest.fixture(scope="module")
def catalogue(api) -> dict[str, dict]:
    r = api.get("/v1/event-categories")
    assert r.status_code == 200
    rows = r.json()
    assert {c["code"] for c in rows} >= {"street_vending", "food_safety", "public_security", "sanitation", "other"}
    assert all(set(c) >= {"code", "name", "responsible", "limit_working_days", "version"} for c in rows)
    return {c["code"]: c for c in rows}


@pytest.fixture(scope="module")
def created(api, points, catalogue) -> list[dict]:
    codes = sorted(catalogue)
    out = []
    for k, (compound, lon, lat) in enumerate(points):
        body = {"category": codes[k % len(codes)], "description": f"测试事件 {k}", "lon": lon, "lat": lat,
                "crs": "cgcs2000", "reporter_name": "张三", "reporter_phone": "13800000000"}
        r = api.post("/v1/events", json=body)
        assert r.status_code == 201, r.text[:400]
        assert r.headers["ETag"] == f'"event-v{r.json()["version"]}"'
        out.append({**r.json(), "compound": compound, "lon": lon, "lat": lat})
    return out


def test_sixty_events_routed_to_the_lookup_grid_and_the_catalogue_person(api, created, catalogue) -> None:
    fallbacks = 0
    for ev in created:
        assert set(ev) >= {"id", "status", "grid", "assignee", "due_at", "duplicate_of"}
        assert ev["status"] == "dispatched" and ev["duplicate_of"] is None
        look = api.get("/v1/lookup", params={"lon": ev["lon"], "lat": ev["lat"], "crs": "cgcs2000"})
        assert look.status_code == 200
        assert ev["grid"]["code"] == look.json()["grid"]["code"]
        cat = catalogue[ev["category"]]
        person = ev["assignee"]
        assert set(person) >= {"id", "name", "role", "agency"} and person["id"]
        if ev["fallback"] is None:
            if cat["agency"]:
                linked = look.json()["officers"][cat["agency"]]
                assert person["agency"] == cat["agency"] and person["id"] == linked[0]["id"]
            else:
                assert person["role"] == cat["role"]
        else:
            fallbacks += 1
            assert ev["fallback"] in ("community", "street", "street_holder")
        assert ev["due_at"] > ev["reported_at"]
    assert fallbacks < len(created) // 2


def test_reporter_phone_is_private(api, created) -> None:
    ev = created[0]
    seen = api.get(f"/v1/events/{ev['id']}")
    assert seen.json()["reporter"]["phone"] == "13800000000"
    public = api.get(f"/v1/events/{ev['id']}", headers={"X-API-Key": ""})
    assert public.status_code == 200
    assert "reporter" not in public.json() and "13800000000" not in public.text
    status = api.get(f"/v1/events/{ev['id']}/status", headers={"X-API-Key": ""})
    assert status.json()["status"] == "dispatched" and "张三" not in status.text


def _act(api, ev_id: int, tag: str, **body):
    return api.post(f"/v1/events/{ev_id}/actions", json=body, headers={"If-Match": tag})


def test_thirty_closed_make_half(api, created) -> None:
    for ev in created[:30]:
        tag = api.get(f"/v1/events/{ev['id']}").headers["ETag"]
        for body in ({"action": "accept"}, {"action": "start"}, {"action": "handle", "by": "worker-A"},
                     {"action": "verify", "by": "checker-B"}, {"action": "close", "note": "办结"}):
            r = _act(api, ev["id"], tag, **body)
            assert r.status_code == 200, (body, r.text[:300])
            tag = r.headers["ETag"]
        assert r.json()["status"] == "closed"
        assert [h["action"] for h in r.json()["history"]] == ["report", "dispatch", "accept", "start", "handle",
                                                              "verify", "close"]
    stats = api.get("/v1/events/stats").json()
    assert (stats["total"], stats["closed"], stats["closure_rate"]) == (60, 30, 0.5)
    assert stats["on_time"] == 30 and stats["on_time_rate"] == 1.0
    by_grid = api.get("/v1/events/stats", params={"by": "grid"}).json()["by"]
    assert sum(g["total"] for g in by_grid) == 60 and sum(g["closed"] for g in by_grid) == 30
    by_month = api.get("/v1/events/stats", params={"by": "month"}).json()["by"]
    assert sum(g["total"] for g in by_month) == 60
    assert api.get("/v1/stats").json()["events"]["closed"] == 30


def test_stale_if_match_and_forbidden_transitions(api, created) -> None:
    ev = created[40]
    tag = api.get(f"/v1/events/{ev['id']}").headers["ETag"]
    assert _act(api, ev["id"], tag, action="accept").status_code == 200
    stale = _act(api, ev["id"], tag, action="start")
    assert stale.status_code == 412 and stale.json()["error"] == "stale_version"
    missing = api.post(f"/v1/events/{ev['id']}/actions", json={"action": "start"})
    assert missing.status_code == 428
    tag = stale.json()["current"]
    assert _act(api, ev["id"], tag, action="close").status_code == 409  # accepted → closed is not in the table
    r = _act(api, ev["id"], tag, action="start")
    r = _act(api, ev["id"], r.headers["ETag"], action="handle", by="worker-A")
    same = _act(api, ev["id"], r.headers["ETag"], action="verify", by="worker-A")
    assert same.status_code == 409 and same.json()["error"] == "invalid_transition"
    assert _act(api, ev["id"], r.headers["ETag"], action="return", reason="x").status_code == 409
    bad = _act(api, ev["id"], r.headers["ETag"], action="fly")
    assert bad.status_code == 422


def test_callback_dissatisfied_reopens(api, created) -> None:
    ev = created[0]  # closed by the walk above
    tag = api.get(f"/v1/events/{ev['id']}").headers["ETag"]
    assert _act(api, ev["id"], tag, action="callback", satisfaction=9).status_code == 422
    r = _act(api, ev["id"], tag, action="callback", satisfaction=1, note="不满意")
    assert r.status_code == 200 and r.json()["status"] == "dispatched" and r.json()["reopened"] == 1
    stats = api.get("/v1/events/stats").json()
    assert stats["closed"] == 29


def test_timer_escalates_an_overdue_event(api, demo, created) -> None:
    from datetime import datetime

    from gridmap.services.events import tick

    ev = created[50]
    due = datetime.fromisoformat(api.get(f"/v1/events/{ev['id']}").json()["due_at"])
    nested = demo.begin_nested()
    result = tick(demo, now=due + timedelta(hours=1))
    nested.commit()
    assert result["escalated"] >= 1 and ev["id"] in result["escalated_ids"]
    after = api.get(f"/v1/events/{ev['id']}").json()
    assert after["level"] == "community" and after["escalations"] == 1
    last = after["history"][-1]
    assert last["action"] == "escalate" and last["by"] == "timer"
    assert after["assignee"]["id"] != ev["assignee"]["id"] or after["assignee"]["role"] in ("party_secretary",
                                                                                            "community_worker")
    overdue = api.get("/v1/events", params={"overdue": "false", "limit": 5}).json()
    assert len(overdue["events"]) == 5 and overdue["next_cursor"]


def test_second_report_at_the_same_place_is_a_duplicate(api, created) -> None:
    ev = created[45]
    body = {"category": ev["category"], "description": "又一次", "lon": ev["lon"] + 0.0001, "lat": ev["lat"],
            "crs": "cgcs2000", "reporter_name": "李四", "reporter_phone": "13900000000"}
    r = api.post("/v1/events", json=body)
    assert r.status_code == 201
    assert r.json()["duplicate_of"] == ev["id"] and r.json()["status"] == "duplicate"
    first = api.get(f"/v1/events/{ev['id']}").json()
    assert first["reporters"][0]["name"] == "李四"


def test_open311(api, created) -> None:
    services = api.get("/open311/v2/services.json")
    assert services.status_code == 200
    assert all(set(s) == set(SERVICE_FIELDS) for s in services.json()) and len(services.json()) >= 10
    one = api.get("/open311/v2/services/food_safety.json").json()
    assert one["service_code"] == "food_safety" and one["attributes"] == []
    requests = api.get("/open311/v2/requests.json", headers={"X-API-Key": ""})
    assert requests.status_code == 200 and requests.json()
    assert all(set(r) == set(REQUEST_FIELDS) for r in requests.json())
    assert {r["status"] for r in requests.json()} <= {"open", "closed"}
    closed = api.get(f"/open311/v2/requests/{created[1]['id']}.json").json()
    assert closed[0]["status"] == "closed" and closed[0]["agency_responsible"]
    ev = created[59]
    no_key = api.post("/open311/v2/requests.json", data={"service_code": "noise", "lat": ev["lat"],
                                                          "long": ev["lon"]}, headers={"X-API-Key": ""})
    assert no_key.status_code == 401
    posted = api.post("/open311/v2/requests.json", headers={"X-API-Key": ""},
                      data={"api_key": api.key, "service_code": "illegal_construction", "lat": ev["lat"],
                            "long": ev["lon"], "description": "违建"})
    assert posted.status_code == 201, posted.text[:300]
    assert posted.json()[0]["service_request_id"].isdigit()
    discovery = api.get("/open311/v2/discovery.json").json()
    assert discovery["endpoints"][0]["specification"].endswith("GeoReport_v2")


def test_import_all_or_nothing_and_export(demo, points) -> None:
    from gridmap.errors import InvalidInput
    from gridmap.services.events_bulk import export_events, import_events

    head = "source_id,category,description,lon,lat,crs,reported_at,status,closed_at,satisfaction\n"
    (_, lon, lat), (_, lon2, lat2) = points[10], points[11]
    good = head + (f"H1,noise,夜间施工,{lon},{lat},cgcs2000,2026-03-02T09:00:00,closed,2026-03-03T10:00:00,5\n"
                   f"H2,sanitation,垃圾,{lon2},{lat2},cgcs2000,2026-03-02T09:00:00,closed,2026-03-20T10:00:00,\n")
    bad = good + f"H3,nope,x,{lon},{lat},cgcs2000,2026-03-02T09:00:00,closed,2026-03-03T10:00:00,\n" \
        + f"H4,noise,x,abc,{lat},cgcs2000,2026-03-02T09:00:00,,,\n"
    nested = demo.begin_nested()
    try:
        before = demo.execute(text("SELECT count(*) FROM event")).scalar()
        with pytest.raises(InvalidInput) as refused:
            import_events(demo, bad.encode("gbk"), source="history.csv")
        assert "row 4" in refused.value.detail and "row 5" in refused.value.detail
        assert demo.execute(text("SELECT count(*) FROM event")).scalar() == before
        assert import_events(demo, good.encode("gbk"), source="history.csv") == 2
        on_time = demo.execute(text("SELECT source_id, closed_on_time FROM event WHERE source_id IN ('H1', 'H2') "
                                    "ORDER BY 1")).all()
        assert [tuple(r) for r in on_time] == [("H1", True), ("H2", False)]  # noise: 2 working days; sanitation: 2
        with pytest.raises(InvalidInput):
            import_events(demo, good.encode(), source="again.csv")  # source ids already imported
        csv_text, n = export_events(demo)
        assert n == before + 2 and "H1,noise" in csv_text and "13800000000" not in csv_text
    finally:
        nested.rollback()


def test_public_my_event_page(api, created) -> None:
    ev = created[2]
    page = api.get("/maps/my-event", params={"id": ev["id"]}, headers={"X-API-Key": ""})
    assert page.status_code == 200 and 'data-status="closed"' in page.text  # walked to close above
    assert "13800000000" not in page.text and "张三" not in page.text and ev["assignee"]["name"] not in page.text
    assert api.get("/maps/my-event", params={"id": "99999999"}, headers={"X-API-Key": ""}).status_code == 404
    assert api.get("/maps/my-event", params={"id": "abc"}, headers={"X-API-Key": ""}).status_code == 422
    html = api.get(f"/maps/events/{ev['id']}").text
    assert "流转记录" in html and "dispatch" in html


def test_timer_runs_inside_the_app(demo, engine, created) -> None:
    """The lifespan starts the timer task (interval from Settings); it escalates an overdue event by itself."""
    import threading

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.deps import get_conn
    from gridmap.config import Settings
    from tests.overrides import nested_conn

    ev = created[55]
    before = demo.execute(text("SELECT level, escalations FROM event WHERE id = :i"), {"i": ev["id"]}).one()
    demo.execute(text("UPDATE event SET due_at = now() - interval '1 hour' WHERE id = :i"), {"i": ev["id"]})
    app = create_app(Settings(event_tick_seconds=0.2), engine=engine)
    app.dependency_overrides[get_conn] = nested_conn(demo, threading.Lock())
    with TestClient(app):
        deadline = time.monotonic() + 20
        while getattr(app.state, "last_event_tick", None) is None and time.monotonic() < deadline:
            time.sleep(0.1)
    assert app.state.last_event_tick is not None
    level, n = demo.execute(text("SELECT level, escalations FROM event WHERE id = :i"), {"i": ev["id"]}).one()
    levels = ("grid", "community", "street", "district")
    assert (level, n) == (levels[levels.index(before[0]) + 1], before[1] + 1)


def test_cli_tick_and_catalogue(demo, tmp_path, monkeypatch) -> None:
    import json
    from contextlib import nullcontext

    from typer.testing import CliRunner

    import gridmap.cli.events as cmd
    from gridmap.cli import app

    class Engine:
        def begin(self):
            return nullcontext(demo)

    monkeypatch.setattr(cmd, "engine", lambda: Engine())
    runner = CliRunner()
    nested = demo.begin_nested()
    try:
        ticked = runner.invoke(app, ["events", "tick"])
        assert ticked.exit_code == 0, ticked.output
        assert set(json.loads(ticked.stdout)) >= {"warned", "escalated", "checked"}
        out = tmp_path / "catalogue.csv"
        assert runner.invoke(app, ["events", "catalogue", "export", str(out)]).exit_code == 0
        edited = out.read_text(encoding="utf-8-sig").replace("noise,噪音扰民,police officer,2",
                                                             "noise,噪音扰民,police officer,3")
        out.write_bytes(edited.encode("gbk"))
        made = runner.invoke(app, ["events", "catalogue", "import", str(out), "--note", "noise 3 days"])
        assert made.exit_code == 0 and "catalogue version 2" in made.stdout
        shown = runner.invoke(app, ["events", "catalogue", "show"])
        assert "v2" in shown.stdout and "noise" in shown.stdout
        broken = tmp_path / "bad.csv"
        broken.write_text("code,name\nx,y\n", encoding="utf-8")
        refused = runner.invoke(app, ["events", "catalogue", "import", str(broken)])
        assert refused.exit_code == 2
    finally:
        nested.rollback()


def test_transitions_are_append_only(demo, created) -> None:
    from sqlalchemy.exc import DBAPIError

    nested = demo.begin_nested()
    try:
        with pytest.raises(DBAPIError, match="append-only"):
            demo.execute(text("UPDATE event_transition SET note = 'x' WHERE event_id = :i"), {"i": created[0]["id"]})
    finally:
        nested.rollback()
    nested = demo.begin_nested()
    try:
        with pytest.raises(DBAPIError, match="append-only"):
            demo.execute(text("DELETE FROM event_transition WHERE event_id = :i"), {"i": created[0]["id"]})
    finally:
        nested.rollback()
