"""Edits never lost: ETags on every editable resource, If-Match on every change (428 missing, 412 stale,
checked in storage under the row lock), the roster listing, idempotent creation, and the database
constraints that hold when two transactions really run at once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Connection, create_engine, text

from gridmap.errors import StaleVersion
from gridmap.storage import staffing
from gridmap.storage.keys import create_key
from tests.test_staffing import COMM1, G1, staffed


@pytest.fixture
def district(conn: Connection) -> dict:
    return staffed(conn)


@pytest.fixture
def planner(conn: Connection) -> dict[str, str]:
    return {"X-API-Key": create_key(conn, "planner")}


def test_staff_list_is_paged_filtered_and_for_planners(client, conn, district, planner) -> None:
    assert client.get("/v1/staff").status_code == 403
    assert client.get("/v1/staff", headers={"X-API-Key": create_key(conn, "dispatcher")}).status_code == 403
    everyone = client.get("/v1/staff?limit=1000", headers=planner).json()
    total = conn.execute(text("SELECT count(*) FROM staff")).scalar()
    assert everyone["total"] == total == len(everyone["items"]) > 5
    page = client.get("/v1/staff?limit=2&offset=2", headers=planner).json()
    assert page["total"] == total and [p["id"] for p in page["items"]] == [p["id"] for p in everyone["items"][2:4]]
    heads = client.get("/v1/staff?role=grid_head", headers=planner).json()
    assert heads["total"] >= 1 and all(p["role"] == "grid_head" for p in heads["items"])
    assert all("version" in p for p in heads["items"])
    mine = client.get(f"/v1/staff?community_code={COMM1}&q=H", headers=planner).json()
    assert all(p["community_code"] == COMM1 for p in mine["items"])
    for bad in ("limit=0", "limit=5000", "offset=-1", "role=boss", "community_code=12"):
        r = client.get(f"/v1/staff?{bad}", headers=planner)
        assert r.status_code == 422 and r.json()["error"] == "invalid_input", bad
    assert client.get("/v1/staff?q=%25", headers=planner).status_code == 200  # a literal %, no crash


def test_staff_etag_and_if_match(client, district, planner) -> None:
    r = client.get("/v1/staff/H1", headers=planner)
    assert r.status_code == 200 and r.headers["etag"] == f'"staff-v{r.json()["version"]}"'
    tag = r.headers["etag"]
    missing = client.patch("/v1/staff/H1", headers=planner, json={"phone": "13800000001"})
    assert missing.status_code == 428 and missing.json()["error"] == "precondition_required"
    wrong_kind = client.patch("/v1/staff/H1", headers={**planner, "If-Match": '"post-v1"'}, json={"phone": "1"})
    assert wrong_kind.status_code == 422
    first = client.patch("/v1/staff/H1", headers={**planner, "If-Match": tag}, json={"phone": "13800000001"})
    assert first.status_code == 200 and first.headers["etag"] != tag
    second = client.patch("/v1/staff/H1", headers={**planner, "If-Match": tag}, json={"phone": "13800000002"})
    assert second.status_code == 412 and second.json()["error"] == "stale_version"
    assert second.json()["current"] == first.headers["etag"]
    assert client.get("/v1/staff/H1", headers=planner).json()["phone"] == "13800000001"  # nothing lost
    assert client.delete("/v1/staff/H1", headers=planner).status_code == 428
    assert client.delete("/v1/staff/H1", headers={**planner, "If-Match": tag}).status_code == 412
    assert client.delete("/v1/staff/H1", headers={**planner, "If-Match": "*"}).status_code == 200
    assert client.get("/v1/staff/nobody", headers=planner).status_code == 404


def test_post_etag_and_handover_once(client, conn, district, planner) -> None:
    post_id = conn.execute(text("SELECT id FROM staff_post WHERE valid_to IS NULL AND role = 'grid_head' "
                                "AND grid_code = :g ORDER BY id LIMIT 1"), {"g": G1}).scalar()
    client.post("/v1/staff", headers=planner, json={"id": "H8", "name": "甲", "role": "grid_head",
                                                    "community_code": COMM1})
    client.post("/v1/staff", headers=planner, json={"id": "H9", "name": "乙", "role": "grid_head",
                                                    "community_code": COMM1})
    got = client.get(f"/v1/posts/{post_id}", headers=planner)
    tag = got.headers["etag"]
    assert tag == f'"post-v{got.json()["version"]}"'
    assert client.patch(f"/v1/posts/{post_id}", headers=planner, json={"staff_id": "H8"}).status_code == 428
    one = client.patch(f"/v1/posts/{post_id}", headers={**planner, "If-Match": tag}, json={"staff_id": "H8"})
    two = client.patch(f"/v1/posts/{post_id}", headers={**planner, "If-Match": tag}, json={"staff_id": "H9"})
    assert (one.status_code, two.status_code) == (200, 412)
    assert one.json()["post"]["replaces_id"] == post_id
    heads = conn.execute(text("SELECT staff_id FROM staff_post WHERE valid_to IS NULL AND role = 'grid_head' "
                              "AND grid_code = :g AND replaces_id = :p"), {"g": G1, "p": post_id}).scalars().all()
    assert heads == ["H8"]
    assert client.delete(f"/v1/posts/{post_id}", headers={**planner, "If-Match": "*"}).status_code == 422  # closed
    assert client.get("/v1/posts/999999999", headers=planner).status_code == 404


def test_creation_is_idempotent(client, conn, district, planner) -> None:
    person = {"id": "V9", "name": "志愿者", "role": "volunteer", "community_code": COMM1}
    first = client.post("/v1/staff", headers=planner, json=person)
    again = client.post("/v1/staff", headers=planner, json=person)
    assert (first.status_code, again.status_code) == (201, 200) and first.json() == again.json()
    other = client.post("/v1/staff", headers=planner, json={**person, "name": "别人"})
    assert other.status_code == 422 and "already exists" in other.json()["detail"]
    post = {"grid_code": G1}
    a = client.post("/v1/staff/V9/posts", headers=planner, json=post)
    b = client.post("/v1/staff/V9/posts", headers=planner, json=post)
    assert (a.status_code, b.status_code) == (201, 200) and a.json()["id"] == b.json()["id"]
    assert conn.execute(text("SELECT count(*) FROM staff_post WHERE staff_id = 'V9'")).scalar() == 1


# ---------------------------------------------------------------- real concurrent transactions


@pytest.fixture
def committed(scratch_url: str):
    """An engine on a migrated scratch database holding one committed person with one post."""
    from gridmap.storage import migrate

    migrate.upgrade(scratch_url)
    eng = create_engine(scratch_url)
    square = "ST_Multi(ST_GeomFromText('POLYGON((120 31,120.01 31,120.01 31.01,120 31.01,120 31))', 4490))"
    with eng.begin() as c:
        c.execute(text(f"INSERT INTO district (code, name, geom) VALUES ('320214', '新吴区', {square})"))
        c.execute(text(f"INSERT INTO street (code, name, district_code, geom) VALUES "
                       f"('320214050', '旺庄街道', '320214', {square})"))
        c.execute(text(f"INSERT INTO community (code, name, street_code, kind, geom) VALUES "
                       f"('320214050001', '新光社区', '320214050', 'urban', {square})"))
        c.execute(text("INSERT INTO plan (name, status) VALUES ('p1', 'published')"))
        c.execute(text(f"INSERT INTO grid (plan, code, name, community_code, households, geom) VALUES "
                       f"('p1', '320214050001001', '第1网格', '320214050001', 100, {square})"))
        c.execute(text("INSERT INTO staff (id, name, role, community_code, street_code) VALUES "
                       "('S1', '张三', 'volunteer', '320214050001', '320214050'), "
                       "('S2', '李四', 'volunteer', '320214050001', '320214050'), "
                       "('S3', '王五', 'volunteer', '320214050001', '320214050')"))
        c.execute(text("INSERT INTO staff_post (staff_id, role, plan, building_id, grid_code) "
                       "VALUES ('S1', 'volunteer', 'p1', NULL, '320214050001001')"))
    yield eng
    eng.dispose()


def race(eng, *jobs):
    """Run each job in its own transaction at once: the first holds its row lock until the others
    are waiting on it (so the race is real), then commits. Returns each job's result or exception."""
    results: list = [None] * len(jobs)
    started = threading.Barrier(len(jobs))

    def run(i, job):
        with eng.connect() as c:
            try:
                with c.begin():
                    started.wait()
                    results[i] = job(c)
                    if i == 0:
                        _wait_for_waiters(eng, len(jobs) - 1)
            except Exception as exc:  # noqa: BLE001 - returned to the test
                results[i] = exc

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    threads[0].start()
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join(30)
    return results


