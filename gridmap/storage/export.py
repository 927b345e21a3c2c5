"""Read stored layers back as GeoDataFrames in the interchange format."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, text

from gridmap.domain import STORAGE_EPSG
from gridmap.errors import PlanError
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
        sql = f"SELECT {cols}, geom AS geometry FROM {tmap.table.name} {where} ORDER BY {order}"
        df = gpd.read_postgis(text(sql), conn, geom_col="geometry", params=params or {})
        df = df.set_crs(STORAGE_EPSG, allow_override=True)
    else:
        df = pd.read_sql(text(f"SELECT {cols} FROM {tmap.table.name} {where} ORDER BY {order}"), conn,
                         params=params or {})
    return _spread_attrs(tmap, df)


def _spread_attrs(tmap: TableMap, df: pd.DataFrame) -> pd.DataFrame:
    attrs = pd.DataFrame(list(df["attrs"]), index=df.index) if len(df) else pd.DataFrame(index=df.index)
    attrs = attrs.drop(columns=[c for c in attrs.columns if c in df.columns], errors="ignore")
    out = pd.concat([df.drop(columns="attrs"), attrs], axis=1)
    if isinstance(df, gpd.GeoDataFrame):
        geometry = out.pop("geometry")
        out = gpd.GeoDataFrame(out, geometry=geometry, crs=STORAGE_EPSG)
    return out


def export_layers(conn: Connection, plan: str | None = None) -> dict[str, pd.DataFrame]:
    """Every non-empty layer; grids of ``plan`` (default: the current generation's plan)."""
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
    return layers
