"""Grids redrawn by hand: carve a moved unit's territory out of its grid, re-check the changed grids.

A hand edit moves units (whole compounds, or buildings of a split compound) between grids of
one community. The units carry their territory — their own polygon plus the free space nearer
to them than to any other unit of their grid, the engine's non-residential space rule
(:func:`~gridmap.partition.geometry.territories`) — so the source grid loses exactly what the
target gains and the community stays tiled. The changed grids are then checked with the
engine's own per-grid rules (:func:`~gridmap.partition.report.check_grid`, bounds reasons as for
drawn grids); nothing else in the plan is re-read.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from gridmap.domain import STORAGE_EPSG
from gridmap.partition.drawn import _bounds_reason
from gridmap.partition.geometry import dissolve_tiles, disjoint_units, polygonal, territories
from gridmap.partition.report import check_grid
from gridmap.partition.rules import Rules
from gridmap.violations import Violation

#: Two polygons within this distance (degrees, ~1 cm) along an edge of at least ten times it share a boundary.
TOUCH_DEG = 1e-7
#: How far (degrees, ~5 cm) a carved territory is grown before it is clipped to its grid.
SNAP_DEG = 5e-7


def carve(container: BaseGeometry, units: Sequence[BaseGeometry], moved: Sequence[bool], *,
          epsg: str) -> tuple[BaseGeometry, BaseGeometry]:
    """(what the moved units take along, what stays) of grid ``container`` (EPSG:4490 in and out).

    ``units`` are the grid's members' geometries (compound polygons, building polygons or
    points); their territories tile the container in the metric CRS ``epsg``.
    """
    flags = np.asarray(moved, dtype=bool)
    if flags.all():
        return container, shapely.Polygon()
    if not flags.any():
        return shapely.Polygon(), container
    series = gpd.GeoSeries([container, *units], crs=STORAGE_EPSG).to_crs(epsg)
    box = series.iloc[0]
    geoms = disjoint_units(np.asarray(series.iloc[1:].values, dtype=object), box)
    terr = territories(geoms, box)
    taken_m = dissolve_tiles(np.asarray(terr[flags], dtype=object))
    taken = gpd.GeoSeries([taken_m], crs=epsg).to_crs(STORAGE_EPSG).iloc[0]
    # grown by SNAP_DEG before clipping: the round trip through the metric CRS leaves edges a
    # hair inside the grid's own, which would keep a sliver of the source grid along them
    grown = shapely.buffer(shapely.make_valid(taken), SNAP_DEG, join_style="mitre")
    taken = _clean(shapely.intersection(grown, container))
    return taken, _clean(shapely.difference(container, taken))


def joined(grid: BaseGeometry, taken: BaseGeometry) -> BaseGeometry:
    """A grid with a carved territory added."""
    return _clean(shapely.union(grid, taken))


def touches(a: BaseGeometry, b: BaseGeometry) -> bool:
    """Whether two polygons share a boundary longer than a point (a line, not a corner)."""
    if a.is_empty or b.is_empty:
        return False
    return float(shapely.intersection(shapely.buffer(a, TOUCH_DEG), b).area) > 10 * TOUCH_DEG * TOUCH_DEG


def as_multi(geom: BaseGeometry) -> shapely.MultiPolygon:
    """A MultiPolygon (the grid table's type) of a polygonal result."""
    if geom.geom_type == "MultiPolygon":
        return geom
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    return shapely.MultiPolygon([p for p in shapely.get_parts(polygonal(geom)) if p.geom_type == "Polygon"])


def _clean(geom: BaseGeometry) -> BaseGeometry:
    """Polygonal, valid, without slivers of zero area left by the round trip."""
    geom = polygonal(shapely.make_valid(geom))
    parts = [p for p in shapely.get_parts(geom) if p.area > 1e-14]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def grid_violations(code: str, community_code: str, households: int, geom: BaseGeometry, *, rules: Rules,
                    community_households: int, community_grids: int, locked: bool = False) -> list[Violation]:
    """The engine's per-grid rules for one redrawn grid; an out-of-bounds count gets the reason
    counting gives when it shows the bounds cannot hold, else 'drawn by hand'."""
    lo, hi = rules.min_households, rules.max_households
    why = None if lo <= households <= hi else _bounds_reason(community_households, community_grids, lo, hi)
    return check_grid(code, community_code, int(households), geom, lo=lo, hi=hi, locked=locked, why=why)
