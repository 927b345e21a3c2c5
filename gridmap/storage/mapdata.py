"""Read-only queries behind the maps: grids of a plan, cards, compounds, barriers, service points,
officer links and grid outlines by code. Frames come back in EPSG:4490.

Which grid covers a point or an address is not asked here: the maps draw the answer of the coverage
service (``gridmap.services.coverage``), and fetch only the outlines to draw it with.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, text

from gridmap.domain import MAJOR_ROAD_CLASSES, STORAGE_EPSG
from gridmap.errors import PlanError
from gridmap.storage.plans import current_plan

BBox = tuple[float, float, float, float]  # west, south, east, north in EPSG:4490
_ENVELOPE = f"ST_MakeEnvelope(:w, :s, :e, :n, {STORAGE_EPSG})"


def map_plan(conn: Connection, plan: str | None = None) -> str:
    """``plan`` if it exists, else the current generation's plan; PlanError when there is none."""
    if plan is None:
        plan = current_plan(conn)
        if plan is None:
            raise PlanError("no published plan: partition and publish one (gridmap publish PLAN) or name a plan")
        return plan
    if not conn.execute(text("SELECT 1 FROM plan WHERE name = :p"), {"p": plan}).scalar():
        raise PlanError(f"plan {plan!r} does not exist")
    return plan


def _gdf(conn: Connection, sql: str, params: dict[str, Any]) -> gpd.GeoDataFrame:
    df = gpd.read_postgis(text(sql), conn, geom_col="geometry", params=params)
    return df.set_crs(STORAGE_EPSG, allow_override=True)


def _bbox_params(bbox: BBox | None) -> dict[str, float]:
    return dict(zip("wsen", bbox)) if bbox else {}


_GRID_SELECT = """
SELECT g.code, g.name, g.community_code, g.households,
       CAST(p.params -> 'rules' -> c.kind ->> 'min_households' AS integer) AS min_households,
       CAST(p.params -> 'rules' -> c.kind ->> 'max_households' AS integer) AS max_households
       {geom}
FROM grid g JOIN plan p ON p.name = g.plan JOIN community c ON c.code = g.community_code
WHERE g.plan = :plan {where}
ORDER BY g.code
"""


def grids(conn: Connection, plan: str, bbox: BBox | None = None, limit: int | None = None) -> gpd.GeoDataFrame:
    """Grids of ``plan`` with their household bounds; ``bbox`` uses the GiST index (ST_Intersects)."""
    where = f"AND g.geom && {_ENVELOPE} AND ST_Intersects(g.geom, {_ENVELOPE})" if bbox else ""
    sql = _GRID_SELECT.format(geom=", g.geom AS geometry", where=where)
    if limit is not None:
        sql += " LIMIT :limit"
    return _gdf(conn, sql, {"plan": plan, "limit": limit, **_bbox_params(bbox)})


def grid_stats(conn: Connection, plan: str) -> pd.DataFrame:
    """Grids of ``plan`` without geometry (code, households, bounds) for summaries."""
    return pd.read_sql(text(_GRID_SELECT.format(geom="", where="")), conn, params={"plan": plan})


def reported_violations(conn: Connection, plan: str) -> dict[str, list[str]]:
    """Rule names per grid code from the plan's report (``report.violations``)."""
    sql = """SELECT v ->> 'grid_code' AS code, v ->> 'rule' AS rule
             FROM plan, jsonb_array_elements(CASE WHEN jsonb_typeof(report -> 'violations') = 'array'
                                                  THEN report -> 'violations' ELSE '[]'::jsonb END) v
             WHERE name = :p AND v ->> 'grid_code' IS NOT NULL"""
    out: dict[str, list[str]] = defaultdict(list)
    for code, rule in conn.execute(text(sql), {"p": plan}):
        out[code].append(rule)
    return dict(out)