def _wait_for_waiters(eng, n: int) -> None:
    """Until ``n`` other sessions wait on a lock (bounded: then go on anyway)."""
    import time

    with eng.connect() as c:
        for _ in range(200):
            waiting = c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                     "AND datname = current_database()")).scalar()
            if waiting >= n:
                return
            time.sleep(0.02)


def test_two_concurrent_patches_with_one_etag_give_one_success_and_one_412(committed) -> None:
    seen = 1
    first = race(committed,
                 lambda c: staffing.update_staff(c, "S1", {"phone": "111"}, changed_by="a", expected_version=seen),
                 lambda c: staffing.update_staff(c, "S1", {"phone": "222"}, changed_by="b", expected_version=seen))
    ok = [r for r in first if isinstance(r, dict)]
    stale = [r for r in first if isinstance(r, StaleVersion)]
    assert len(ok) == 1 and len(stale) == 1, first
    with committed.connect() as c:
        person = staffing.staff_record(c, "S1")
    assert person["version"] == 2 and person["phone"] == ok[0]["staff"]["phone"]


def test_a_post_is_handed_on_once_under_concurrency(committed) -> None:
    with committed.connect() as c:
        post_id = c.execute(text("SELECT id FROM staff_post")).scalar()
    results = race(committed,
                   lambda c: staffing.update_post(c, post_id, {"staff_id": "S2"}, changed_by="a", expected_version=1),
                   lambda c: staffing.update_post(c, post_id, {"staff_id": "S3"}, changed_by="b", expected_version=1))
    assert sum(isinstance(r, dict) for r in results) == 1 and sum(isinstance(r, StaleVersion) for r in results) == 1
    with committed.connect() as c:
        open_posts = c.execute(text("SELECT staff_id FROM staff_post WHERE valid_to IS NULL")).scalars().all()
    assert len(open_posts) == 1


