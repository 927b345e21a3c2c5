"""Engines and the database URL: an explicit URL, or the local cluster."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, func, select, text
from sqlalchemy.exc import InterfaceError, OperationalError, TimeoutError as PoolTimeout

from gridmap.errors import DatabaseUnavailable
from gridmap.storage.cluster import LocalCluster
from gridmap.storage.schema import metadata


def connect_url(database_url: str | None, data_dir: Path, port: int, start: bool = False) -> str:
    """The URL to use: ``database_url`` if set, else the local cluster's (started if asked)."""
    if database_url:
        return database_url
    cluster = LocalCluster(Path(data_dir).resolve(), port)
    if start:
        cluster.start()
    elif not cluster.running():
        raise DatabaseUnavailable(
            f"the local database in {cluster.data_dir} is not running; start it with `gridmap db up` "
            "(or set GRIDMAP_DATABASE_URL)"
        )
    return cluster.url


# What "the database is away" looks like: a refused or dropped connection, a pool wait that timed out.
UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeout, DatabaseUnavailable)

STATUS_TABLES = ("district", "street", "community", "compound", "building", "address", "staff",
                 "service_point", "plan", "grid")


def ping(conn: Connection) -> None:
    """A round trip to the server (raises when it is away)."""
    conn.execute(text("SELECT 1"))


def table_counts(conn: Connection, *, tables: tuple[str, ...] = STATUS_TABLES) -> dict[str, int]:
    """Rows per table, for ``gridmap db status``."""
    unknown = set(tables) - set(STATUS_TABLES)
    if unknown:
        raise ValueError(f"no count for tables {sorted(unknown)}")
    return {t: int(conn.execute(select(func.count()).select_from(metadata.tables[t])).scalar()) for t in tables}


def make_engine(url: str, **kwargs) -> Engine:
    """An engine with a pool sized for the API; raises DatabaseUnavailable when unreachable.

    Connections are pinged before use (a restarted server is reconnected to by itself), and every wait
    is bounded: 5 s for a pooled connection, 3 s to connect."""
    kwargs = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10, "pool_timeout": 5.0, **kwargs}
    if url.startswith("postgresql"):
        kwargs.setdefault("connect_args", {"connect_timeout": 3})
    engine = create_engine(url, **kwargs)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        raise DatabaseUnavailable(f"cannot connect to {engine.url.render_as_string()}: {exc.orig}") from exc
    return engine
