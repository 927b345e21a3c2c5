"""Browser sessions: sign in with a key, an HttpOnly SameSite=Strict cookie, CSRF-safe changes,
revocation ending sessions at once, constant-time key comparison."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Connection, func, select

from gridmap.storage import keys as key_store
from gridmap.storage.keys import create_key, revoke_key
from gridmap.storage.schema import api_session
from tests.test_staffing import STREET, staffed

SAME = {"Origin": "http://testserver"}


@pytest.fixture
def district(conn: Connection) -> dict:
    return staffed(conn)


def sign_in(client, key: str):
    return client.post("/v1/session", json={"key": key})


def test_sign_in_sets_a_strict_httponly_cookie(client, conn: Connection) -> None:
    key = create_key(conn, "dispatcher")
    r = sign_in(client, key)
    assert r.status_code == 200 and r.json()["role"] == "dispatcher" and r.json()["expires_in"] == 12 * 3600
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("gridmap_session=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie and "Path=/" in cookie
    session_id = r.cookies["gridmap_session"]
    assert len(session_id) >= 40 and key not in cookie
    stored = conn.execute(select(api_session.c.id_hash)).scalars().all()
    assert len(stored) == 1 and session_id not in stored[0]  # only its hash is kept
    assert conn.execute(select(api_session.c.expires_at > func.now() + func.make_interval(0, 0, 0, 0, 11))
                        ).scalar()


def test_secure_cookie_over_https(client, conn: Connection) -> None:
    key = create_key(conn, "dispatcher")
    r = client.post("https://testserver/v1/session", json={"key": key})
    assert r.status_code == 200 and "Secure" in r.headers["set-cookie"]


def test_bad_keys_and_bodies(client, conn: Connection) -> None:
    assert sign_in(client, "gm_nope").status_code == 401
    assert sign_in(client, "gm_nope").json()["error"] == "unauthorized"
    for body in ({}, {"key": 3}, {"key": ""}, {"key": "x" * 500}):
        r = client.post("/v1/session", json=body)
        assert r.status_code == 422 and r.json()["error"] == "invalid_input", body
    r = client.post("/v1/session", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "key" in r.json()["detail"]
    assert "set-cookie" not in r.headers


def test_cookie_gives_the_role_to_api_and_lookups(client, conn: Connection, district) -> None:
    assert client.get("/v1/officers/P2/compounds").status_code == 403
    assert sign_in(client, create_key(conn, "dispatcher")).status_code == 200
    assert client.get("/v1/officers/P2/compounds").status_code == 200  # get_role
    assert client.get("/v1/generations").status_code == 200
    assert client.get("/v1/plans").status_code == 403  # a dispatcher is no planner


def test_cookie_changes_must_come_from_this_origin(client, conn: Connection, district) -> None:
    sign_in(client, create_key(conn, "planner"))
    person = {"id": "NEW1", "name": "新人", "role": "volunteer", "street_code": STREET}
    refused = client.post("/v1/staff", json=person)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    cross = client.post("/v1/staff", json=person, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403 and "evil.example" in cross.json()["detail"]
    cross_site = client.post("/v1/staff", json=person, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross_site.status_code == 403
    ok = client.post("/v1/staff", json=person, headers=SAME)
    assert ok.status_code == 201, ok.text
    fetch_site = client.post("/v1/staff", json={**person, "id": "NEW2"}, headers={"Sec-Fetch-Site": "same-origin"})
    assert fetch_site.status_code != 403
    # A key in the header needs no origin: not a browser's ambient credential.
    with_key = client.post("/v1/staff", json={**person, "id": "NEW3"},
                           headers={"X-API-Key": create_key(conn, "planner"), "Origin": "http://evil.example"})
    assert with_key.status_code != 403


def test_sign_out_ends_the_session(client, conn: Connection, district) -> None:
    sign_in(client, create_key(conn, "dispatcher"))
    session_id = client.cookies["gridmap_session"]
    assert client.delete("/v1/session").status_code == 403  # no origin: refused
    r = client.delete("/v1/session", headers=SAME)
    assert r.status_code == 204 and 'gridmap_session=""' in r.headers["set-cookie"]
    assert conn.execute(select(func.count()).select_from(api_session)).scalar() == 0
    client.cookies.set("gridmap_session", session_id)
    assert client.get("/v1/officers/P2/compounds").status_code == 401


def test_revoking_the_key_ends_its_sessions_at_once(client, conn: Connection, district) -> None:
    key = create_key(conn, "dispatcher")
    sign_in(client, key)
    assert client.get("/v1/officers/P2/compounds").status_code == 200
    assert client.get("/v1/lookup?lon=120.3&lat=31.5&crs=wgs84").status_code in (200, 404)
    revoke_key(conn, key[:7])
    r = client.get("/v1/officers/P2/compounds")
    assert r.status_code == 401 and "/maps/login" in r.json()["detail"]
    deadline = time.monotonic() + 3  # lookups remember a role for KEY_TTL (1 s)
    status = None
    while time.monotonic() < deadline:
        status = client.get("/v1/lookup?lon=120.3&lat=31.5&crs=wgs84").status_code
        if status == 401:
            break
        time.sleep(0.2)
    assert status == 401
    assert client.get("/v1/lookup?lon=120.3&lat=31.5&crs=wgs84", headers={"X-API-Key": key}).status_code == 401


def test_login_page_and_form(client, conn: Connection) -> None:
    page = client.get("/maps/login")
    assert page.status_code == 200 and "登录" in page.text and 'action="/v1/session"' in page.text
    assert 'name="next" value="/maps/lookup"' in page.text
    key = create_key(conn, "dispatcher")
    r = client.post("/v1/session", data={"key": key, "next": "/maps/officers?tiles=none"}, headers=SAME,
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/maps/officers?tiles=none"
    assert "HttpOnly" in r.headers["set-cookie"]
    assert 'data-role="dispatcher"' in client.get("/maps/login").text
    bad = client.post("/v1/session", data={"key": "gm_wrong"}, headers=SAME, follow_redirects=False)
    assert bad.status_code == 401 and "密钥无效" in bad.text and "text/html" in bad.headers["content-type"]
    away = client.post("/v1/session", data={"key": key, "next": "//evil.example/x"}, headers=SAME,
                       follow_redirects=False)
    assert away.headers["location"] == "/maps/lookup"


def test_sign_in_from_another_site_is_refused(client, conn: Connection) -> None:
    key = create_key(conn, "dispatcher")
    r = client.post("/v1/session", data={"key": key}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "set-cookie" not in r.headers


def test_key_hashes_are_compared_in_constant_time(conn: Connection, monkeypatch) -> None:
    calls = []
    real = key_store.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(key_store.hmac, "compare_digest", spy)
    key = create_key(conn, "planner")
    assert key_store.role_for_key(conn, key) == "planner"
    assert calls and calls[-1][0] == calls[-1][1]
    with pytest.raises(Exception):
        key_store.role_for_key(conn, key[:-1] + ("A" if key[-1] != "A" else "B"))


def test_cookie_batch_lookup_needs_the_same_origin(client, conn: Connection, district) -> None:
    """caller_role (the lookup routes) applies the same CSRF rule as get_role."""
    sign_in(client, create_key(conn, "dispatcher"))
    rows = [{"id": "1", "lon": 120.3, "lat": 31.5, "crs": "wgs84"}]
    assert client.post("/v1/lookup/batch", json=rows).status_code == 403
    assert client.post("/v1/lookup/batch", json=rows, headers=SAME).status_code == 200
    assert client.delete("/v1/session", headers=SAME).status_code == 204
    assert client.delete("/v1/session").status_code == 204  # signed out already: nothing to check
