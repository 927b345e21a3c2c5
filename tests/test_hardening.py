"""The API under hostile input, errors, rate limits and revocation (issue 12), on a real PostGIS.

One error path: request ids, the catch-all 500, 503 when the database is away, 413 before any key
check, 422 naming the field for control characters, deep JSON and long fields; 429 per address
and per key; a revoked key refused within a second; gzip. Outage and overload are in
tests/test_outage.py and tests/test_overload.py.
"""

from __future__ import annotations

import logging
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine

from api.app import create_app
from api.deps import get_conn
from gridmap.config import Settings
from gridmap.storage.keys import create_key, revoke_key
from tests.conftest import _free_port
from tests.overrides import nested_conn
from tests.test_lookup import city  # noqa: F401  (fixture)

POINT = {"lon": 120.302, "lat": 31.502, "crs": "cgcs2000"}  # grid W1 of tests/test_lookup.py


def app_client(conn: Connection, engine, **settings) -> TestClient:
    app = create_app(Settings(**settings), engine=engine)
    app.dependency_overrides[get_conn] = nested_conn(conn)
    return TestClient(app)


def assert_json_error(r, status: int, error: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) >= {"error", "detail"}
    if error:
        assert body["error"] == error
    return body


# ---------------------------------------------------------------- request ids and the catch-all