def test_identical_creations_at_once_make_one_record(committed) -> None:
    person = {"id": "S7", "name": "赵六", "role": "volunteer", "street_code": "320214050"}
    made = race(committed, *[lambda c: staffing.create_staff(c, dict(person), changed_by="x")] * 3)
    assert sorted(r[1] for r in made) == [False, False, True], made
    created: list[bool] = []
    posts = race(committed, *[lambda c: staffing.open_post(c, "S2", "p1", changed_by="x", grid_code="320214050001001",
                                                            created=created)] * 3)
    assert len({p["id"] for p in posts}) == 1, posts
    assert sorted(created) == [False, False, True]
    with committed.connect() as c:
        assert c.execute(text("SELECT count(*) FROM staff WHERE id = 'S7'")).scalar() == 1
        assert c.execute(text("SELECT count(*) FROM staff_post WHERE staff_id = 'S2'")).scalar() == 1


def test_the_database_refuses_a_duplicate_open_post(committed) -> None:
    from sqlalchemy.exc import IntegrityError

    with committed.connect() as c, pytest.raises(IntegrityError, match="staff_post_open_key"):
        with c.begin():
            c.execute(text("INSERT INTO staff_post (staff_id, role, plan, grid_code) "
                           "VALUES ('S1', 'volunteer', 'p1', '320214050001001')"))
