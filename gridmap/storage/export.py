"""Read stored layers back as GeoDataFrames in the interchange format."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, select
from sqlalchemy.sql.elements import ColumnElement

from gridmap.domain import STORAGE_EPSG
from gridmap.errors import PlanError
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
    attrs = pd.DataFrame(list(df["attrs"]), index=df.index) if len(df) else pd.DataFrame(index=df.index)
    attrs = attrs.drop(columns=[c for c in attrs.columns if c in df.columns], errors="ignore")
    out = pd.concat([df.drop(columns="attrs"), attrs], axis=1)
    if isinstance(df, gpd.GeoDataFrame):
        geometry = out.pop("geometry")
        out = gpd.GeoDataFrame(out, geometry=geometry, crs=STORAGE_EPSG)
    return out


def export_layers(conn: Connection, *, plan: str | None = None) -> dict[str, pd.DataFrame]:
    """Every non-empty layer; grids of ``plan`` (default: the current generation's plan)."""
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
    return layers
