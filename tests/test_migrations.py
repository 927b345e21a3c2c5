"""The Alembic migrations go up and down cleanly on an empty database."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from gridmap.storage import migrate


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
    migrate.downgrade(scratch_url, revision="base")
    assert tables(scratch_url) == set()
    migrate.upgrade(scratch_url)
    assert "grid" in tables(scratch_url)
