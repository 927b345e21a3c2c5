"""Hand-drawn lattices of boxes for the partition tests (metric boxes → EPSG:4490)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import box

METRIC = 4549  # CGCS2000 / 3-degree GK CM 120E
X0, Y0 = 540_000.0, 3_485_000.0  # near lon 120.4, lat 31.5
_TO_GEO = Transformer.from_crs(METRIC, 4490, always_xy=True)


def to_geo(geoms: list) -> np.ndarray:
    """Metric geometries (relative to X0, Y0) → EPSG:4490."""
    arr = shapely.transform(np.asarray(geoms, dtype=object), lambda c: c + [X0, Y0])
    return shapely.transform(arr, lambda c: np.column_stack(_TO_GEO.transform(c[:, 0], c[:, 1])))


def lattice(households: list[list[int]], size: float = 100.0, gap: float = 10.0, code: str = "320214001001",
            name: str = "新光社区") -> dict[str, gpd.GeoDataFrame]:
    """One community of boxes; ``households[row][col]`` (row 0 = north), 0 = no compound.

    Each cell is ``size`` metres with a ``gap``-metre road around each compound.
    """
    rows, cols = len(households), len(households[0])
    geoms, hh, ids = [], [], []
    for r, line in enumerate(households):
        for c, h in enumerate(line):
            if h:
                y = (rows - 1 - r) * size
                geoms.append(box(c * size + gap / 2, y + gap / 2, (c + 1) * size - gap / 2, y + size - gap / 2))
                hh.append(h)
                ids.append(f"{code}-{r}{c}")
    comm = gpd.GeoDataFrame({"code": [code], "name": [name], "street_code": [code[:9]], "kind": ["urban"]},
                            geometry=to_geo([box(0, 0, cols * size, rows * size)]), crs=4490)
    comp = gpd.GeoDataFrame({"id": ids, "name": ids, "community_code": code, "households": hh},
                            geometry=to_geo(geoms), crs=4490)
    return {"communities": comm, "compounds": comp}


def metric_area(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """Areas in m²."""
    return gdf.to_crs(METRIC).area.to_numpy()
