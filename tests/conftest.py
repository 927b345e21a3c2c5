"""Shared fixtures: a throwaway PostGIS cluster, migrated once per session.

Each test that asks for ``conn`` runs inside a transaction that is rolled
back at the end, so tests never see each other's rows. In CI (``CI=true``)
a missing PostgreSQL/PostGIS is an error, never a skip.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine

from gridmap.errors import DatabaseUnavailable
from tests.overrides import nested_conn

# Tests make many rapid requests from one address: rate limits off unless a test turns them on
# (tests/test_hardening.py does, with Settings(rate_limits=True)).
os.environ.setdefault("GRIDMAP_RATE_LIMITS", "false")
ROOT = Path(__file__).resolve().parent.parent
DEMO_FILE = ROOT / "data" / "boundaries" / "xinwu.gpkg"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """URL of a migrated PostGIS: GRIDMAP_TEST_DATABASE_URL, or a cluster made for this session."""
    from gridmap.storage import migrate
    from gridmap.storage.cluster import LocalCluster

    url = os.environ.get("GRIDMAP_TEST_DATABASE_URL")
    cluster = None
    if not url:
        base = Path(tempfile.mkdtemp(prefix="gridmap-test-"))
        base.chmod(0o755)
        cluster = LocalCluster(base / "cluster", _free_port(), durable=False)  # fast; thrown away
        try:
            cluster.start()
        except DatabaseUnavailable as exc:
            if os.environ.get("CI"):
                raise
            pytest.skip(f"no PostGIS: {exc.detail}")
        url = cluster.url
    migrate.upgrade(url)
    yield url
    if cluster is not None:
        cluster.destroy()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction rolled back after the test."""
    connection = engine.connect()
    trans = connection.begin()
    try:
        yield connection
    finally:
        trans.rollback()
        connection.close()


@pytest.fixture(scope="session")
def demo_file() -> Path:
    if not DEMO_FILE.exists():
        pytest.fail(f"{DEMO_FILE} is missing; build it with `python data/boundaries/build.py`")
    return DEMO_FILE


@pytest.fixture
def client(conn: Connection, engine: Engine):
    """A FastAPI TestClient whose requests run inside the test's rolled-back transaction."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.deps import get_conn
    from gridmap.config import Settings

    app = create_app(Settings(), engine=engine)
    app.dependency_overrides[get_conn] = nested_conn(conn)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def scratch_url(engine: Engine) -> Iterator[str]:
    """URL of a second, empty database on the test server, for code that commits; dropped afterwards."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    admin = engine.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text("DROP DATABASE IF EXISTS gridmap_scratch WITH (FORCE)"))
        c.execute(text("CREATE DATABASE gridmap_scratch"))
    url = make_url(engine.url.render_as_string(hide_password=False)).set(database="gridmap_scratch")
    yield url.render_as_string(hide_password=False)
    with admin.connect() as c:
        c.execute(text("DROP DATABASE IF EXISTS gridmap_scratch WITH (FORCE)"))
