"""What the staffing engine (:func:`gridmap.assign.assign_staff`) reads: a scope's communities,
streets, grids, compounds, buildings, roster and committees."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, text

from gridmap.domain import STORAGE_EPSG
from gridmap.errors import NotFound
from gridmap.storage.grids import read_grids

TRUE_TEXT = frozenset({"true", "1", "yes", "y", "t", "是"})
SCOPE_COLUMN = {"district": "left(c.code, 6)", "street": "c.street_code", "community": "c.code"}


def scope_communities(conn: Connection, scope: str, code: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Communities (code, name, street_code) of a scope and the streets (code, name, whole) they lie in.

    ``whole`` says whether every community of the street is in the scope.
    """
    where = SCOPE_COLUMN[scope]
    comm = pd.read_sql(text(f"SELECT c.code, c.name, c.street_code FROM community c WHERE {where} = :code "
                            "ORDER BY c.code"), conn, params={"code": code})
    streets = pd.read_sql(
        text("SELECT s.code, s.name, (SELECT count(*) FROM community c WHERE c.street_code = s.code) AS total "
             "FROM street s WHERE s.code = ANY(:codes) ORDER BY s.code"),
        conn, params={"codes": sorted(set(comm["street_code"]))})
    inside = comm.groupby("street_code").size()
    streets["whole"] = streets["code"].map(inside).fillna(0).astype(int) == streets.pop("total")
    return comm, streets


def assign_inputs(conn: Connection, plan: str, scope: str, code: str) -> dict:
    """Everything :func:`gridmap.assign.assign_staff` needs for the communities of a scope."""
    comm, streets = scope_communities(conn, scope, code)
    if comm.empty:
        raise NotFound(f"no communities in {scope} {code}; import boundaries first")
    codes = list(comm["code"])
    grids = read_grids(conn, plan, community_codes=codes)
    if grids.empty:
        raise NotFound(f"plan {plan!r} has no grids in {scope} {code}; partition it first")
    return {
        "communities": comm,
        "streets": streets,
        "grids": grids,
        "compounds": _compounds(conn, plan, codes),
        "buildings": _buildings(conn, codes),
        "staff": read_roster(conn, codes, list(streets["code"])),
        "party_orgs": _committees(conn, codes, list(streets["code"])),
    }


def _compounds(conn: Connection, plan: str, codes: list[str]) -> gpd.GeoDataFrame:
    """Compounds with the plan's grid holding most of their households ('' when not a member)."""
    sql = """SELECT k.id, k.name, k.community_code, k.households,
                    (SELECT m.grid_code FROM grid_member m WHERE m.plan = :plan AND m.compound_id = k.id
                     GROUP BY m.grid_code ORDER BY sum(m.households) DESC, m.grid_code LIMIT 1) AS grid_code,
                    k.geom AS geometry
             FROM compound k WHERE k.community_code = ANY(:codes) ORDER BY k.id"""
    gdf = gpd.read_postgis(text(sql), conn, geom_col="geometry", params={"plan": plan, "codes": codes})
    gdf["grid_code"] = gdf["grid_code"].fillna("")
    return gdf.set_crs(STORAGE_EPSG, allow_override=True)


def _buildings(conn: Connection, codes: list[str]) -> gpd.GeoDataFrame:
    sql = """SELECT b.id, b.compound_id, b.households, coalesce(b.attrs->>'name', b.id) AS name,
                    b.geom AS geometry
             FROM building b JOIN compound k ON k.id = b.compound_id
             WHERE k.community_code = ANY(:codes) ORDER BY b.id"""
    gdf = gpd.read_postgis(text(sql), conn, geom_col="geometry", params={"codes": codes})
    return gdf.set_crs(STORAGE_EPSG, allow_override=True)


def read_roster(conn: Connection, communities: list[str], streets: list[str]) -> pd.DataFrame:
    """Active staff of the communities, plus the street pools (no community) of the streets."""
    sql = """SELECT id, name, role, coalesce(agency, '') AS agency, community_code, street_code,
                    attrs->>'building_id' AS building_id, attrs->>'grid_code' AS grid_code,
                    attrs->>'party_member' AS party_member
             FROM staff
             WHERE coalesce(attrs->>'active', 'true') <> 'false'
               AND (community_code = ANY(:comms) OR (community_code IS NULL AND street_code = ANY(:streets)))
             ORDER BY id"""
    df = pd.read_sql(text(sql), conn, params={"comms": communities, "streets": streets})
    df["party_member"] = [None if v is None else str(v).lower() in TRUE_TEXT for v in df["party_member"]]
    return df


def _committees(conn: Connection, communities: list[str], streets: list[str]) -> pd.DataFrame:
    sql = """SELECT id, name, level, parent_id, street_code, community_code, secretary_staff_id FROM party_org
             WHERE level IN ('street_committee', 'community_committee')
               AND (street_code = ANY(:streets) OR community_code = ANY(:comms)) ORDER BY id"""
    return pd.read_sql(text(sql), conn, params={"comms": communities, "streets": streets})
