"""Coverage snapshots from PostGIS for the in-memory index (:mod:`gridmap.coverage`).

A generation is loaded whole (grids, ST_Subdivide'd parts, compounds,
buildings, service points and a per-grid card: admin names, party chain,
posts; officers per compound) or, for a historic ``at=`` lookup, only a
slice around the point. :func:`fingerprint` tells cheaply whether what a
lookup answers may have changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, text

from gridmap.coverage.index import CoverageData, _degrees_for, expand_bounds
from gridmap.domain import STORAGE_EPSG
from gridmap.errors import PlanError

SLICE_RADIUS_M = 2_000.0
# Not "grid": drafts are written there, and a published plan's grids never change.
_STATS_TABLES = ("generation", "staff", "staff_post", "officer_link", "party_org", "service_point",
                 "compound", "building", "community", "street", "district")
_ADDRESS_TABLES = ("address", "compound", "building", "community", "street", "district")


# ---------------------------------------------------------------- generations


def generation_at(conn: Connection, at: datetime | None = None) -> dict | None:
    """The generation current at ``at`` (default now): id, plan, valid_from, valid_to; None if none."""
    where = "valid_to IS NULL" if at is None else \
        "valid_from <= :at AND (valid_to IS NULL OR valid_to > :at)"
    row = conn.execute(text(f"SELECT id, plan, valid_from, valid_to FROM generation WHERE {where}"),
                       {"at": at}).first()
    return dict(row._mapping) if row else None


def plan_generation(conn: Connection, plan: str) -> dict:
    """The latest generation of ``plan``; for a plan never published, a stand-in with id None."""
    row = conn.execute(text("""SELECT id, plan, valid_from, valid_to FROM generation WHERE plan = :p
                               ORDER BY valid_from DESC LIMIT 1"""), {"p": plan}).first()
    if row is not None:
        return dict(row._mapping)
    if not conn.execute(text("SELECT 1 FROM plan WHERE name = :p"), {"p": plan}).scalar():
        raise PlanError(f"plan {plan!r} does not exist")
    return {"id": None, "plan": plan, "valid_from": None, "valid_to": None}


def fingerprint(conn: Connection) -> tuple:
    """Changes whenever what a lookup answers may have changed (a publish, new posts, edits)."""
    stats = ", ".join(f"'{t}'" for t in _STATS_TABLES)
    sql = f"""SELECT (SELECT id FROM generation WHERE valid_to IS NULL),
                     (SELECT coalesce(max(id), 0) FROM staff_post),
                     (SELECT coalesce(max(id), 0) FROM officer_link),
                     (SELECT count(*) FROM party_org),
                     (SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)
                        FROM pg_stat_user_tables WHERE relname IN ({stats}))"""
    return tuple(conn.execute(text(sql)).one())


def address_fingerprint(conn: Connection) -> tuple:
    stats = ", ".join(f"'{t}'" for t in _ADDRESS_TABLES)
    sql = f"""SELECT (SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)
                        FROM pg_stat_user_tables WHERE relname IN ({stats})),
                     (SELECT reltuples FROM pg_class WHERE relname = 'address')"""
    return tuple(conn.execute(text(sql)).one())


# ---------------------------------------------------------------- snapshots


def load_coverage(conn: Connection, generation: dict, at: datetime | None = None,
                  near: tuple[float, float] | None = None) -> CoverageData:
    """The coverage of ``generation``: whole, or only a slice around ``near`` (lon, lat)."""
    plan = generation["plan"]
    where, params = _slice(conn, plan, near)
    grids = _gdf(conn, f"""SELECT g.code, g.name, g.community_code, g.households, g.geom AS geometry
                           FROM grid g WHERE g.plan = :plan {where.format(t='g')} ORDER BY g.code""", params)
    parts = _gdf(conn, f"""SELECT g.code AS grid_code, p.geom AS geometry FROM grid_part p
                           JOIN grid g ON g.id = p.grid_id WHERE g.plan = :plan {where.format(t='g')}""", params)
    point_where, point_params = _at_point(near)
    compounds = _gdf(conn, f"SELECT id, name, geom AS geometry FROM compound t WHERE true {point_where}",
                     point_params)
    buildings = _gdf(conn, f"""SELECT id, compound_id, geom AS geometry FROM building t
                               WHERE GeometryType(geom) = 'POLYGON' {point_where}""", point_params)
    codes = grids["code"].tolist() if near is not None else None
    ids = compounds["id"].tolist() if near is not None else None
    return CoverageData(
        generation=_json_generation(generation),
        grids=grids,
        parts=parts,
        cards=load_cards(conn, plan, at, codes),
        compounds=compounds,
        buildings=buildings,
        service_points=_service_points(conn, near),
        officers=load_officers(conn, at, ids),
        service_area=service_bounds(conn, plan),
        members=load_members(conn, plan, ids),
    )


def load_members(conn: Connection, plan: str, compound_ids: list[str] | None = None) -> pd.DataFrame:
    """The plan's membership per compound and grid: households and the member buildings' ids."""
    only = "AND compound_id = ANY(:ids)" if compound_ids is not None else ""
    sql = f"""SELECT compound_id, grid_code, sum(households) AS households,
                     array_remove(array_agg(building_id ORDER BY building_id), NULL) AS buildings
              FROM grid_member WHERE plan = :plan {only} GROUP BY compound_id, grid_code"""
    return pd.read_sql(text(sql), conn, params={"plan": plan, "ids": compound_ids})


def _slice(conn: Connection, plan: str, near: tuple[float, float] | None) -> tuple[str, dict]:
    """SQL filter (with {t} for the table alias) for grids near a point, and its parameters."""
    if near is None:
        return "", {"plan": plan}
    lon, lat = near
    sql = """SELECT ST_Distance(p.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)) FROM grid_part p
             JOIN grid g ON g.id = p.grid_id WHERE g.plan = :plan
             ORDER BY p.geom <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) LIMIT 1"""
    nearest = conn.execute(text(sql), {"plan": plan, "lon": lon, "lat": lat}).scalar() or 0.0
    radius = max(_degrees_for(SLICE_RADIUS_M, lat), 1.3 * float(nearest) + 1e-9)
    where = ("AND {t}.geom && ST_Expand(ST_SetSRID(ST_MakePoint(:lon, :lat), 4490), :r) "
             "AND ST_DWithin({t}.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490), :r)")
    return where, {"plan": plan, "lon": lon, "lat": lat, "r": radius}


def _at_point(near: tuple[float, float] | None) -> tuple[str, dict]:
    if near is None:
        return "", {}
    return ("AND ST_Intersects(t.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490))",
            {"lon": near[0], "lat": near[1]})


def _gdf(conn: Connection, sql: str, params: dict) -> gpd.GeoDataFrame:
    gdf = gpd.read_postgis(text(sql), conn, geom_col="geometry", params=params)
    return gdf.set_crs(STORAGE_EPSG, allow_override=True)


def _json_generation(generation: dict) -> dict:
    out = dict(generation)
    for key in ("valid_from", "valid_to"):
        if out.get(key) is not None:
            out[key] = out[key].isoformat()
    return out


def _service_points(conn: Connection, near: tuple[float, float] | None) -> gpd.GeoDataFrame:
    sql = "SELECT id, name, kind, hours, community_code, geom AS geometry FROM service_point"
    params: dict = {}
    if near is not None:
        sql += " ORDER BY geom <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) LIMIT 30"
        params = {"lon": near[0], "lat": near[1]}
    return _gdf(conn, sql, params)


def service_bounds(conn: Connection, plan: str) -> tuple[float, float, float, float] | None:
    """Bounding box (with a margin) of the districts and the plan's grids: the service area."""
    sql = """SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (
               SELECT ST_Extent(geom) AS e FROM (
                 SELECT geom FROM district UNION ALL SELECT geom FROM grid WHERE plan = :plan) u) x"""
    row = conn.execute(text(sql), {"plan": plan}).one()
    return expand_bounds(tuple(float(v) for v in row)) if row[0] is not None else None