def grid_cards(conn: Connection, plan: str, codes: list[str]) -> dict[str, dict[str, Any]]:
    """Per grid: current posts (head, workers...), party branch and secretary, linked officers."""
    cards: dict[str, dict[str, Any]] = {code: {"posts": [], "branch": None, "officers": []} for code in codes}
    if not codes:
        return cards
    params = {"plan": plan, "codes": list(codes)}
    posts = """SELECT sp.grid_code, sp.role, s.name, s.phone, s.phone_public
               FROM staff_post sp JOIN staff s ON s.id = sp.staff_id
               WHERE sp.plan = :plan AND sp.valid_to IS NULL AND sp.grid_code = ANY(:codes)
                 AND sp.building_id IS NULL
               ORDER BY sp.grid_code, sp.role, s.name"""
    for r in conn.execute(text(posts), params).mappings():
        cards[r["grid_code"]]["posts"].append(dict(r))
    branches = """SELECT po.grid_code, po.name, s.name AS secretary, s.phone, s.phone_public
                  FROM party_org po LEFT JOIN staff s ON s.id = po.secretary_staff_id
                  WHERE po.level = 'grid_branch' AND po.plan = :plan AND po.grid_code = ANY(:codes)"""
    for r in conn.execute(text(branches), params).mappings():
        cards[r["grid_code"]]["branch"] = dict(r)
    officers = """SELECT DISTINCT gm.grid_code, ol.agency, s.name, s.phone, s.phone_public
                  FROM grid_member gm
                  JOIN officer_link ol ON ol.compound_id = gm.compound_id AND ol.valid_to IS NULL
                  JOIN staff s ON s.id = ol.staff_id
                  WHERE gm.plan = :plan AND gm.grid_code = ANY(:codes)
                  ORDER BY gm.grid_code, ol.agency, s.name"""
    for r in conn.execute(text(officers), params).mappings():
        cards[r["grid_code"]]["officers"].append(dict(r))
    return cards


def grid_workers(conn: Connection, plan: str) -> dict[str, list[dict[str, Any]]]:
    """Grid heads and workers per grid, with phone and phone_public (the page decides who sees it)."""
    sql = """SELECT sp.grid_code, sp.role, s.name, s.phone, s.phone_public
             FROM staff_post sp JOIN staff s ON s.id = sp.staff_id
             WHERE sp.plan = :plan AND sp.valid_to IS NULL AND sp.role IN ('grid_head', 'grid_worker')
               AND sp.building_id IS NULL
             ORDER BY sp.grid_code, sp.role DESC, s.name"""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in conn.execute(text(sql), {"plan": plan}).mappings():
        out[r["grid_code"]].append(dict(r))
    return dict(out)


def communities(conn: Connection) -> gpd.GeoDataFrame:
    """Community outlines (code, name, kind)."""
    return _gdf(conn, "SELECT code, name, kind, geom AS geometry FROM community ORDER BY code", {})


def compounds(conn: Connection, plan: str | None = None, bbox: BBox | None = None) -> gpd.GeoDataFrame:
    """Compounds with households and, given ``plan``, the grid holding most of their households."""
    where = f"WHERE k.geom && {_ENVELOPE} AND ST_Intersects(k.geom, {_ENVELOPE})" if bbox else ""
    sql = f"""SELECT k.id, k.name, k.community_code, k.households,
                     (SELECT gm.grid_code FROM grid_member gm WHERE gm.plan = :plan AND gm.compound_id = k.id
                      ORDER BY gm.households DESC LIMIT 1) AS grid_code,
                     k.geom AS geometry
              FROM compound k {where} ORDER BY k.id"""
    return _gdf(conn, sql, {"plan": plan, **_bbox_params(bbox)})


def barriers(conn: Connection, major_only: bool = True, kinds: tuple[str, ...] = ("road", "water"),
             bbox: BBox | None = None) -> gpd.GeoDataFrame:
    """Barriers of ``kinds``; with ``major_only`` roads are limited to the major OSM classes."""
    where = ["kind = ANY(:kinds)"]
    if major_only:
        where.append("(kind <> 'road' OR class = ANY(:major))")
    if bbox:
        where.append(f"geom && {_ENVELOPE} AND ST_Intersects(geom, {_ENVELOPE})")
    sql = f"SELECT kind, class, name, geom AS geometry FROM barrier WHERE {' AND '.join(where)} ORDER BY id"
    return _gdf(conn, sql, {"kinds": list(kinds), "major": list(MAJOR_ROAD_CLASSES), **_bbox_params(bbox)})


