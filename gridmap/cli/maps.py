"""``gridmap map coverage|service-points|officers|lookup -o FILE.html``: self-contained map pages."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gridmap.cli.common import console, engine, out, run, settings

map_app = typer.Typer(help="Write map pages as self-contained HTML files (Leaflet inlined, works offline).",
                      no_args_is_help=True)

OutputOpt = Annotated[Path, typer.Option("--output", "-o", help="HTML file to write")]
TilesOpt = Annotated[Optional[str], typer.Option(help="openstreetmap | none | amap (GCJ-02); default: settings")]
PlanOpt = Annotated[Optional[str], typer.Option(help="plan to draw (default: the current generation)")]
PrivateOpt = Annotated[bool, typer.Option("--private-phones", help="include private phone numbers (internal use)")]


def _role(private_phones: bool) -> str:
    """The role a page is drawn for: the public, or (``--private-phones``) a dispatcher."""
    return "dispatcher" if private_phones else "public"


def _tiles(tiles: str | None) -> str:
    from gridmap.errors import InvalidInput
    from gridmap.maps import tiles_of

    try:
        return tiles_of(tiles or settings().tiles).name
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


def _write(m, output: Path) -> None:
    from gridmap.maps import render_html

    html = render_html(m, static_url=None)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf-8")
    out.print(f"wrote {output} ({len(html.encode('utf-8')) / 1e6:.2f} MB)")


@map_app.command("coverage")
def coverage_cmd(output: OutputOpt, tiles: TilesOpt = None, plan: PlanOpt = None,
                 private_phones: PrivateOpt = False) -> None:
    """Planner coverage map: grids by households, violations, compounds, barriers, grid cards."""
    from gridmap.maps import coverage_map
    from gridmap.storage import mapdata

    def go():
        name = _tiles(tiles)
        with engine().connect() as conn:
            inputs = mapdata.coverage_inputs(conn, mapdata.map_plan(conn, plan))
        _write(coverage_map(**inputs, tiles=name, role=_role(private_phones)), output)

    run(go)


@map_app.command("service-points")
def service_points_cmd(
    output: OutputOpt,
    tiles: TilesOpt = None,
    api_base: Annotated[str, typer.Option(help="server the 'find my grid' box calls (it must allow this origin)")]
    = "http://127.0.0.1:8000",
) -> None:
    """Public map: service points, 15-minute walking coverage, compounds outside it, "find my grid"."""
    from gridmap.maps import service_point_page
    from gridmap.storage import mapdata
    from gridmap.storage.plans import current_plan

    def go():
        name = _tiles(tiles)
        with engine().connect() as conn:
            inputs = mapdata.service_inputs(conn, current_plan(conn))
        _write(service_point_page(**inputs, tiles=name, api_base=api_base.rstrip("/")), output)

    run(go)


@map_app.command("officers")
def officers_cmd(output: OutputOpt, tiles: TilesOpt = None, private_phones: PrivateOpt = False) -> None:
    """Officer load map: each enforcement officer's compounds and households."""
    from gridmap.maps import officer_map
    from gridmap.storage import mapdata

    def go():
        name = _tiles(tiles)
        with engine().connect() as conn:
            inputs = mapdata.officer_inputs(conn)
        _write(officer_map(**inputs, tiles=name, role=_role(private_phones)), output)

    run(go)


@map_app.command("lookup")
def lookup_cmd(
    output: OutputOpt,
    lon: Annotated[Optional[float], typer.Option(help="longitude in --crs")] = None,
    lat: Annotated[Optional[float], typer.Option(help="latitude in --crs")] = None,
    crs: Annotated[str, typer.Option(help="wgs84 | cgcs2000 | gcj02 | bd09")] = "wgs84",
    address: Annotated[Optional[str], typer.Option(help="a standard address instead of lon/lat")] = None,
    tiles: TilesOpt = None,
    plan: PlanOpt = None,
    private_phones: PrivateOpt = False,
) -> None:
    """Dispatcher map for one point or address: its grid, neighbours on an edge, the staff card; the grids
    to choose from when the address names several (exit code 3)."""
    from gridmap.services.coverage import OneShot, Query
    from gridmap.services.lookup_page import lookup_page

    def go():
        name = _tiles(tiles)
        query = Query(lon=lon, lat=lat, crs=crs, address=address or None, plan=plan)
        source = OneShot(engine().connect, settings().edge_distance_m)
        page = lookup_page(source, query, role=_role(private_phones), tiles=name,
                           edge_m=settings().edge_distance_m)
        _write(page.map, output)
        console.print(f"{STATE_ZH[page.state]}: {' '.join(page.codes) or '—'}")
        if page.state == "ambiguous":
            raise typer.Exit(code=3)

    run(go)


STATE_ZH = {"found": "网格 grid", "ambiguous": "多个网格，请补充楼栋号 several grids", "outside": "不在任何网格内 no grid"}