# ---------------------------------------------------------------- cards


def _active(alias: str, at: datetime | None) -> str:
    if at is None:
        return f"{alias}.valid_to IS NULL"
    return f"{alias}.valid_from <= :at AND ({alias}.valid_to IS NULL OR {alias}.valid_to > :at)"


_STAFF_COLUMNS = "s.id, s.name, s.role AS staff_role, s.agency, s.phone, s.phone_public"


def load_cards(conn: Connection, plan: str, at: datetime | None = None,
               codes: list[str] | None = None) -> dict[str, dict]:
    """Per grid code: community, street, district, party chain and posts of ``plan`` at ``at``."""
    only = "AND g.code = ANY(:codes)" if codes is not None else ""
    params = {"plan": plan, "at": at, "codes": codes}
    admin = conn.execute(text(f"""
        SELECT g.code, c.code AS c_code, c.name AS c_name, c.kind AS c_kind, s.code AS s_code,
               s.name AS s_name, d.code AS d_code, d.name AS d_name
        FROM grid g JOIN community c ON c.code = g.community_code JOIN street s ON s.code = c.street_code
        JOIN district d ON d.code = s.district_code WHERE g.plan = :plan {only}"""), params)
    cards = {r.code: {"community": {"code": r.c_code, "name": r.c_name, "kind": r.c_kind},
                      "street": {"code": r.s_code, "name": r.s_name},
                      "district": {"code": r.d_code, "name": r.d_name}, "posts": []} for r in admin}
    for code, post in _posts(conn, plan, at, codes):
        if code in cards:
            cards[code]["posts"].append(post)
    _attach_party(conn, plan, cards, codes)
    return cards


