"""Check and tidy the inputs of :func:`gridmap.assign.assign_staff`.

Every table comes out with string keys, empty strings for missing codes and
only the columns the engine reads; geometry becomes metric x/y points.
"""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.crs import metric_crs_of
from gridmap.domain import ROLES
from gridmap.errors import InvalidInput


def require(frame: pd.DataFrame | None, name: str, columns: Iterable[str]) -> None:
    """Raise InvalidInput naming the columns ``frame`` lacks."""
    if frame is None:
        raise InvalidInput(f"{name} is required")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(f"{name} lacks columns {missing}; required: {list(columns)}")


def code(values: pd.Series) -> pd.Series:
    """Codes as strings; None/NaN become ''."""
    return values.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())


def metric_points(gdf: gpd.GeoDataFrame, epsg: str | None) -> np.ndarray:
    """(n, 2) metres: a point inside each geometry, in the given metric CRS."""
    if len(gdf) == 0:
        return np.zeros((0, 2))
    pts = gdf.geometry.to_crs(epsg).representative_point()
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])


def tidy_grids(grids: gpd.GeoDataFrame, community_codes: set[str]) -> pd.DataFrame:
    """code, name, community_code, households of every grid."""
    require(grids, "grids", ("code", "name", "community_code", "households", "geometry"))
    out = pd.DataFrame(
        {
            "code": code(grids["code"]),
            "name": code(grids["name"]),
            "community_code": code(grids["community_code"]),
            "households": pd.to_numeric(grids["households"]).fillna(0).astype(float),
        }
    )
    _known(out["community_code"], community_codes, "grids.community_code")
    if out["code"].duplicated().any():
        raise InvalidInput(f"grids repeat codes {sorted(out.loc[out['code'].duplicated(), 'code'])[:5]}")
    return out.sort_values("code", kind="stable").reset_index(drop=True)


def tidy_compounds(
    compounds: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None,
    community_codes: set[str],
) -> pd.DataFrame:
    """id, name, community_code, households, grid_code, x, y (metres) of every compound.

    A compound split over several grids (several rows with one id, or no
    grid_code given) belongs to the grid holding most of its households:
    summed per row when rows repeat the id, else from building households,
    else from the area of overlap.
    """
    require(compounds, "compounds", ("id", "name", "community_code", "households", "geometry"))
    # no compounds: nothing to measure (None), but a missing CRS is an error all the same
    epsg = metric_crs_of(compounds) if len(compounds) or compounds.crs is None else None
    gdf = compounds.copy()
    gdf["id"] = code(gdf["id"])
    gdf["community_code"] = code(gdf["community_code"])
    gdf["households"] = pd.to_numeric(gdf["households"]).fillna(0).astype(float)
    gdf["grid_code"] = code(gdf["grid_code"]) if "grid_code" in gdf.columns else ""
    _known(gdf["community_code"], community_codes, "compounds.community_code")
    gdf = _merge_split(gdf)
    missing = gdf["grid_code"] == ""
    if missing.any():
        gdf.loc[missing, "grid_code"] = _grid_of(gdf[missing], grids, buildings, epsg)
    xy = metric_points(gdf, epsg)
    out = pd.DataFrame(gdf[["id", "name", "community_code", "households", "grid_code"]])
    out["name"] = out["name"].astype(str)
    out["x"], out["y"] = xy[:, 0], xy[:, 1]
    return out.sort_values("id", kind="stable").reset_index(drop=True)


