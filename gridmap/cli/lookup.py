"""``gridmap lookup``: who covers an address or a coordinate; or a whole CSV of them.

The answer is the coverage service's (``gridmap.services.coverage.lookup``), as ``/v1/lookup`` gives it,
for a dispatcher (the CLI runs with the database's own rights). An address that names several grids
prints them and exits with code 3; ``--json`` prints the same body as the API's 300.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from gridmap.cli.common import console, engine, out, run, settings
from gridmap.domain import AGENCY_ZH, ROLE_ZH
from gridmap.errors import AmbiguousLocation, InvalidInput

#: The CLI reads the database directly, so it sees what a dispatcher sees.
CLI_ROLE = "dispatcher"
AMBIGUOUS_EXIT = 3

AGENCY_NAMES = {agency: f"{zh} {agency.replace('_', ' ')}" for agency, zh in AGENCY_ZH.items()}
METHOD_NAMES = {"coordinate": "坐标 coordinate", "exact_address": "精确地址 exact address",
                "parsed_address": "结构化地址 parsed address", "fuzzy_match": "模糊匹配 fuzzy match",
                "compound_name": "小区名 compound name"}


def lookup_cmd(
    address: Annotated[Optional[str], typer.Option(help="address text, e.g. 长江路8号春潮花园3栋")] = None,
    lon: Annotated[Optional[float], typer.Option(help="longitude in --crs")] = None,
    lat: Annotated[Optional[float], typer.Option(help="latitude in --crs")] = None,
    crs: Annotated[str, typer.Option(help="wgs84, cgcs2000, gcj02 (Amap) or bd09 (Baidu)")] = "wgs84",
    csv_in: Annotated[Optional[Path], typer.Option("--csv", help="CSV with id and lon,lat,crs and/or address")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="CSV to write (with --csv)")] = None,
    at: Annotated[Optional[str], typer.Option(help="date YYYY-MM-DD: the generation current then")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the answer as JSON")] = False,
) -> None:
    """Grid, party branch, grid staff and enforcement officers for an address or coordinate."""

    def go():
        moment = _parse_at(at)
        if csv_in is not None:
            return _batch(csv_in, output, moment)
        if (address is None) == (lon is None or lat is None):
            raise InvalidInput("give --address TEXT, or --lon X --lat Y [--crs gcj02], or --csv IN -o OUT")
        from gridmap.services.coverage import lookup_once

        try:
            answer = lookup_once(engine().begin, lon=lon, lat=lat, crs=crs, address=address, at=moment,
                                 edge_m=settings().edge_distance_m, role=CLI_ROLE)
        except AmbiguousLocation as exc:
            _print(_choices_body(exc), as_json, render_choices)
            raise typer.Exit(code=AMBIGUOUS_EXIT) from None
        _print(answer, as_json, render_card)

    run(go)


def _print(body: dict, as_json: bool, render) -> None:
    if as_json:  # strict JSON: a NaN would raise here rather than print an invalid document
        out.print_json(json.dumps(body, ensure_ascii=False, allow_nan=False))
        return
    for line in render(body):
        out.print(line, highlight=False)


def _choices_body(exc: AmbiguousLocation) -> dict:
    """The same body as the API's 300 answer."""
    return {"error": exc.code, "detail": exc.detail, **exc.choices}


def render_choices(body: dict) -> list[str]:
    """The grids an ambiguous address names, Chinese first."""
    compound = body.get("compound") or {}
    lines = [f"[bold yellow]多个网格 ambiguous[/]  {body['detail']}"]
    if compound:
        lines.append(f"小区 Compound    {compound.get('name')} ({compound.get('id')})")
    for g in body["grids"]:
        part = f", 本小区 {g['compound_households']} 户" if g.get("compound_households") is not None else ""
        lines.append(f"网格 Grid        {g['code']} {g['name']}{part}; 网格长 {_person(g.get('grid_head'))}")
    return lines


def _parse_at(value: str | None):
    from datetime import date, datetime, time, timedelta, timezone

    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time.max, tzinfo=timezone(timedelta(hours=8)))
    except ValueError:
        raise InvalidInput(f"--at {value!r} is not a date YYYY-MM-DD") from None


