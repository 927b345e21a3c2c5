"""Write partition results as draft plans; read a plan's grids and members back."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import shapely
from psycopg2.extras import execute_values
from sqlalchemy import Connection, text

from gridmap.domain import STORAGE_EPSG
from gridmap.storage.export import read_layer
from gridmap.storage.plans import ensure_plan


def write_plan(
    conn: Connection,
    plan: str,
    grids: gpd.GeoDataFrame,
    members: pd.DataFrame,
    communities: list[str],
    report: dict,
    params: dict | None = None,
) -> int:
    """Replace the grids of ``communities`` in draft ``plan`` with ``grids``; returns grids written.

    Runs in a savepoint: a failure leaves the plan as it was.
    """
    with conn.begin_nested():
        ensure_plan(conn, plan, params)
        conn.execute(text("DELETE FROM grid WHERE plan = :p AND community_code = ANY(:c)"),
                     {"p": plan, "c": list(communities)})
        _insert_grids(conn, plan, grids)
        _insert_members(conn, plan, members)
        conn.execute(
            text("UPDATE plan SET report = report || CAST(:r AS jsonb), params = params || CAST(:q AS jsonb) "
                 "WHERE name = :p"),
            {"p": plan, "r": json.dumps(report, ensure_ascii=False, default=str),
             "q": json.dumps(params or {}, ensure_ascii=False, default=str)},
        )
    return len(grids)


def _insert_grids(conn: Connection, plan: str, grids: gpd.GeoDataFrame) -> None:
    if grids.empty:
        return
    wkb = shapely.to_wkb(grids.geometry.values, hex=True, output_dimension=2)
    rows = [(plan, r.code, r.name, r.community_code, int(r.households), w)
            for r, w in zip(grids.itertuples(), wkb)]
    geom = (f"ST_Multi(ST_SetSRID(ST_GeomFromWKB(decode(%s, 'hex')), {STORAGE_EPSG}))")
    with conn.connection.dbapi_connection.cursor() as cur:
        execute_values(cur, "INSERT INTO grid (plan, code, name, community_code, households, geom) VALUES %s",
                       rows, template=f"(%s, %s, %s, %s, %s, {geom})", page_size=1000)


def _insert_members(conn: Connection, plan: str, members: pd.DataFrame) -> None:
    if members.empty:
        return
    rows = [(plan, r.grid_code, r.compound_id, _none(r.building_id), int(r.households))
            for r in members.itertuples()]
    with conn.connection.dbapi_connection.cursor() as cur:
        execute_values(cur, "INSERT INTO grid_member (plan, grid_code, compound_id, building_id, households) "
                       "VALUES %s", rows, page_size=5000)


def _none(value: object) -> object:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) or value == "" else value


def read_grids(conn: Connection, plan: str, community_codes: list[str] | None = None) -> gpd.GeoDataFrame:
    """Grids of ``plan`` (optionally of some communities) as a GeoDataFrame."""
    if community_codes is None:
        return read_layer(conn, "grids", "WHERE plan = :plan", {"plan": plan})
    return read_layer(conn, "grids", "WHERE plan = :plan AND community_code = ANY(:codes)",
                      {"plan": plan, "codes": list(community_codes)})


def read_members(conn: Connection, plan: str) -> pd.DataFrame:
    return pd.read_sql(text("SELECT grid_code, compound_id, building_id, households FROM grid_member "
                            "WHERE plan = :p ORDER BY grid_code, compound_id, building_id"),
                       conn, params={"p": plan})


def partition_inputs(conn: Connection, scope: str, code: str) -> dict[str, pd.DataFrame]:
    """Communities, compounds, buildings and barriers of a district, street or community."""
    column = {"district": "left(c.code, 6)", "street": "c.street_code", "community": "c.code"}[scope]
    where = f"WHERE {column} = :code"
    communities = gpd.read_postgis(
        text(f"SELECT c.code, coalesce(c.attrs->>'short_name', c.name) AS name, c.kind, c.street_code, "
             f"c.geom AS geometry FROM community c {where} "
             "ORDER BY c.code"), conn, geom_col="geometry", params={"code": code})
    compounds = gpd.read_postgis(
        text(f"SELECT k.id, k.name, k.community_code, k.households, k.geom AS geometry FROM compound k "
             f"JOIN community c ON c.code = k.community_code {where} ORDER BY k.id"),
        conn, geom_col="geometry", params={"code": code})
    buildings = gpd.read_postgis(
        text(f"SELECT b.id, b.compound_id, b.households, b.geom AS geometry FROM building b "
             f"JOIN compound k ON k.id = b.compound_id JOIN community c ON c.code = k.community_code "
             f"{where} ORDER BY b.id"), conn, geom_col="geometry", params={"code": code})
    barriers = gpd.read_postgis(
        text("SELECT b.kind, b.class, b.geom AS geometry FROM barrier b "
             "WHERE ST_Intersects(b.geom, (SELECT ST_Union(c.geom) FROM community c " + where + "))"),
        conn, geom_col="geometry", params={"code": code})
    return {name: df.set_crs(STORAGE_EPSG, allow_override=True) for name, df in
            {"communities": communities, "compounds": compounds, "buildings": buildings,
             "barriers": barriers}.items()}
