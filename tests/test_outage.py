"""PostgreSQL goes away and comes back: lookups keep answering from memory, the rest says 503, and
everything recovers by itself (issue 12). A dedicated cluster, stopped and restarted by the test."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from gridmap.config import Settings
from gridmap.errors import DatabaseUnavailable
from gridmap.storage import make_engine, migrate
from gridmap.storage.cluster import LocalCluster
from gridmap.storage.keys import create_key
from gridmap.storage.load import import_file
from gridmap.storage.plans import publish
from tests.conftest import _free_port
from tests.test_lookup import add_staffing, layers
from tests.tiny import write_tiny

POINT = {"lon": 120.302, "lat": 31.502, "crs": "cgcs2000"}


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    base = Path(tempfile.mkdtemp(prefix="gridmap-outage-"))
    base.chmod(0o755)
    c = LocalCluster(base / "cluster", _free_port(), durable=False)
    try:
        c.start()
    except DatabaseUnavailable as exc:
        pytest.fail(f"no PostGIS for the outage test: {exc.detail}")
    try:
        yield c
    finally:
        c.destroy()
        shutil.rmtree(base, ignore_errors=True)


def wait_until(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_lookups_survive_a_database_outage_and_everything_recovers(cluster: LocalCluster, tmp_path: Path) -> None:
    migrate.upgrade(cluster.url)
    engine = make_engine(cluster.url)
    with engine.begin() as conn:
        import_file(conn, write_tiny(tmp_path / "city.gpkg", layers()))
        publish(conn, "A", at=datetime(2024, 1, 1, tzinfo=timezone.utc), force=True, reason="test")
        add_staffing(conn)
        key = {"X-API-Key": create_key(conn, "dispatcher")}
    with TestClient(create_app(Settings(), engine=engine)) as c:
        before = c.get("/v1/lookup", params=POINT)
        assert before.status_code == 200 and "served_from" not in before.json()
        assert c.get("/v1/lookup", params={"address": "春潮花园2栋"}).status_code == 200
        assert c.get("/v1/lookup", params=POINT, headers=key).status_code == 200
        assert c.get("/v1/stats").status_code == 200

        cluster.stop()
        time.sleep(1.2)  # past the cache's re-check interval and the key's TTL
        point = c.get("/v1/lookup", params=POINT)
        assert point.status_code == 200, point.text
        assert point.json()["served_from"] == "cache"
        assert point.json()["cache_generation"] == before.json()["grid"]["generation"]["id"]
        assert point.json()["grid"]["code"] == before.json()["grid"]["code"]
        address = c.get("/v1/lookup", params={"address": "春潮花园2栋"})
        assert address.status_code == 200 and address.json()["served_from"] == "cache"
        dispatcher = c.get("/v1/lookup", params=POINT, headers=key)  # the key's last known role
        assert dispatcher.status_code == 200 and dispatcher.json()["served_from"] == "cache"
        batch = c.post("/v1/lookup/batch", json=[{"id": "1", **POINT}], headers=key)
        assert batch.status_code == 200 and batch.headers["x-served-from"] == "cache"
        page = c.get("/maps/lookup", params={**POINT, "tiles": "none"})  # outlines from the cached index
        assert page.status_code == 200 and before.json()["grid"]["code"] in page.text
        stats = c.get("/v1/stats")
        assert stats.status_code == 503 and stats.json()["error"] == "database_unavailable"
        assert int(stats.headers["retry-after"]) > 0
        health = c.get("/v1/health")
        assert health.status_code == 503 and health.json()["lookups_from_cache"] is True

        cluster.start()  # same app, no restart
        assert wait_until(lambda: c.get("/v1/stats").status_code == 200), "stats did not recover"
        assert wait_until(lambda: "served_from" not in c.get("/v1/lookup", params=POINT).json())
        assert c.get("/v1/health").json()["status"] == "ok"
    engine.dispose()