def _batch(path: Path, output: Path | None, moment) -> None:
    """Vectorised lookup of every row of a CSV, with a progress bar; bad rows get their own error."""
    from tqdm import tqdm

    from gridmap.coverage.batch import BATCH_COLUMNS, parse_csv
    from gridmap.interchange.text import CSV_ENCODING
    from gridmap.services.coverage import Cached, CoverageCache, lookup_rows

    if output is None:
        raise InvalidInput("--csv needs -o OUT.csv")
    if not path.exists():
        raise InvalidInput(f"{path} does not exist")
    rows = parse_csv(path.read_bytes())
    limit = settings().max_batch_rows
    if len(rows) > limit:
        raise InvalidInput(f"{path} has {len(rows)} rows; at most {limit} (GRIDMAP_MAX_BATCH_ROWS)")
    cache = CoverageCache(edge_m=settings().edge_distance_m)
    with console.status("loading the coverage index ..."):
        answers = lookup_rows(Cached(cache, engine().begin), rows, at=moment, role=CLI_ROLE)
    errors = 0
    with output.open("w", newline="", encoding=CSV_ENCODING) as fh:  # with BOM, for Excel
        writer = csv.DictWriter(fh, fieldnames=list(BATCH_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        for row in tqdm(answers, total=len(rows), unit="row", desc="lookup"):
            errors += row.get("error") is not None
            writer.writerow(row)
    out.print(f"wrote {output}: {len(rows)} rows, {errors} with errors")


def render_card(a: dict) -> list[str]:
    """A readable, Chinese-first card of one answer."""
    loc, grid = a["location"], a["grid"]
    lines = [f"[bold]网格 Grid[/]        {grid['code']} {grid['name']}  ({grid['households']} 户 households, "
             f"方案 plan {grid['plan']})",
             "社区 Community   " + " · ".join(_area(a.get(k)) for k in ("community", "street", "district")),
             f"位置 Location    {loc['lon']:.6f}, {loc['lat']:.6f} (CGCS2000) — "
             f"{METHOD_NAMES.get(loc['method'], loc['method'])}, 置信度 confidence {loc['confidence']:.2f}"]
    if loc.get("address"):
        lines.append(f"地址 Address     {loc['address']}")
    for cand in loc.get("candidates") or []:
        lines.append(f"  候选 candidate {cand['address']} ({cand['score']:.0f}) → {cand.get('grid_code')}")
    if a.get("compound"):
        lines.append(f"小区 Compound    {a['compound']['name']} ({a['compound']['id']})"
                     + (f", 楼栋 building {a['building_id']}" if a.get("building_id") else ""))
    if a["edge"]:
        near = ", ".join(f"{n['code']} {n['name']} {n['distance_m']:.0f} m" for n in a["neighbours"])
        lines.append(f"[bold yellow]⚠ 网格边界 edge[/]: {a['boundary_distance_m']:.0f} m from the boundary; "
                     f"相邻网格 neighbours: {near or '—'}")
    lines += _party(a["party"]) + _staff(a["staff"]) + _officers(a["officers"])
    for p in a["service_points"]:
        lines.append(f"服务点 Service   {p['name']} ({p['kind']}) {p['distance_m']:.0f} m, {p.get('hours') or ''}")
    return lines


def _area(area: dict | None) -> str:
    return f"{area['name']} ({area['code']})" if area else "—"


def _person(s: dict | None) -> str:
    if not s:
        return "—"
    return f"{s['name']} {s.get('phone') or ''}".strip()


def _party(party: dict) -> list[str]:
    names = {"grid_branch": "网格党支部", "community_committee": "社区大党委", "street_committee": "街道大工委"}
    out = []
    for key, label in names.items():
        org = party.get(key)
        if org:
            secretary = f" — 书记 secretary {_person(org['secretary'])}" if org.get("secretary") else ""
            out.append(f"党组织 Party     {label}: {org['name']}{secretary}")
    return out


def _staff(staff: dict) -> list[str]:
    out = [f"网格长 Grid head {_person(staff.get('grid_head'))}"]
    for role, people in staff["workers"].items():
        if people:
            out.append(f"网格员 Worker    {ROLE_ZH.get(role, role)}: " + ", ".join(_person(p) for p in people))
    if staff.get("volunteers"):
        out.append("志愿者 Volunteers " + ", ".join(_person(p) for p in staff["volunteers"]))
    if staff.get("building_chief"):
        out.append(f"楼栋长 Building chief {_person(staff['building_chief'])}")
    return out


def _officers(officers: dict) -> list[str]:
    return [f"执法 Officer     {AGENCY_NAMES.get(agency, agency)}: "
            + (", ".join(_person(p) for p in people) or "— (none linked)")
            for agency, people in officers.items()]
