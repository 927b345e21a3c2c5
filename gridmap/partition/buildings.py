"""Buildings (楼栋) as the partition meets them in registers made elsewhere: points, points at
the same spot, points on or a few tens of metres outside their compound's outline.

Two things are done with them, both in the metric CRS:

- :func:`reach` widens each compound by a narrow corridor to each of its buildings that lies
  outside it (in the street, not in another compound), so that the compound's territory, and
  hence its grid, covers the buildings the compound declares;
- :func:`building_cells` cuts a compound's territory among its buildings by the Voronoi cells
  of one site per building (coincident sites spread on a 1 m circle), so that a compound over
  the maximum can be split along point buildings; every cell holds its site and is non-empty,
  or the cut is refused (None) and the compound is not split.
"""

from __future__ import annotations

import numpy as np
import shapely
import shapely.ops
from shapely.geometry.base import BaseGeometry

from gridmap.partition.geometry import _cell_owners, _reattach_orphans, polygonal

#: Half-width of the corridor joining a compound to a building outside it, m.
CORRIDOR_M = 0.75
#: Radius of the disc kept around a building point outside its compound, m.
POINT_M = 1.5
#: Coincident building sites are spread on a circle of this radius, m.
SPREAD_M = 1.0
#: A building point counts as inside a polygon within this distance, m.
ON_M = 0.01


def outside(compound: BaseGeometry, buildings: np.ndarray) -> np.ndarray:
    """Which buildings are not covered by their compound's polygon (beyond 1 m² or ``ON_M``)."""
    if not len(buildings):
        return np.zeros(0, bool)
    point = shapely.get_dimensions(buildings) == 0
    out = np.zeros(len(buildings), bool)
    out[point] = shapely.distance(compound, buildings[point]) > ON_M
    poly = ~point
    if poly.any():
        out[poly] = shapely.area(shapely.difference(buildings[poly], compound)) > 1.0
    return out


def reach(compound: BaseGeometry, buildings: np.ndarray, *, others: BaseGeometry | None,
          container: BaseGeometry) -> BaseGeometry:
    """The compound widened to cover its buildings outside it: a corridor from its outline to
    each, clipped to the container and kept out of ``others`` (the other compounds); a building
    that cannot be reached so (inside another compound, outside the community) is left out
    and reported by the membership check."""
    far = buildings[outside(compound, buildings)]
    if not len(far) or compound.is_empty:
        return compound
    add = []
    for b in far:
        site = b if b.geom_type == "Point" else shapely.point_on_surface(b)
        near = np.asarray(shapely.ops.nearest_points(compound, site)[0].coords[0])
        to = np.asarray(site.coords[0])
        step = (to - near) / max(float(np.linalg.norm(to - near)), 1e-9)
        start = near - step * 2 * CORRIDOR_M  # from inside the compound, so that the corridor joins it
        body = b.buffer(POINT_M) if b.geom_type == "Point" else b
        add.append(shapely.union(shapely.LineString([start, to]).buffer(CORRIDOR_M, cap_style="flat"), body))
    extra = shapely.intersection(shapely.union_all(add), container)
    if others is not None and not others.is_empty:
        extra = shapely.difference(extra, others)
    grown = polygonal(shapely.union(compound, polygonal(extra)))
    parts = np.asarray(shapely.get_parts(grown), dtype=object)
    keep = shapely.intersects(parts, compound) & (shapely.area(shapely.intersection(parts, compound)) > 0)
    return shapely.union_all(parts[keep]) if keep.any() else compound


def sites(buildings: np.ndarray, territory: BaseGeometry) -> np.ndarray:
    """One point per building strictly inside the territory: the point itself (or a point on
    the polygon's surface inside the territory), moved inside when it is on or beyond the
    edge; buildings at the same spot spread on a circle of ``SPREAD_M``, in their order."""
    shapely.prepare(territory)
    inner = territory.buffer(-0.25)
    inner = inner if not inner.is_empty else territory
    out = np.empty(len(buildings), dtype=object)
    for i, b in enumerate(buildings):
        clipped = b if b.geom_type == "Point" else polygonal(shapely.intersection(b, territory))
        p = shapely.point_on_surface(clipped) if not clipped.is_empty else shapely.point_on_surface(b)
        if not territory.contains_properly(p):
            p = shapely.ops.nearest_points(inner, p)[0]
        out[i] = p
    xy = shapely.get_coordinates(out)
    key = [tuple(k) for k in np.round(xy, 2)]
    groups: dict[tuple, list[int]] = {}
    for i, k in enumerate(key):
        groups.setdefault(k, []).append(i)
    spots = np.array([xy[idx[0]] for idx in groups.values()])
    for n, idx in enumerate(groups.values()):
        if len(idx) < 2:
            continue
        cx, cy = xy[idx[0]]
        a = 2 * np.pi * np.arange(len(idx)) / len(idx)
        d = np.hypot(*(spots - [cx, cy]).T)
        d[n] = np.inf
        top = min(SPREAD_M, float(d.min()) / 4)  # nearer to the spot than any other building
        for r in (top, top / 10, top / 100):  # one radius for all: the spot is their cells' corner
            ring = shapely.points(np.column_stack([cx + r * np.cos(a), cy + r * np.sin(a)]))
            if shapely.contains_properly(territory, ring).all():
                out[idx] = ring
                break
    return out


def building_cells(buildings: np.ndarray, territory: BaseGeometry) -> tuple[np.ndarray, np.ndarray] | None:
    """(cell per building tiling ``territory``, site per building), or None when some building
    would get no cell of its own (sites that coincide even after spreading)."""
    pts = sites(buildings, territory)
    xy = shapely.get_coordinates(pts)
    if len(np.unique(np.round(xy, 3), axis=0)) < len(xy):
        return None
    if len(pts) == 1:
        return np.array([territory], dtype=object), pts
    x0, y0 = np.floor(np.asarray(territory.bounds[:2]))
    shift = lambda g, dx, dy: shapely.transform(g, lambda c: c + [dx, dy])  # noqa: E731
    local = shift(territory, -x0, -y0)
    loc = xy - [x0, y0]
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(loc), extend_to=local.envelope.buffer(10),
                                                       ordered=True))
    owner = _cell_owners(cells, loc, np.arange(len(loc)))
    mine = np.empty(len(pts), dtype=object)
    for i in range(len(pts)):
        own = cells[owner == i]
        mine[i] = shapely.union_all(own) if len(own) else shapely.Polygon()
    mine = np.array([polygonal(shapely.intersection(c, local)) for c in mine], dtype=object)
    mine = _reattach_orphans(shift(pts, -x0, -y0), mine)
    mine = shift(mine, x0, y0)
    if shapely.is_empty(mine).any() or not shapely.intersects(mine, pts).all():
        return None
    return mine, pts
