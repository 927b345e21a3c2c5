"""``gridmap import`` and ``gridmap export``: interchange files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from gridmap.cli.common import console, engine, out, run, settings
from gridmap.errors import InvalidFile


def import_cmd(
    file: Annotated[Path, typer.Argument(help="GeoPackage, GeoJSON/shapefile folder or file")],
    crs: Annotated[Optional[str], typer.Option(help="CRS of the file: EPSG code, wgs84, cgcs2000, gcj02, bd09")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check and count, write nothing")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="refuse every building outside its compound "
                                         "(and every other warning)")] = False,
    plan: Annotated[Optional[str], typer.Option(help="draft plan for the file's grids layer "
                                                     "(default: its plan column)")] = None,
) -> None:
    """Import an interchange file in one transaction (nothing is written if anything is wrong).

    Every problem is listed at once: layer, feature, column, value and what is
    wrong. A building outside its own compound by up to GRIDMAP_BUILDING_TOLERANCE_M
    (150 m) is imported with a warning; farther, or with --strict, it is refused.
    A grids layer becomes a draft plan (never the published one): members from
    geometry, checked by the partition rules, reported as a partition is.
    """
    from gridmap.cli.plans import cli_user
    from gridmap.interchange.checks import CheckOptions
    from gridmap.services.editing import record_reimport
    from gridmap.storage.load import import_file

    s = settings()
    options = CheckOptions(building_tolerance_m=s.building_tolerance_m,
                           boundary_tolerance_m2=s.boundary_tolerance_m2, strict=strict)

    def go():
        try:
            with console.status(f"importing {file} ..."):
                with engine().begin() as conn:
                    report = import_file(conn, file, crs=crs, commit=not dry_run, options=options, grids_plan=plan,
                                         on_moves=lambda c, p, **kw: record_reimport(c, p, author=cli_user(), **kw))
        except InvalidFile as exc:
            if not exc.issues:
                raise
            print_issues(exc.issues, exc.omitted, title=f"{file}: 未导入 refused — nothing was written")
            fail_quietly(exc)
        table = Table("layer", "inserted", "updated", "unchanged", title=f"import {file}")
        for name, c in report.layers.items():
            table.add_row(name, str(c.inserted), str(c.updated), str(c.unchanged))
        out.print(table)
        for name, p in report.plans.items():
            if p.get("moves"):
                for m in p["moves"]:
                    out.print(f"grids layer → 方案 {name}: 小区 {m['compound_id']} 移动 (move) {','.join(m['from'])} → "
                              f"{m['to']}, {m['households']} 户 households (version {m['version']})")
                    for a in m["affected"]:
                        for v in a["violations"]:
                            console.print(f"[yellow]•[/] 网格 {a['code']}: {v.get('rule')} {v.get('detail', '')}",
                                          highlight=False)
                out.print(f"{len(p['moves'])} moves logged: gridmap plan log {name}; undo: gridmap plan undo {name}")
                continue
            if p["unchanged"]:
                out.print(f"grids layer: plan {name} unchanged ({p['unchanged']} grids as stored)")
                continue
            out.print(f"grids layer → 草稿方案 (draft plan) {name}: {p['grids']} grids in {p['communities']} "
                      f"communities, {p['members']} members from geometry, {p['violations']} violations "
                      f"({p['unproved']} without a proved reason); report: gridmap plans {name}")
        for r in report.repairs:
            console.print(f"[yellow]repaired[/] {r.layer} {r.feature}: {r.reason}")
        print_issues(report.warnings, report.omitted_warnings, title="警告 warnings (imported)")
        out.print("dry run: nothing written" if dry_run else f"committed ({report.changed()} rows changed)")

    run(go)


def print_issues(issues, omitted: int, *, title: str) -> None:
    """Issues in Chinese-first wording, one per line, with the count of those not listed."""
    from rich.markup import escape

    from gridmap.interchange.issues import ERROR, describe_zh

    if not issues:
        return
    errors = sum(i.severity == ERROR for i in issues)
    console.print(f"[bold]{title}[/]: {errors} 个错误 errors, {len(issues) - errors} 个警告 warnings listed")
    for issue in issues:
        style = "red" if issue.severity == ERROR else "yellow"
        console.print(f"[{style}]•[/] " + escape(describe_zh(issue)), highlight=False)
    if omitted:
        console.print(f"… 另有 {omitted} 条未列出 ({omitted} more not listed)")


def fail_quietly(exc: InvalidFile) -> None:
    """Exit 2 after the issues were printed, without repeating them."""
    console.print(f"[bold red]error[/] ({exc.code}): {exc.detail.splitlines()[0]}")
    raise typer.Exit(code=2)


def export_cmd(
    file: Annotated[Path, typer.Argument(help=".gpkg file, or a folder for GeoJSON or shapefiles")],
    plan: Annotated[Optional[str], typer.Option(help="plan whose grids to write (default: current)")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help="gpkg | geojson | shp (default: from FILE)")] = None,
    private: Annotated[bool, typer.Option("--private", help="include private phone numbers in grid_staff")] = False,
) -> None:
    """Write every stored layer, and the grids of a plan with grid_members and grid_staff, for QGIS.

    Each layer has one geometry type (barriers become barriers_lines and
    barriers_polygons); shapefile columns get 10-character aliases
    (docs/interchange.md). The file re-imports with no changes.
    """
    from gridmap.interchange import write_interchange
    from gridmap.storage.export import export_layers

    def go():
        with engine().connect() as conn:
            layers = export_layers(conn, plan=plan, private=private)
        write_interchange(layers, file, format=format)
        out.print(f"wrote {file}: " + ", ".join(f"{k} {len(v)}" for k, v in layers.items()))

    run(go)

