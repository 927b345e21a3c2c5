"""Read stored layers back as GeoDataFrames in the interchange format."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, literal, select, union
from sqlalchemy.sql.elements import ColumnElement

from gridmap.domain import STORAGE_EPSG
from gridmap.errors import PlanError
from gridmap.interchange.write import tidy_types
from gridmap.storage import schema
from gridmap.storage.plans import current_plan, plan_status
from gridmap.storage.query import read_frame, read_geoframe
from gridmap.storage.tables import TABLE_MAPS, TableMap

EXPORT_LAYERS = ("districts", "streets", "communities", "compounds", "buildings", "barriers",
                 "addresses", "service_points", "staff", "party_orgs")


def read_layer(conn: Connection, layer: str, *, where: ColumnElement[bool] | None = None) -> pd.DataFrame:
    """One stored layer with its attrs spread back into columns, optionally filtered by ``where``."""
    tmap = TABLE_MAPS[layer]
    t = tmap.table
    query = select(*(t.c[c] for c in (*tmap.key, *tmap.columns, "attrs")))
    if tmap.geometry:
        query = query.add_columns(t.c.geom.label("geometry"))
    if where is not None:
        query = query.where(where)
    query = query.order_by(*(t.c[k] for k in tmap.key))
    df = read_geoframe(conn, query) if tmap.geometry else read_frame(conn, query)
    return _spread_attrs(tmap, df)


def _spread_attrs(tmap: TableMap, df: pd.DataFrame) -> pd.DataFrame:
    attrs = pd.DataFrame(list(df["attrs"]), index=df.index, dtype=object) if len(df) else pd.DataFrame(index=df.index)
    attrs = tidy_types(attrs)  # an attribute missing on some rows stays integer, not float
    attrs = attrs.drop(columns=[c for c in attrs.columns if c in df.columns], errors="ignore")
    out = pd.concat([df.drop(columns="attrs"), attrs], axis=1)
    if isinstance(df, gpd.GeoDataFrame):
        geometry = out.pop("geometry")
        out = gpd.GeoDataFrame(out, geometry=geometry, crs=STORAGE_EPSG)
    return out


def export_layers(conn: Connection, *, plan: str | None = None, private: bool = False) -> dict[str, pd.DataFrame]:
    """Every non-empty layer; grids of ``plan`` (default: the current generation's plan) with their
    ``grid_members`` and ``grid_staff`` tables (private phones in ``grid_staff`` only when ``private``)."""
    layers = {}
    for name in EXPORT_LAYERS:
        df = read_layer(conn, name)
        if len(df):
            layers[name] = df
    plan = plan or current_plan(conn)
    if plan is not None:
        if plan_status(conn, plan) is None:
            raise PlanError(f"plan {plan!r} does not exist")
        layers["grids"] = read_layer(conn, "grids", where=TABLE_MAPS["grids"].table.c.plan == plan)
        layers["grid_members"] = grid_members(conn, plan)
        layers["grid_staff"] = grid_staff(conn, plan, private=private)
    return layers


def grid_members(conn: Connection, plan: str) -> pd.DataFrame:
    """Which compound (or, for a split compound, which building) belongs to which grid of ``plan``."""
    m = schema.grid_member
    query = (select(m.c.compound_id, m.c.building_id, m.c.grid_code, m.c.households).where(m.c.plan == plan)
             .order_by(m.c.grid_code, m.c.compound_id, m.c.building_id.nulls_first()))
    return read_frame(conn, query)


def grid_staff(conn: Connection, plan: str, *, private: bool = False) -> pd.DataFrame:
    """The people of each grid of ``plan``: its posts, then the officers linked to its compounds.

    Phones that are not public are left out unless ``private``.
    """
    from gridmap.coverage.answer import present
    from gridmap.domain import ROLE_ZH

    p, s, m, ln = schema.staff_post, schema.staff, schema.grid_member, schema.officer_link
    person = (s.c.role, s.c.name, s.c.id.label("staff_id"), s.c.agency, s.c.phone, s.c.phone_public)
    posts = (select(p.c.grid_code, p.c.role, *person[1:], literal("post").label("duty"))
             .join_from(p, s, s.c.id == p.c.staff_id)
             .where(p.c.valid_to.is_(None), p.c.plan == plan, p.c.grid_code.is_not(None)))
    officers = (select(m.c.grid_code, *person, literal("officer").label("duty"))
                .join_from(m, ln, (ln.c.compound_id == m.c.compound_id) & ln.c.valid_to.is_(None))
                .join(s, s.c.id == ln.c.staff_id).where(m.c.plan == plan))
    both = union(posts, officers).subquery()
    query = select(both).order_by(both.c.grid_code, both.c.duty.desc(), both.c.role, both.c.staff_id)
    df = read_frame(conn, query)
    df.insert(2, "role_zh", df["role"].map(ROLE_ZH))
    if not private:
        df = pd.DataFrame(present(df.to_dict("records"), "public"), columns=df.columns)
    return df
