"""Read stored layers back as GeoDataFrames in the interchange format."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, text

from gridmap.domain import STORAGE_EPSG
from gridmap.errors import PlanError
from gridmap.interchange.write import tidy_types
from gridmap.storage.plans import current_plan
from gridmap.storage.tables import TABLE_MAPS, TableMap

EXPORT_LAYERS = ("districts", "streets", "communities", "compounds", "buildings", "barriers",
                 "addresses", "service_points", "staff", "party_orgs")


def read_layer(conn: Connection, layer: str, where: str = "", params: dict | None = None) -> pd.DataFrame:
    """One stored layer with its attrs spread back into columns; ``where`` is a fixed SQL filter."""
    tmap = TABLE_MAPS[layer]
    cols = ", ".join((*tmap.key, *tmap.columns, "attrs"))
    order = ", ".join(tmap.key)
    if tmap.geometry:
        sql = f"SELECT {cols}, geom AS geometry FROM {tmap.table} {where} ORDER BY {order}"
        df = gpd.read_postgis(text(sql), conn, geom_col="geometry", params=params or {})
        df = df.set_crs(STORAGE_EPSG, allow_override=True)
    else:
        df = pd.read_sql(text(f"SELECT {cols} FROM {tmap.table} {where} ORDER BY {order}"), conn,
                         params=params or {})
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


def export_layers(conn: Connection, plan: str | None = None, *, private: bool = False) -> dict[str, pd.DataFrame]:
    """Every non-empty layer; grids of ``plan`` (default: the current generation's plan) with their
    ``grid_members`` and ``grid_staff`` tables (private phones in ``grid_staff`` only when ``private``)."""
    layers = {}
    for name in EXPORT_LAYERS:
        df = read_layer(conn, name)
        if len(df):
            layers[name] = df
    plan = plan or current_plan(conn)
    if plan is not None:
        exists = conn.execute(text("SELECT 1 FROM plan WHERE name = :p"), {"p": plan}).scalar()
        if not exists:
            raise PlanError(f"plan {plan!r} does not exist")
        layers["grids"] = read_layer(conn, "grids", "WHERE plan = :plan", {"plan": plan})
        layers["grid_members"] = grid_members(conn, plan)
        layers["grid_staff"] = grid_staff(conn, plan, private=private)
    return layers


def grid_members(conn: Connection, plan: str) -> pd.DataFrame:
    """Which compound (or, for a split compound, which building) belongs to which grid of ``plan``."""
    return pd.read_sql(text(
        "SELECT compound_id, building_id, grid_code, households FROM grid_member WHERE plan = :plan "
        "ORDER BY grid_code, compound_id, building_id NULLS FIRST"), conn, params={"plan": plan})


def grid_staff(conn: Connection, plan: str, *, private: bool = False) -> pd.DataFrame:
    """The people of each grid of ``plan``: its posts, then the officers linked to its compounds.

    Phones that are not public are left out unless ``private``.
    """
    from gridmap.coverage.answer import public_view
    from gridmap.domain import ROLE_ZH

    df = pd.read_sql(text(
        """SELECT grid_code, role, name, staff_id, agency, phone, phone_public, duty FROM (
             SELECT p.grid_code, p.role, s.name, s.id AS staff_id, s.agency, s.phone, s.phone_public,
                    'post' AS duty
             FROM staff_post p JOIN staff s ON s.id = p.staff_id
             WHERE p.valid_to IS NULL AND p.plan = :plan AND p.grid_code IS NOT NULL
             UNION
             SELECT m.grid_code, s.role, s.name, s.id, s.agency, s.phone, s.phone_public, 'officer'
             FROM grid_member m JOIN officer_link l ON l.compound_id = m.compound_id AND l.valid_to IS NULL
             JOIN staff s ON s.id = l.staff_id WHERE m.plan = :plan) t
           ORDER BY grid_code, duty DESC, role, staff_id"""), conn, params={"plan": plan})
    df.insert(2, "role_zh", df["role"].map(ROLE_ZH))
    if not private:
        df = pd.DataFrame(public_view(df.to_dict("records")), columns=df.columns)
    return df
