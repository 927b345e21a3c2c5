"""``gridmap db up|down|status``: the database."""

from __future__ import annotations

from typing import Annotated

import typer

from gridmap.cli.common import console, engine, out, run, safe_url, settings

db_app = typer.Typer(help="Start, stop and inspect the database.", no_args_is_help=True)


@db_app.command("up")
def db_up() -> None:
    """Start the local PostGIS cluster (unless GRIDMAP_DATABASE_URL is set) and migrate it."""
    from gridmap.storage import connect_url, migrate

    def go():
        s = settings()
        url = connect_url(s.database_url, s.data_dir, s.pg_port, start=True)
        migrate.upgrade(url)
        console.print(f"database ready at {safe_url(url)} (schema {migrate.current_revision(url)})")

    run(go)


@db_app.command("down")
def db_down(destroy: Annotated[bool, typer.Option(help="also delete the local data folder")] = False) -> None:
    """Stop the local cluster."""
    from gridmap.storage.cluster import LocalCluster

    s = settings()
    if s.database_url:
        console.print("GRIDMAP_DATABASE_URL is set: that server is not managed by gridmap")
        return
    cluster = LocalCluster(s.data_dir.resolve(), s.pg_port)
    run(cluster.destroy if destroy else cluster.stop)
    console.print("stopped" + (" and deleted" if destroy else ""))


@db_app.command("status")
def db_status() -> None:
    """Say where the database is, whether it runs, and its schema revision."""
    from gridmap.storage import migrate
    from gridmap.storage.db import table_counts

    def go():
        eng = engine()
        url = eng.url.render_as_string(hide_password=False)  # connects below; printed through safe_url
        rev, head = migrate.current_revision(url), migrate.head_revision(url)
        out.print(f"database: {safe_url(url)}\nschema: {rev or 'empty'} (latest {head})")
        with eng.connect() as conn:
            for table, n in table_counts(conn).items():
                out.print(f"  {table:<14} {n:>8}")

    run(go)
