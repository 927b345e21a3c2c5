"""A tiny hand-drawn interchange dataset (boxes near Wuxi) for import tests.

    lon 120.30      120.31      120.32
  31.51 +-----------+-----------+
        | community | community |
        |  ...001   |  ...002   |
        |  [C1] [C2]|   [C3]    |
  31.50 +-----------+-----------+
  one district 320214, one street 320214050, two communities side by side.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point, box

from gridmap.interchange import write_interchange

CRS = 4490


def tiny_layers() -> dict[str, pd.DataFrame]:
    """The layers as GeoDataFrames (EPSG:4490)."""
    west, east = box(120.30, 31.50, 120.31, 31.51), box(120.31, 31.50, 120.32, 31.51)
    gdf = lambda rows: gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)  # noqa: E731
    return {
        "districts": gdf([{"code": "320214", "name": "新吴区", "geometry": west.union(east)}]),
        "streets": gdf([{"code": "320214050", "name": "旺庄街道", "district_code": "320214",
                         "geometry": west.union(east)}]),
        "communities": gdf([
            {"code": "320214050001", "name": "新光社区", "street_code": "320214050", "kind": "urban",
             "geometry": west},
            {"code": "320214050002", "name": "春雷社区", "street_code": "320214050", "kind": "urban",
             "geometry": east},
        ]),
        "compounds": gdf([
            {"id": "C1", "name": "春潮花园", "community_code": "320214050001", "households": 320,
             "geometry": box(120.301, 31.501, 120.304, 31.504), "provenance": "synthetic: test"},
            {"id": "C2", "name": "长江公寓", "community_code": "320214050001", "households": 410,
             "geometry": box(120.305, 31.501, 120.309, 31.504), "provenance": "synthetic: test"},
            {"id": "C3", "name": "新洲家园", "community_code": "320214050002", "households": 350,
             "geometry": box(120.312, 31.502, 120.318, 31.508), "provenance": "synthetic: test"},
        ]),
        "buildings": gdf([
            {"id": "C1-B1", "compound_id": "C1", "households": 320, "geometry": Point(120.302, 31.502)},
            {"id": "C3-B1", "compound_id": "C3", "households": 350, "geometry": Point(120.315, 31.505)},
        ]),
        "addresses": gdf([
            {"id": "A1", "address": "江苏省无锡市新吴区旺庄街道长江路8号春潮花园1栋1单元",
             "compound_id": "C1", "building_id": "C1-B1", "geometry": Point(120.302, 31.502)},
        ]),
        "staff": pd.DataFrame([
            {"id": "S1", "name": "王芳", "role": "grid_head", "agency": "community", "phone": "19900000001",
             "phone_public": False, "community_code": "320214050001", "street_code": "320214050"},
        ]),
    }


def write_tiny(path: Path, layers: dict[str, pd.DataFrame] | None = None) -> Path:
    return write_interchange(layers or tiny_layers(), path)