def _posts(conn: Connection, plan: str, at: datetime | None, codes: list[str] | None) -> Iterator[tuple[str, dict]]:
    only = "AND p.grid_code = ANY(:codes)" if codes is not None else ""
    sql = f"""SELECT p.grid_code, p.role, p.building_id, {_STAFF_COLUMNS} FROM staff_post p
              JOIN staff s ON s.id = p.staff_id WHERE p.plan = :plan AND {_active('p', at)} {only}
              ORDER BY p.grid_code, p.role, p.valid_from, s.id"""
    for r in conn.execute(text(sql), {"plan": plan, "at": at, "codes": codes}):
        yield r.grid_code, {**_staff(r), "role": r.role, "building_id": r.building_id}


def _staff(r: Any) -> dict:
    return {"id": r.id, "name": r.name, "role": r.staff_role, "agency": r.agency, "phone": r.phone,
            "phone_public": bool(r.phone_public)}


def _attach_party(conn: Connection, plan: str, cards: dict[str, dict], codes: list[str] | None) -> None:
    """Grid party branch → community 大党委 → street 大工委, with secretaries."""
    sql = f"""SELECT o.id, o.name, o.level, o.parent_id, o.street_code, o.community_code, o.grid_code,
                     o.plan, s.id AS s_id, s.name AS s_name, s.role AS s_role, s.agency AS s_agency,
                     s.phone AS s_phone, s.phone_public AS s_public
              FROM party_org o LEFT JOIN staff s ON s.id = o.secretary_staff_id
              WHERE o.level IN ('street_committee', 'community_committee')
                 OR (o.level = 'grid_branch' AND o.plan = :plan
                     {"AND o.grid_code = ANY(:codes)" if codes is not None else ""})"""
    orgs = {r.id: r for r in conn.execute(text(sql), {"plan": plan, "codes": codes})}
    branch_of = {r.grid_code: r for r in orgs.values() if r.level == "grid_branch"}
    committee_of = {r.community_code: r for r in orgs.values() if r.level == "community_committee"}
    street_of = {r.street_code: r for r in orgs.values() if r.level == "street_committee"}
    for code, card in cards.items():
        branch = branch_of.get(code)
        committee = orgs.get(branch.parent_id) if branch is not None else None
        committee = committee or committee_of.get(card["community"]["code"])
        street = orgs.get(committee.parent_id) if committee is not None else None
        street = street or street_of.get(card["street"]["code"])
        card["party"] = {"grid_branch": _org(branch), "community_committee": _org(committee),
                         "street_committee": _org(street)}


def _org(r: Any) -> dict | None:
    if r is None:
        return None
    secretary = None
    if r.s_id is not None:
        secretary = {"id": r.s_id, "name": r.s_name, "role": r.s_role, "agency": r.s_agency,
                     "phone": r.s_phone, "phone_public": bool(r.s_public)}
    return {"id": r.id, "name": r.name, "level": r.level, "secretary": secretary}


def load_officers(conn: Connection, at: datetime | None = None,
                  compound_ids: list[str] | None = None) -> dict[str, dict[str, list[dict]]]:
    """Compound id → agency → officers linked at ``at`` (default: now)."""
    only = "AND l.compound_id = ANY(:ids)" if compound_ids is not None else ""
    sql = f"""SELECT l.compound_id, l.agency, {_STAFF_COLUMNS} FROM officer_link l
              JOIN staff s ON s.id = l.staff_id WHERE {_active('l', at)} {only}
              ORDER BY l.compound_id, l.agency, s.id"""
    out: dict[str, dict[str, list[dict]]] = {}
    for r in conn.execute(text(sql), {"at": at, "ids": compound_ids}):
        out.setdefault(r.compound_id, {}).setdefault(r.agency, []).append(_staff(r))
    return out
