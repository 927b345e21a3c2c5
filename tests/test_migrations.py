"""The Alembic migrations go up and down cleanly on an empty database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from gridmap.storage import migrate


@pytest.fixture
def scratch_url(engine: Engine) -> Iterator[str]:
    """A second, empty database on the test server, dropped afterwards."""
    admin = engine.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS gridmap_migrations"))
        conn.execute(text("CREATE DATABASE gridmap_migrations"))
    url = make_url(str(engine.url.render_as_string(hide_password=False))).set(database="gridmap_migrations")
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS gridmap_migrations WITH (FORCE)"))


def tables(url: str) -> set[str]:
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            return {r[0] for r in rows} - {"alembic_version", "spatial_ref_sys"}
    finally:
        eng.dispose()


def test_up_down_up(scratch_url: str) -> None:
    migrate.upgrade(scratch_url)
    assert migrate.current_revision(scratch_url) == migrate.head_revision(scratch_url)
    assert {"grid", "grid_part", "compound", "generation", "staff_post", "officer_link"} <= tables(scratch_url)
    migrate.downgrade(scratch_url, "base")
    assert tables(scratch_url) == set()
    migrate.upgrade(scratch_url)
    assert "grid" in tables(scratch_url)