def test_every_response_has_a_request_id(client) -> None:
    given = client.get("/v1/health", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    insane = client.get("/v1/nope", headers={"X-Request-ID": "x" * 200})
    assert insane.status_code == 404
    assert len(insane.headers["x-request-id"]) == 32 and insane.headers["x-request-id"] != "x" * 200


def test_an_unhandled_error_is_json_500_with_the_request_id_logged(conn, engine, caplog) -> None:
    app = create_app(Settings(), engine=engine)

    @app.get("/boom")
    def boom() -> dict:
        raise RuntimeError("kaput")

    with TestClient(app) as c, caplog.at_level(logging.ERROR, logger="gridmap.api"):
        r = c.get("/boom", headers={"X-Request-ID": "req-42"})
        after = c.get("/v1/nope")  # the same connection keeps working
    body = assert_json_error(r, 500, "internal")
    assert body["request_id"] == "req-42" and r.headers["x-request-id"] == "req-42"
    assert "req-42" in body["detail"] and "kaput" not in body["detail"]
    logged = [rec for rec in caplog.records if "req-42" in rec.getMessage()]
    assert logged and logged[0].exc_info and "kaput" in str(logged[0].exc_info[1])
    assert after.status_code == 404


def test_database_away_is_503_json_with_retry_after() -> None:
    nowhere = create_engine(f"postgresql+psycopg2://gridmap:x@127.0.0.1:{_free_port()}/gridmap",
                            connect_args={"connect_timeout": 2})
    with TestClient(create_app(Settings(), engine=nowhere)) as c:
        stats = c.get("/v1/stats")
        health = c.get("/v1/health")
        lookup = c.get("/v1/lookup", params=POINT)  # no index was ever loaded: nothing to serve from
    for r in (stats, health, lookup):
        body = assert_json_error(r, 503, "database_unavailable")
        assert int(r.headers["retry-after"]) > 0 and body["request_id"] == r.headers["x-request-id"]


# ---------------------------------------------------------------- body size, before any key check


def test_a_large_body_is_413_before_the_role_check(conn, engine) -> None:
    with app_client(conn, engine, max_body_bytes=1000) as c:
        small = c.post("/v1/staff", content=b'{"name": "x"}', headers={"content-type": "application/json"})
        declared = c.post("/v1/staff", content=b"{" + b" " * 5000 + b"}",
                          headers={"content-type": "application/json"})
        streamed = c.post("/v1/staff", content=(b"x" * 400 for _ in range(10)),  # chunked: no Content-Length
                          headers={"content-type": "text/csv"})
        batch = c.post("/v1/lookup/batch", content=b"id,address\n" + b"1,a\n" * 1000,
                       headers={"content-type": "text/csv"})
    assert_json_error(small, 403, "forbidden")  # anonymous: refused by the role check...
    for r in (declared, streamed, batch):  # ...but a large body never gets that far
        assert_json_error(r, 413, "body_too_large")


# ---------------------------------------------------------------- crafted inputs: 4xx JSON naming the field


@pytest.mark.parametrize("url, word", [
    ("/v1/stats?plan=%00", "plan"),
    ("/v1/grids/%00/staff", "path"),
    ("/maps/data/grids?plan=a%00b&bbox=120,31,121,32", "plan"),
    ("/v1/lookup?address=%E6%98%A5%07", "address"),
    ("/v1/lookup?lon=120.3&lat=31.5&crs=wgs84&at=2026-01-01T00:00:00%2B23:59", "offset"),
    ("/v1/lookup?address=%FF", "UTF-8"),
    ("/v1/lookup?address=" + "a" * 5000, "address"),
])
def test_crafted_queries_are_422_naming_the_field(client, url: str, word: str) -> None:
    body = assert_json_error(client.get(url), 422, "invalid_input")
    assert word in body["detail"]


def test_crafted_json_bodies_are_422_naming_the_field(client, conn: Connection) -> None:
    planner = {"X-API-Key": create_key(conn, "planner"), "content-type": "application/json"}
    nul = client.post("/v1/staff", content='{"id": "S9", "name": "张\\u0000三"}', headers=planner)
    assert "body.name" in assert_json_error(nul, 422, "invalid_input")["detail"]
    bell = client.post("/v1/staff", content='{"id": "S9", "name": "x", "notes": ["ok", "\\u0007"]}', headers=planner)
    assert "body.notes[1]" in assert_json_error(bell, 422)["detail"]
    deep = client.post("/v1/staff", content="[" * 100_000 + "]" * 100_000, headers=planner)
    assert "deeper than 32" in assert_json_error(deep, 422)["detail"]
    long = client.post("/v1/staff", content='{"id": "S9", "name": "' + "名" * 70_000 + '"}', headers=planner)
    assert "body.name" in assert_json_error(long, 422)["detail"]
    key = client.post("/v1/staff", content='{"na\\u0000me": "x"}', headers=planner)
    assert "a key" in assert_json_error(key, 422)["detail"]
    multiline = client.post("/v1/staff", content='{"id": "S9", "name": "x\\ny"}', headers=planner)
    assert multiline.status_code != 422 or "control" not in multiline.json()["detail"]


def test_a_csv_field_over_the_csv_limit_is_422(client, city: Connection) -> None:
    key = {"X-API-Key": create_key(city, "dispatcher"), "content-type": "text/csv"}
    r = client.post("/v1/lookup/batch", content="id,address\n1," + "x" * 140_000 + "\n", headers=key)
    assert "line" in assert_json_error(r, 422, "invalid_input")["detail"]


# ---------------------------------------------------------------- rate limits


def test_rapid_anonymous_lookups_meet_429_a_dispatcher_key_does_not(city: Connection, engine) -> None:
    key = {"X-API-Key": create_key(city, "dispatcher")}
    with app_client(city, engine, rate_limits=True) as c:
        anonymous = [c.get("/v1/lookup", params=POINT) for _ in range(400)]
        keyed = [c.get("/v1/lookup", params=POINT, headers=key) for _ in range(400)]
        health = c.get("/v1/health")
    statuses = [r.status_code for r in anonymous]
    assert statuses[:50] == [200] * 50  # the burst
    limited = [r for r in anonymous if r.status_code == 429]
    assert limited, "400 rapid anonymous lookups never met a 429"
    body = assert_json_error(limited[0], 429, "rate_limited")
    assert int(limited[0].headers["retry-after"]) >= 1 and body["request_id"]
    assert {r.status_code for r in keyed} == {200}
    assert health.status_code == 200


def test_buckets_refill_at_the_rate() -> None:
    from api.limits import Buckets

    b = Buckets(rate=10.0, burst=5)
    assert [b.take("a", now=0.0) for _ in range(5)] == [0.0] * 5
    assert b.take("a", now=0.0) == pytest.approx(0.1)
    assert b.take("b", now=0.0) == 0.0  # each name has its own bucket
    assert b.take("a", now=0.2) == 0.0  # 0.2 s later: two tokens back


# ---------------------------------------------------------------- revocation


def test_a_revoked_key_is_refused_within_a_second(client, city: Connection) -> None:
    key = create_key(city, "dispatcher")
    assert client.get("/v1/lookup", params=POINT, headers={"X-API-Key": key}).status_code == 200
    assert revoke_key(city, key[:7]) == 1
    time.sleep(1.1)
    r = client.get("/v1/lookup", params=POINT, headers={"X-API-Key": key})
    assert_json_error(r, 401)


# ---------------------------------------------------------------- gzip


def test_responses_over_1kb_are_gzipped(client, city: Connection) -> None:
    big = client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert big.status_code == 200 and big.headers.get("content-encoding") == "gzip"
    small = client.get("/v1/nope", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers


def test_heavy_public_pages_are_cached_and_keyed_answers_are_not(client, city: Connection) -> None:
    first = client.get("/maps/coverage", params={"tiles": "none"})
    again = client.get("/maps/coverage", params={"tiles": "none"})
    assert first.status_code == 200 and "x-cache" not in first.headers
    assert again.headers.get("x-cache") == "hit" and again.text == first.text
    assert first.headers["cache-control"] == again.headers["cache-control"] == "public, max-age=60"
    other = client.get("/maps/coverage", params={"tiles": "none", "load": "embed"})  # another query: rendered
    assert "x-cache" not in other.headers
    key = {"X-API-Key": create_key(city, "dispatcher")}
    keyed = client.get("/maps/coverage", params={"tiles": "none"}, headers=key)
    assert "x-cache" not in keyed.headers and keyed.headers["cache-control"] == "private, no-store"
    assert client.get("/v1/lookup", params=POINT, headers=key).headers["cache-control"] == "private, no-store"