def _merge_split(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One row per compound id: households summed, grid of the row with most households."""
    if not gdf["id"].duplicated().any():
        return gdf
    order = gdf.sort_values("households", ascending=False, kind="stable")
    first = order.drop_duplicates("id").set_index("id")
    geometry = gdf.dissolve(by="id").geometry
    first["households"] = gdf.groupby("id")["households"].sum()
    first["geometry"] = geometry
    return gpd.GeoDataFrame(first.reset_index(), geometry="geometry", crs=gdf.crs)


def _grid_of(
    part: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None, epsg: str
) -> list[str]:
    """Grid holding most of each compound's households (buildings), else most of its area."""
    g = gpd.GeoDataFrame({"grid_code": code(grids["code"])}, geometry=grids.geometry.to_crs(epsg))
    comp = gpd.GeoDataFrame({"id": part["id"].to_numpy()}, geometry=part.geometry.to_crs(epsg).to_numpy())
    share = pd.Series(dtype=float)
    if buildings is not None and len(buildings):
        b = gpd.GeoDataFrame(
            {"id": code(buildings["compound_id"]), "w": pd.to_numeric(buildings["households"]).fillna(0) + 1e-6},
            geometry=buildings.geometry.to_crs(epsg).representative_point(),
        )
        hit = gpd.sjoin(b[b["id"].isin(comp["id"])], g, predicate="within")
        share = hit.groupby(["id", "grid_code"])["w"].sum()
    if share.empty or set(share.index.get_level_values(0)) != set(comp["id"]):
        pieces = gpd.overlay(comp, g, how="intersection", keep_geom_type=True)
        pieces["w"] = pieces.area
        area = pieces.groupby(["id", "grid_code"])["w"].sum()
        share = pd.concat([share, area[~area.index.get_level_values(0).isin(share.index.get_level_values(0))]])
    best = share.sort_values(ascending=False, kind="stable").reset_index().drop_duplicates("id")
    lookup = dict(zip(best["id"], best["grid_code"]))
    return [lookup.get(i, "") for i in comp["id"]]


def tidy_staff(staff: pd.DataFrame) -> pd.DataFrame:
    """id, name, role, agency, community_code, street_code, building_id, grid_code, party_member."""
    require(staff, "staff", ("id", "name", "role", "agency", "community_code"))
    out = pd.DataFrame({"id": code(staff["id"]), "name": staff["name"].astype(str), "role": code(staff["role"])})
    out["agency"] = code(staff["agency"])
    out["community_code"] = code(staff["community_code"])
    out["street_code"] = code(staff["street_code"]) if "street_code" in staff.columns else ""
    for extra in ("building_id", "grid_code"):
        out[extra] = code(staff[extra]) if extra in staff.columns else ""
    # None = not recorded; the secretary rule then trusts the grid head
    member = staff["party_member"] if "party_member" in staff.columns else pd.Series(None, index=staff.index)
    out["party_member"] = [None if pd.isna(v) else bool(v) for v in member]
    bad = sorted(set(out["role"]) - set(ROLES))
    if bad:
        raise InvalidInput(f"staff.role has unknown values {bad}; allowed: {list(ROLES)}")
    if out["id"].duplicated().any():
        raise InvalidInput(f"staff repeats ids {sorted(out.loc[out['id'].duplicated(), 'id'])[:5]}")
    return out.sort_values("id", kind="stable").reset_index(drop=True)


def tidy_buildings(buildings: gpd.GeoDataFrame | None, compounds: pd.DataFrame) -> pd.DataFrame:
    """id, compound_id, households, name, grid_code, community_code of every building."""
    cols = ["id", "compound_id", "households", "name", "grid_code", "community_code"]
    if buildings is None:
        return pd.DataFrame(columns=cols)
    require(buildings, "buildings", ("id", "compound_id", "households"))
    out = pd.DataFrame({"id": code(buildings["id"]), "compound_id": code(buildings["compound_id"])})
    out["households"] = pd.to_numeric(buildings["households"]).fillna(0).astype(float).to_numpy()
    label = buildings["name"].astype(str).to_numpy() if "name" in buildings.columns else out["id"].to_numpy()
    where = compounds.set_index("id")
    known = out["compound_id"].isin(where.index).to_numpy()
    out = out[known].copy()
    # a group is named after its compound and building, e.g. 阳光小区3栋
    out["name"] = where.loc[out["compound_id"], "name"].to_numpy() + label[known]
    out["grid_code"] = where.loc[out["compound_id"], "grid_code"].to_numpy()
    out["community_code"] = where.loc[out["compound_id"], "community_code"].to_numpy()
    return out[cols].sort_values("id", kind="stable").reset_index(drop=True)


def tidy_communities(communities: pd.DataFrame, streets: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """communities (code, name, street_code) and streets (code, name)."""
    require(communities, "communities", ("code", "name", "street_code"))
    require(streets, "streets", ("code", "name"))
    comm = pd.DataFrame(
        {"code": code(communities["code"]), "name": communities["name"].astype(str)}
    ).assign(street_code=code(communities["street_code"]).to_numpy())
    st = pd.DataFrame({"code": code(streets["code"]), "name": streets["name"].astype(str)})
    return comm.reset_index(drop=True), st.reset_index(drop=True)


def _known(values: pd.Series, allowed: set[str], what: str) -> None:
    bad = sorted(set(values) - allowed)
    if bad:
        raise InvalidInput(f"{what} names communities not in `communities`: {bad[:5]}")
