"""``gridmap import`` and ``gridmap export``: interchange files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from gridmap.cli.common import console, engine, out, run


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


def export_cmd(
    file: Annotated[Path, typer.Argument(help=".gpkg file, or a folder for GeoJSON")],
    plan: Annotated[Optional[str], typer.Option(help="plan whose grids to write (default: current)")] = None,
) -> None:
    """Write every stored layer (and the grids of a plan) in the interchange format."""
    from gridmap.interchange import write_interchange
    from gridmap.storage.export import export_layers

    def go():
        with engine().connect() as conn:
            layers = export_layers(conn, plan=plan)
        write_interchange(layers, file)
        out.print(f"wrote {file}: " + ", ".join(f"{k} {len(v)}" for k, v in layers.items()))

    run(go)
