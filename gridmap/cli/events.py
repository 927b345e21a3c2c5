"""``gridmap events tick|import|export|catalogue`` — the events timer for cron, bulk history, the catalogue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gridmap.cli.common import console, engine, out, run, settings

events_app = typer.Typer(help="Events (事件): the timer, bulk import/export, the dispatch catalogue.",
                         no_args_is_help=True)
catalogue_app = typer.Typer(help="The dispatch catalogue (派单目录), versioned.", no_args_is_help=True)
events_app.add_typer(catalogue_app, name="catalogue")


def _limits():
    from gridmap.services.events import Limits

    s = settings()
    return Limits(duplicate_m=s.event_duplicate_m, duplicate_hours=s.event_duplicate_hours,
                  warning_hours=s.event_warning_hours, escalation_working_days=s.event_escalation_working_days)


@events_app.command("tick")
def tick_cmd() -> None:
    """One timer pass: warn before limits end, escalate overdue events one level (for cron)."""
    from gridmap.services.events import tick

    def go():
        with engine().begin() as conn:
            result = tick(conn, limits=_limits())
        out.print(json.dumps(result, ensure_ascii=False))

    run(go)


@events_app.command("import")
def import_cmd(file: Annotated[Path, typer.Argument(help="CSV of historical events (UTF-8 or GBK)")]) -> None:
    """Import historical events, all or nothing; every bad row is named."""
    from gridmap.services.events_bulk import import_events

    def go():
        with engine().begin() as conn:
            n = import_events(conn, file.read_bytes(), source=str(file))
        out.print(f"imported {n} events")

    run(go)


@events_app.command("export")
def export_cmd(file: Annotated[Path, typer.Argument(help="CSV to write (UTF-8 with BOM)")]) -> None:
    """Export every event (with its state and routing) as CSV; reporter phones are left out."""
    from gridmap.services.events_bulk import export_events

    def go():
        with engine().begin() as conn:
            text, n = export_events(conn)
        file.write_text(text, encoding="utf-8-sig")
        console.print(f"wrote {n} events to {file}")

    run(go)


@catalogue_app.command("show")
def catalogue_show() -> None:
    """The current catalogue."""
    from gridmap.services.events import categories

    def go():
        with engine().begin() as conn:
            for c in categories(conn):
                out.print(f"v{c['version']}  {c['code']:<22} {c['name']:<6} {c['responsible']:<26} "
                          f"{c['limit_working_days']} 工作日")

    run(go)


@catalogue_app.command("export")
def catalogue_export(file: Annotated[Path, typer.Argument(help="CSV to write")]) -> None:
    """Write the current catalogue as CSV (code,name,responsible,limit_working_days)."""
    from gridmap.services.events_bulk import export_catalogue

    def go():
        with engine().begin() as conn:
            file.write_text(export_catalogue(conn), encoding="utf-8-sig")
        console.print(f"wrote {file}")

    run(go)


@catalogue_app.command("import")
def catalogue_import(file: Annotated[Path, typer.Argument(help="CSV (UTF-8 or GBK)")],
                     note: Annotated[str, typer.Option(help="why this version")] = "") -> None:
    """Make a new catalogue version from a CSV; events keep the version they were dispatched under."""
    from gridmap.services.events_bulk import import_catalogue_csv

    def go():
        with engine().begin() as conn:
            version = import_catalogue_csv(conn, file.read_bytes(), source=str(file), note=note or None)
        out.print(f"catalogue version {version}")

    run(go)
