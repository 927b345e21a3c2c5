"""The ``gridmap`` command line. Reads settings; wires them into the core and storage."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from gridmap.config import Settings
from gridmap.errors import GridmapError

app = typer.Typer(help="gridmap: grids, coverage and lookup for grid governance (网格化治理).",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Start, stop and inspect the database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console(stderr=True)
out = Console()


def settings() -> Settings:
    return Settings()


def engine(start: bool = False):
    from gridmap.storage import connect_url, make_engine

    s = settings()
    return make_engine(connect_url(s.database_url, s.data_dir, s.pg_port, start=start))


def fail(exc: GridmapError) -> None:
    console.print(f"[bold red]error[/] ({exc.code}): {exc.detail}")
    raise typer.Exit(code=2)


def run(fn):
    """Call ``fn`` turning domain errors into a clear message and exit code 2."""
    try:
        return fn()
    except GridmapError as exc:
        fail(exc)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log progress details")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


@db_app.command("up")
def db_up() -> None:
    """Start the local PostGIS cluster (unless GRIDMAP_DATABASE_URL is set) and migrate it."""
    from gridmap.storage import connect_url, migrate

    def go():
        s = settings()
        url = connect_url(s.database_url, s.data_dir, s.pg_port, start=True)
        migrate.upgrade(url)
        console.print(f"database ready at {_safe(url)} (schema {migrate.current_revision(url)})")

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
    from sqlalchemy import text

    from gridmap.storage import migrate

    def go():
        eng = engine()
        url = eng.url.render_as_string(hide_password=True)
        rev, head = migrate.current_revision(url), migrate.head_revision(url)
        out.print(f"database: {_safe(url)}\nschema: {rev or 'empty'} (latest {head})")
        with eng.connect() as conn:
            for table in ("district", "street", "community", "compound", "building", "address",
                          "staff", "service_point", "plan", "grid"):
                n = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                out.print(f"  {table:<14} {n:>8}")

    run(go)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="GeoPackage, GeoJSON folder or file")],
    crs: Annotated[Optional[str], typer.Option(help="CRS of the file: EPSG code, wgs84, cgcs2000, gcj02, bd09")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check and count, write nothing")] = False,
) -> None:
    """Import an interchange file in one transaction (nothing is written if anything is wrong)."""
    from gridmap.storage.load import import_file

    def go():
        with console.status(f"importing {file} ..."):
            with engine().begin() as conn:
                report = import_file(conn, file, crs=crs, commit=not dry_run)
        table = Table("layer", "inserted", "updated", "unchanged", title=f"import {file}")
        for name, c in report.layers.items():
            table.add_row(name, str(c.inserted), str(c.updated), str(c.unchanged))
        out.print(table)
        for r in report.repairs:
            console.print(f"[yellow]repaired[/] {r.layer} {r.feature}: {r.reason}")
        out.print("dry run: nothing written" if dry_run else f"committed ({report.changed()} rows changed)")

    run(go)


@app.command("export")
def export_cmd(
    file: Annotated[Path, typer.Argument(help=".gpkg file, or a folder for GeoJSON")],
    plan: Annotated[Optional[str], typer.Option(help="plan whose grids to write (default: current)")] = None,
) -> None:
    """Write every stored layer (and the grids of a plan) in the interchange format."""
    from gridmap.interchange import write_interchange
    from gridmap.storage.export import export_layers

    def go():
        with engine().connect() as conn:
            layers = export_layers(conn, plan)
        write_interchange(layers, file)
        out.print(f"wrote {file}: " + ", ".join(f"{k} {len(v)}" for k, v in layers.items()))

    run(go)


@app.command("publish")
def publish_cmd(plan: Annotated[str, typer.Argument(help="draft plan to make current")]) -> None:
    """Make a draft plan the current generation (lookups switch at once)."""
    from gridmap.storage import plans

    def go():
        with engine().begin() as conn:
            result = plans.publish(conn, plan)
        out.print_json(json.dumps(result, default=str))

    run(go)


@app.command("plans")
def plans_cmd() -> None:
    """List plans and the period each was current."""
    from gridmap.storage import plans

    def go():
        with engine().connect() as conn:
            rows = plans.list_plans(conn)
        table = Table("plan", "status", "grids", "current from", "until")
        for r in rows:
            table.add_row(r["name"], r["status"], str(r["grids"]), str(r["valid_from"] or ""),
                          str(r["valid_to"] or ""))
        out.print(table)

    run(go)


def _register_commands() -> None:
    """Import the sub-command modules; each adds its commands to ``app``."""
    import importlib
    import pkgutil

    import gridmap.commands as commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"gridmap.commands.{info.name}")


_register_commands()
