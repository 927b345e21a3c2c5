"""No freeze under overload (issue 12): 60 concurrent slow requests on a database-backed endpoint leave
/v1/health answering within 2 s, and requests that cannot get a database slot in time are shed with
503 + Retry-After instead of stalling. A real uvicorn server in a thread, on the test database."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text

from api.app import create_app
from api.deps import ConnDep
from gridmap.config import Settings
from gridmap.storage import make_engine
from tests.live import live_uvicorn

SLOW = 60


@contextmanager
def serving(database_url: str, *, sleep_s: float, **settings) -> Iterator[str]:
    """A uvicorn server in a thread with an extra endpoint that holds a connection for ``sleep_s``."""
    s = Settings(**settings)
    from api.pool import pool_options

    engine = make_engine(database_url, **pool_options(s))
    app = create_app(s, engine=engine)

    @app.get("/test/slow")
    def slow(conn: ConnDep) -> dict:
        conn.execute(text("SELECT pg_sleep(:s)"), {"s": sleep_s})
        return {"slept": sleep_s}

    try:
        with live_uvicorn(app, limit_concurrency=None, backlog=256) as url:
            yield url
    finally:
        engine.dispose()


def fetch(url: str, timeout: float = 60.0) -> tuple[int, Any, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read())


def test_health_answers_within_2s_under_60_slow_requests(database_url: str) -> None:
    with serving(database_url, sleep_s=1.0) as base, ThreadPoolExecutor(SLOW) as pool:
        slow = [pool.submit(fetch, f"{base}/test/slow") for _ in range(SLOW)]
        time.sleep(0.5)  # the slow requests hold every database slot now
        took = []
        for _ in range(3):
            t0 = time.monotonic()
            status, _, body = fetch(f"{base}/v1/health", timeout=10)
            took.append(time.monotonic() - t0)
            assert status == 200 and body["status"] == "ok"
        results = [f.result(timeout=120) for f in slow]
    assert max(took) < 2.0, f"/v1/health took {took} s under load"
    assert [r[0] for r in results] == [200] * SLOW  # nobody froze: all served once slots came free


def test_requests_that_wait_too_long_for_a_slot_are_shed_with_503(database_url: str) -> None:
    with serving(database_url, sleep_s=3.0, db_pool_size=2, db_max_overflow=0, db_wait_s=0.5) as base, \
            ThreadPoolExecutor(20) as pool:
        results = [f.result(timeout=120) for f in [pool.submit(fetch, f"{base}/test/slow") for _ in range(20)]]
        health = fetch(f"{base}/v1/health", timeout=10)
    statuses = sorted(r[0] for r in results)
    assert statuses.count(200) >= 2 and statuses.count(503) >= 10, statuses
    shed = next(r for r in results if r[0] == 503)
    assert shed[2]["error"] == "overloaded" and int(shed[1]["Retry-After"]) >= 1
    assert health[0] == 200
