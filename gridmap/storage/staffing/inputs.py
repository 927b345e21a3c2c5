"""What the staffing engine (:func:`gridmap.assign.assign_staff`) reads: a scope's communities,
streets, grids, compounds, buildings, roster and committees."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, func, select

from gridmap.errors import NotFound
from gridmap.storage.grids import SCOPE_COLUMN, read_grids
from gridmap.storage.query import read_frame, read_geoframe
from gridmap.storage.schema import building, community, compound, grid_member, party_org, staff, street
from gridmap.storage.staffing.roster import active

TRUE_TEXT = frozenset({"true", "1", "yes", "y", "t", "是"})
COMMITTEES = ("street_committee", "community_committee")


def scope_communities(conn: Connection, scope: str, code: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Communities (code, name, street_code) of a scope and the streets (code, name, whole) they lie in.

    ``whole`` says whether every community of the street is in the scope.
    """
    c, s = community.c, street.c
    comm = read_frame(conn, select(c.code, c.name, c.street_code).where(SCOPE_COLUMN[scope] == code)
                      .order_by(c.code))
    total = select(func.count()).where(c.street_code == s.code).scalar_subquery().label("total")
    streets = read_frame(conn, select(s.code, s.name, total).where(s.code.in_(sorted(set(comm["street_code"]))))
                         .order_by(s.code))
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
    k, m = compound.c, grid_member.c
    main_grid = (select(m.grid_code).where((m.plan == plan) & (m.compound_id == k.id)).group_by(m.grid_code)
                 .order_by(func.sum(m.households).desc(), m.grid_code).limit(1).scalar_subquery())
    gdf = read_geoframe(conn, select(k.id, k.name, k.community_code, k.households, main_grid.label("grid_code"),
                                     k.geom.label("geometry"))
                        .where(k.community_code.in_(codes)).order_by(k.id))
    gdf["grid_code"] = gdf["grid_code"].fillna("")
    return gdf


def _buildings(conn: Connection, codes: list[str]) -> gpd.GeoDataFrame:
    b, k = building.c, compound.c
    return read_geoframe(conn, select(b.id, b.compound_id, b.households,
                                      func.coalesce(b.attrs["name"].astext, b.id).label("name"),
                                      b.geom.label("geometry"))
                         .join_from(building, compound, k.id == b.compound_id)
                         .where(k.community_code.in_(codes)).order_by(b.id))


def read_roster(conn: Connection, communities: list[str], streets: list[str]) -> pd.DataFrame:
    """Active staff of the communities, plus the street pools (no community) of the streets."""
    s = staff.c
    home = s.community_code.in_(communities) | (s.community_code.is_(None) & s.street_code.in_(streets))
    df = read_frame(conn, select(s.id, s.name, s.role, func.coalesce(s.agency, "").label("agency"),
                                 s.community_code, s.street_code,
                                 *(s.attrs[k].astext.label(k) for k in ("building_id", "grid_code", "party_member")))
                    .where(active(s.attrs) & home).order_by(s.id))
    df["party_member"] = [None if v is None else str(v).lower() in TRUE_TEXT for v in df["party_member"]]
    return df


def _committees(conn: Connection, communities: list[str], streets: list[str]) -> pd.DataFrame:
    o = party_org.c
    return read_frame(conn, select(o.id, o.name, o.level, o.parent_id, o.street_code, o.community_code,
                                   o.secretary_staff_id)
                      .where(o.level.in_(COMMITTEES) & (o.street_code.in_(streets) | o.community_code.in_(communities)))
                      .order_by(o.id))
