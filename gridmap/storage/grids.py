"""Write partition results as draft plans; read a plan's grids and members back."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely
from geoalchemy2 import functions as gfunc
from sqlalchemy import Connection, delete, func, select, update

from gridmap.domain import STORAGE_EPSG
from gridmap.storage.export import read_layer
from gridmap.storage.plans import ensure_plan
from gridmap.storage.query import bulk_insert, jsonb, read_frame, read_geoframe
from gridmap.storage.schema import barrier, building, community, compound, grid, grid_member, plan as plan_table

#: Columns that put a community in a district, street or community scope.
SCOPE_COLUMN = {"district": func.left(community.c.code, 6), "street": community.c.street_code,
                "community": community.c.code}


def write_plan(
    conn: Connection,
    plan: str,
    grids: gpd.GeoDataFrame,
    members: pd.DataFrame,
    communities: list[str],
    report: dict,
    *,
    params: dict | None = None,
) -> int:
    """Replace the grids of ``communities`` in draft ``plan`` with ``grids``; returns grids written.

    Runs in a savepoint: a failure leaves the plan as it was.
    """
    with conn.begin_nested():
        ensure_plan(conn, plan, params=params)
        conn.execute(delete(grid).where((grid.c.plan == plan) & grid.c.community_code.in_(list(communities))))
        _insert_grids(conn, plan, grids)
        _insert_members(conn, plan, members)
        p = plan_table.c
        conn.execute(update(plan_table).where(p.name == plan)
                     .values(report=p.report.op("||")(jsonb(report)), params=p.params.op("||")(jsonb(params or {}))))
    return len(grids)


def _insert_grids(conn: Connection, plan: str, grids: gpd.GeoDataFrame) -> None:
    if grids.empty:
        return
    wkb = shapely.to_wkb(grids.geometry.values, hex=True, output_dimension=2)
    values = [(plan, r.code, r.name, r.community_code, int(r.households), w)
              for r, w in zip(grids.itertuples(), wkb)]
    geom = f"ST_Multi(ST_SetSRID(ST_GeomFromWKB(decode(%s, 'hex')), {STORAGE_EPSG}))"
    # The statement-level trigger of migration 0003 subdivides each page of grids in one query.
    bulk_insert(conn, grid, ("plan", "code", "name", "community_code", "households", "geom"), values,
                template=f"(%s, %s, %s, %s, %s, {geom})", page_size=1000)


def _insert_members(conn: Connection, plan: str, members: pd.DataFrame) -> None:
    if members.empty:
        return
    values = [(plan, r.grid_code, r.compound_id, _none(r.building_id), int(r.households))
              for r in members.itertuples()]
    bulk_insert(conn, grid_member, ("plan", "grid_code", "compound_id", "building_id", "households"), values,
                page_size=5000)


def _none(value: object) -> object:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) or value == "" else value


def read_grids(conn: Connection, plan: str, *, community_codes: list[str] | None = None) -> gpd.GeoDataFrame:
    """Grids of ``plan`` (optionally of some communities) as a GeoDataFrame."""
    where = grid.c.plan == plan
    if community_codes is not None:
        where = where & grid.c.community_code.in_(list(community_codes))
    return read_layer(conn, "grids", where=where)


def read_members(conn: Connection, plan: str) -> pd.DataFrame:
    m = grid_member.c
    return read_frame(conn, select(m.grid_code, m.compound_id, m.building_id, m.households)
                      .where(m.plan == plan).order_by(m.grid_code, m.compound_id, m.building_id))


def partition_inputs(conn: Connection, scope: str, code: str) -> dict[str, gpd.GeoDataFrame]:
    """Communities, compounds, buildings and barriers of a district, street or community."""
    c, k, b = community.c, compound.c, building.c
    in_scope = SCOPE_COLUMN[scope] == code
    communities = read_geoframe(conn, select(
        c.code, func.coalesce(c.attrs["short_name"].astext, c.name).label("name"), c.kind, c.street_code,
        c.geom.label("geometry")).where(in_scope).order_by(c.code))
    compounds = read_geoframe(conn, select(
        k.id, k.name, k.community_code, k.households, k.geom.label("geometry"))
        .join_from(compound, community, c.code == k.community_code).where(in_scope).order_by(k.id))
    buildings = read_geoframe(conn, select(
        b.id, b.compound_id, b.households, b.geom.label("geometry"))
        .join_from(building, compound, k.id == b.compound_id).join(community, c.code == k.community_code)
        .where(in_scope).order_by(b.id))
    area = select(gfunc.ST_Union(c.geom)).where(in_scope).scalar_subquery()
    # In id order: the engine's result depends on the barriers' order, which must not change between imports.
    barriers = read_geoframe(conn, select(barrier.c.kind, barrier.c["class"], barrier.c.geom.label("geometry"))
                             .where(gfunc.ST_Intersects(barrier.c.geom, area)).order_by(barrier.c.id))
    return {"communities": communities, "compounds": compounds, "buildings": buildings, "barriers": barriers}
