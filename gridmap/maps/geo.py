"""Geometry for display: simplify in metres, convert to the tiles' CRS, round, write GeoJSON."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.crs import GCJ02, WGS84, from_cgcs2000, metric_crs_of, parse_crs, to_cgcs2000, transform_geometries
from gridmap.errors import InvalidInput

#: Simplification tolerance (metres): invisible at street zoom, halves vertex counts.
SIMPLIFY_M = 3.0
#: Decimal places of displayed lon/lat (1e-6 degree is about 0.1 m).
DECIMALS = 6


def display_crs(tiles_crs: str) -> str:
    """'wgs84' or 'gcj02': the CRS the overlays must be in to line up with the tiles."""
    name = parse_crs(tiles_crs)
    if name not in (WGS84, GCJ02):
        raise ValueError(f"map overlays are drawn in wgs84 or gcj02, not {tiles_crs!r}")
    return name


def simplify(gdf: gpd.GeoDataFrame, tolerance_m: float = SIMPLIFY_M, coverage: bool | str = False) -> gpd.GeoSeries:
    """Geometries simplified in a metric CRS and returned in EPSG:4490.

    ``coverage`` keeps shared edges shared (grids that tile a community stay
    without gaps or slivers); a column name simplifies each group of that
    column (e.g. community_code) as its own coverage. Otherwise, or where
    GEOS rejects a group, each geometry keeps its own topology.
    """
    if gdf.empty or tolerance_m <= 0:
        return gdf.geometry.to_crs(4490)
    metric = gdf.geometry.to_crs(4490).to_crs(metric_crs_of(gdf))
    if not (coverage and _polygonal(metric)):
        return metric.simplify(tolerance_m, preserve_topology=True).to_crs(4490)
    keys = gdf[coverage] if isinstance(coverage, str) else pd.Series(0, index=gdf.index)
    parts = []
    for _, idx in keys.groupby(keys, sort=False).groups.items():
        part = metric.loc[idx]
        out = _coverage_simplify(part, tolerance_m)
        parts.append(out if out is not None else part.simplify(tolerance_m, preserve_topology=True))
    return pd.concat(parts).reindex(metric.index).set_crs(metric.crs, allow_override=True).to_crs(4490)


def _coverage_simplify(metric: gpd.GeoSeries, tolerance_m: float) -> gpd.GeoSeries | None:
    """Shared edges simplified once (GEOS CoverageSimplifier); None when GEOS rejects the input,
    e.g. a coverage with slivers, so the caller falls back to simplifying each polygon alone."""
    try:
        values = shapely.coverage_simplify(np.asarray(metric.values, dtype=object), tolerance_m)
    except shapely.errors.GEOSException:
        return None
    return gpd.GeoSeries(values, index=metric.index, crs=metric.crs)


def _polygonal(geoms: gpd.GeoSeries) -> bool:
    kinds = set(geoms.geom_type.unique())
    return bool(kinds) and kinds <= {"Polygon", "MultiPolygon"}


def to_display(
    gdf: gpd.GeoDataFrame,
    crs: str = WGS84,
    tolerance_m: float = SIMPLIFY_M,
    coverage: bool | str = False,
) -> gpd.GeoDataFrame:
    """A copy of ``gdf`` simplified, in ``crs`` (wgs84 or gcj02) and rounded to 6 decimals."""
    target = display_crs(crs)
    out = gdf.copy()
    geoms = simplify(gdf, tolerance_m, coverage) if tolerance_m > 0 else gdf.geometry.to_crs(4490)
    moved = transform_geometries(np.asarray(geoms.values, dtype=object), "cgcs2000", target)
    rounded = shapely.transform(moved, lambda xy: np.round(xy, DECIMALS))
    out = out.set_geometry(gpd.GeoSeries(rounded, index=out.index), crs=None)
    return out


def feature_collection(gdf: gpd.GeoDataFrame, columns: Sequence[str] = ()) -> dict[str, Any]:
    """A GeoJSON FeatureCollection with only ``columns`` as properties (JSON-safe values)."""
    geoms = shapely.to_geojson(np.asarray(gdf.geometry.values, dtype=object))
    features = []
    for i, (geom, (_, row)) in enumerate(zip(geoms, gdf[list(columns)].iterrows())):
        if geom is None or geom == "null":
            continue
        props = {c: _json_value(row[c]) for c in columns}
        features.append({"type": "Feature", "id": i, "geometry": json.loads(geom), "properties": props})
    return {"type": "FeatureCollection", "features": features}


def _json_value(value: Any) -> Any:
    if isinstance(value, (list, dict, str, bool)) or value is None:
        return value
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else round(float(value), 6)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (tuple, np.ndarray)):
        return [_json_value(v) for v in value]
    if value is pd.NA or value is pd.NaT:
        return None
    return value if isinstance(value, int) else str(value)


def bounds_of(frames: Iterable[gpd.GeoDataFrame | None], crs: str = WGS84) -> list[list[float]] | None:
    """[[south, west], [north, east]] in display ``crs`` over the non-empty EPSG:4490 frames."""
    boxes = [f.geometry.to_crs(4490).total_bounds for f in frames
             if f is not None and len(f) and isinstance(f, gpd.GeoDataFrame) and not f.geometry.is_empty.all()]
    if not boxes:
        return None
    arr = np.array(boxes)
    west, south, east, north = arr[:, 0].min(), arr[:, 1].min(), arr[:, 2].max(), arr[:, 3].max()
    (x0, x1), (y0, y1) = from_cgcs2000(np.array([west, east]), np.array([south, north]), display_crs(crs))
    return [[float(y0), float(x0)], [float(y1), float(x1)]]


def bbox_to_storage(bbox: str, crs: str = WGS84) -> tuple[float, float, float, float]:
    """'west,south,east,north' in display ``crs`` → a CGCS2000 box (grown by the GCJ-02 offset's slack)."""
    try:
        w, s, e, n = (float(v) for v in bbox.split(","))
    except ValueError as exc:
        raise InvalidInput(f"bbox {bbox!r} must be four numbers west,south,east,north") from exc
    if not (w < e and s < n):
        raise InvalidInput(f"bbox {bbox!r} must have west < east and south < north")
    (x0, x1), (y0, y1) = to_cgcs2000(np.array([w, e]), np.array([s, n]), display_crs(crs))
    pad = 0.001 if display_crs(crs) == GCJ02 else 0.0
    return float(x0) - pad, float(y0) - pad, float(x1) + pad, float(y1) + pad