def service_points(conn: Connection) -> gpd.GeoDataFrame:
    """Service points with hours and (from attrs) services and a public phone."""
    sql = """SELECT id, name, kind, hours, community_code, attrs -> 'services' AS services,
                    attrs ->> 'phone' AS phone, geom AS geometry
             FROM service_point ORDER BY id"""
    gdf = _gdf(conn, sql, {})
    gdf["services"] = gdf["services"].map(_services)
    return gdf


def _services(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def extent(conn: Connection, table: str = "compound") -> BBox | None:
    """The bounding box of a table's geometries (compound, service_point, community)."""
    if table not in ("compound", "service_point", "community", "grid"):
        raise ValueError(f"no extent for table {table!r}")
    row = conn.execute(text(f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                            f"FROM (SELECT ST_Extent(geom) AS e FROM {table}) x")).first()
    return None if row is None or row[0] is None else (row[0], row[1], row[2], row[3])


def officer_links(conn: Connection) -> pd.DataFrame:
    """Current officer ↔ compound links with the officer's name and phone."""
    sql = """SELECT ol.staff_id, ol.agency, ol.compound_id, s.name, s.phone, s.phone_public
             FROM officer_link ol JOIN staff s ON s.id = ol.staff_id
             WHERE ol.valid_to IS NULL ORDER BY ol.agency, ol.staff_id, ol.compound_id"""
    return pd.read_sql(text(sql), conn)


# ---------------------------------------------------------------- outlines to draw an answer


def grid_shapes(conn: Connection, plan: str, codes: list[str]) -> gpd.GeoDataFrame:
    """Outlines (code, name, households, geometry) of the grids of ``plan`` named in an answer."""
    sql = """SELECT code, name, community_code, households, geom AS geometry FROM grid
              WHERE plan = :plan AND code = ANY(:codes) ORDER BY code"""
    return _gdf(conn, sql, {"plan": plan, "codes": list(codes)})


# ---------------------------------------------------------------- what each page needs


def count_grids(conn: Connection, plan: str) -> int:
    return int(conn.execute(text("SELECT count(*) FROM grid WHERE plan = :p"), {"p": plan}).scalar())


def coverage_inputs(conn: Connection, plan: str, viewport: bool = False) -> dict[str, Any]:
    """Keyword arguments of ``gridmap.maps.coverage_map`` (except tiles); ``viewport`` leaves grids and
    compounds out (the page fetches them by bounding box) and sends community outlines instead."""
    out: dict[str, Any] = {"plan": plan, "reported": reported_violations(conn, plan),
                           "barriers": barriers(conn)}
    if viewport:
        out.update(grids=grid_stats(conn, plan), communities=communities(conn))
        return out
    g = grids(conn, plan)
    out.update(grids=g, compounds=compounds(conn, plan),
               grid_cards=grid_cards(conn, plan, list(g["code"].astype(str))))
    return out


def service_inputs(conn: Connection, plan: str | None, walk_margin_deg: float = 0.02) -> dict[str, Any]:
    """Service points, compounds, roads near the points (for walking) and public grid outlines."""
    points = service_points(conn)
    roads = barriers(conn, major_only=False, kinds=("road",), bbox=_grown(extent(conn, "service_point"),
                                                                          walk_margin_deg))
    out: dict[str, Any] = {"points": points, "compounds": compounds(conn, plan), "roads": roads,
                           "grids": None, "grid_workers": {}}
    if plan is not None:
        out.update(grids=grids(conn, plan), grid_workers=grid_workers(conn, plan))
    return out


def _grown(box: BBox | None, margin: float) -> BBox | None:
    return None if box is None else (box[0] - margin, box[1] - margin, box[2] + margin, box[3] + margin)


def officer_inputs(conn: Connection) -> dict[str, Any]:
    """Keyword arguments of ``gridmap.maps.officer_map``: compounds and current officer links."""
    return {"compounds": compounds(conn), "links": officer_links(conn)}
