"""Metric CRS for measures: the CGCS2000 3-degree Gauss-Krüger zone of the data."""

from __future__ import annotations

import geopandas as gpd

from gridmap.errors import OutOfRange

_FIRST_EPSG, _FIRST_CM = 4534, 75  # EPSG:4534 = CGCS2000 / 3-degree GK CM 75E ... 4554 = CM 135E


def metric_crs(gdf_or_lon: gpd.GeoDataFrame | gpd.GeoSeries | float) -> int:
    """EPSG code of the CGCS2000 3-degree Gauss-Krüger zone (central meridian
    75E..135E, no zone prefix) nearest to the data's centroid longitude."""
    if isinstance(gdf_or_lon, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if gdf_or_lon.crs is None:
            raise OutOfRange("data has no CRS; expected EPSG:4490 (CGCS2000)")
        geo = gdf_or_lon.to_crs(4490) if gdf_or_lon.crs.to_epsg() != 4490 else gdf_or_lon
        x0, _, x1, _ = geo.total_bounds
        lon = (x0 + x1) / 2
    else:
        lon = float(gdf_or_lon)
    zone = round((lon - _FIRST_CM) / 3)
    if not 0 <= zone <= 20:
        raise OutOfRange(f"longitude {lon:.4f} is outside China's 3-degree GK zones (73.5E..136.5E)")
    return _FIRST_EPSG + zone
