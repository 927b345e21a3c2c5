"""Run the Alembic migrations of the gridmap schema, and compare them with its metadata."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from geoalchemy2 import alembic_helpers
from sqlalchemy import Connection, MetaData, create_engine

MIGRATIONS = Path(__file__).parent / "migrations"

#: Schemas and tables that PostGIS itself owns: not ours to compare.
POSTGIS_SCHEMAS = frozenset({"tiger", "tiger_data", "topology"})
POSTGIS_TABLES = frozenset({"spatial_ref_sys"})


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    if type_ == "schema":
        return name not in POSTGIS_SCHEMAS
    return not (type_ == "table" and name in POSTGIS_TABLES)


#: How autogenerate compares the database with the metadata (env.py and :func:`drift`).
COMPARE_OPTIONS = {
    "compare_type": True,
    "compare_server_default": True,
    "include_name": include_name,
    # GeoAlchemy2's hooks write geometry columns and their imports into generated revisions.
    "render_item": alembic_helpers.render_item,
    "process_revision_directives": alembic_helpers.writer,
}


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, *, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, *, revision: str = "base") -> None:
    """Take the schema down to ``revision`` (``base`` drops everything)."""
    command.downgrade(alembic_config(url), revision)


def check(url: str) -> None:
    """``alembic check``: raises when the database at ``url`` and the metadata differ."""
    command.check(alembic_config(url))


def drift(conn: Connection, *, metadata: MetaData | None = None) -> list:
    """What autogenerate would change to make the database match ``metadata`` (default: the schema)."""
    from gridmap.storage.schema import metadata as schema

    context = MigrationContext.configure(conn, opts={k: v for k, v in COMPARE_OPTIONS.items()
                                                     if k.startswith(("compare", "include"))})
    return compare_metadata(context, metadata if metadata is not None else schema)


def current_revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()
