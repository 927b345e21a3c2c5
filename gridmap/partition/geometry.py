"""Territories (the tiling of a community by its units) and the unit graph.

A unit's territory is its own polygon plus the part of the community's free
space (roads, parks, water) nearer to it than to any other unit, found by a
Voronoi diagram of points sampled along the unit boundaries. Territories
tile the community, so any set of units connected through shared territory
edges dissolves into one contiguous grid polygon.
"""

from __future__ import annotations

import numpy as np
import shapely
import shapely.affinity
from shapely import STRtree
from shapely.geometry.base import BaseGeometry

from gridmap.partition.solver import UnitGraph

MIN_SHARED_M = 0.5  # territories sharing less boundary than this only touch


def polygonal(g: BaseGeometry) -> BaseGeometry:
    """Keep only the polygonal part of an overlay result."""
    if g.is_empty or g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in getattr(g, "geoms", []) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def disjoint_units(geoms: np.ndarray, container: BaseGeometry) -> np.ndarray:
    """Clip unit geometries to the container and remove overlaps (first one wins)."""
    out = shapely.intersection(geoms, container)
    areal = shapely.get_dimensions(out) == 2
    tree = STRtree(out)
    left, right = tree.query(out, predicate="overlaps")
    for i, j in zip(left, right):
        if i < j and areal[i] and areal[j]:
            out[j] = polygonal(shapely.difference(out[j], out[i]))
    return out


def _samples(geoms: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Points along each unit's boundary (or the point itself) and their owner."""
    lines = np.where(shapely.get_dimensions(geoms) == 2, shapely.boundary(geoms), geoms)
    lines = shapely.segmentize(lines, spacing)
    xy, owner = shapely.get_coordinates(lines, return_index=True)
    xy_r = np.round(xy, 1)
    _, first = np.unique(xy_r, axis=0, return_index=True)
    first.sort()
    return xy_r[first], owner[first]


def robust(op: object, a: object, b: object) -> object:
    """Apply a shapely overlay; on a GEOS topology error retry on repaired, snapped input."""
    try:
        return op(a, b)
    except shapely.errors.GEOSException:
        fix = lambda g: shapely.make_valid(g, method="structure", keep_collapsed=False)  # noqa: E731
        return op(fix(a), fix(b), grid_size=0.001)


def _cell_owners(cells: np.ndarray, xy: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Owner of each Voronoi cell; re-derived by containment when GEOS merged near-duplicate
    sites (then the ordered output no longer lines up with the input points)."""
    if len(cells) == len(xy) and shapely.contains_xy(cells, xy[:, 0], xy[:, 1]).all():
        return owner
    pts = shapely.points(xy)
    cell_idx, pt_idx = STRtree(pts).query(cells, predicate="intersects")
    out = np.zeros(len(cells), np.int64)
    out[cell_idx[::-1]] = owner[pt_idx[::-1]]  # first hit wins
    return out


def dissolve_tiles(cells: np.ndarray) -> BaseGeometry:
    """Union of polygons that tile (Voronoi cells, territories): fast coverage union, full
    overlay when GEOS finds bad noding."""
    if not len(cells):
        return shapely.Polygon()
    try:
        out = shapely.coverage_union_all(cells)
        total = float(shapely.area(cells).sum())
        if abs(out.area - total) <= 1e-6 * max(total, 1.0) and out.is_valid:
            return out
        return shapely.union_all(cells)  # badly noded cells: coverage union is silently wrong
    except shapely.errors.GEOSException:
        try:
            return shapely.union_all(cells)
        except shapely.errors.GEOSException:
            return shapely.union_all(shapely.make_valid(cells, method="structure", keep_collapsed=False),
                                     grid_size=0.001)


def _clip_local(share: np.ndarray, geoms: np.ndarray, areal: np.ndarray, container: BaseGeometry) -> np.ndarray:
    """Each unit's Voronoi share, less the other units it overlaps, within the container.

    The same as clipping every share to the community's free space, but each share is cut
    only by the few units near it: linear in the number of units, not quadratic."""
    shapely.prepare(container)
    inside = shapely.contains_properly(container, share)
    share = share.copy()
    edge = ~inside & ~shapely.is_empty(share)
    if edge.any():
        share[edge] = robust(shapely.intersection, share[edge], container)
    units = np.flatnonzero(areal)
    if not len(units):
        return share
    tree = STRtree(geoms[units])
    s_idx, u_idx = tree.query(share, predicate="intersects")
    u_idx = units[u_idx]
    keep = s_idx != u_idx
    s_idx, u_idx = s_idx[keep], u_idx[keep]
    if not len(s_idx):
        return share
    order = np.argsort(s_idx, kind="stable")
    s_idx, u_idx = s_idx[order], u_idx[order]
    starts = np.flatnonzero(np.r_[True, s_idx[1:] != s_idx[:-1]])
    ends = np.r_[starts[1:], len(s_idx)]
    targets = s_idx[starts]
    others = np.array([shapely.union_all(geoms[u_idx[a:b]]) if b - a > 1 else geoms[u_idx[a]]
                       for a, b in zip(starts, ends)], dtype=object)
    share[targets] = robust(shapely.difference, share[targets], others)
    return share


def territories(geoms: np.ndarray, container: BaseGeometry, *, spacing: float | None = None) -> np.ndarray:
    """One territory per unit; together they tile ``container``.

    Units must be disjoint and inside the container (see :func:`disjoint_units`).
    Pieces of Voronoi share that do not touch their unit are handed to the
    neighbouring territory sharing the longest boundary with them.
    """
    n = len(geoms)
    if n == 0:
        return geoms
    if n == 1:
        return np.array([container], dtype=object)
    areal = shapely.get_dimensions(geoms) == 2
    # units are disjoint and inside the container, so the free space is what their areas leave
    if container.area - float(shapely.area(geoms[areal]).sum()) < 1e-3:
        return geoms.copy()
    if spacing is None:
        spacing = max(4.0, float(np.sqrt(container.area / n)) / 12)
    xy, owner = _samples(geoms, spacing)
    # GEOS Voronoi is unstable at projected magnitudes (~10^6 m), and so was clipping (Xinwu
    # 320214052016: a whole Voronoi share came back for an empty intersection, +72,000 m² outside
    # the community): shares are built and clipped about a local origin
    x0, y0 = np.floor(np.asarray(container.bounds[:2]))
    shift = lambda g, dx, dy: shapely.transform(g, lambda c: c + [dx, dy])  # noqa: E731
    local = shift(container, -x0, -y0)
    xy = xy - [x0, y0]
    cells = shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=local.envelope.buffer(10), ordered=True)
    cells = shapely.get_parts(cells)
    owner = _cell_owners(cells, xy, owner)
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(n + 1))
    share = np.array([dissolve_tiles(cells[order[bounds[i]:bounds[i + 1]]]) for i in range(n)], dtype=object)
    share = shift(_clip_local(share, shift(geoms, -x0, -y0), areal, local), x0, y0)
    terr = np.where(areal, robust(shapely.union, geoms, share), share)
    return _reattach_orphans(geoms, np.array([polygonal(t) for t in terr], dtype=object))


def _reattach_orphans(geoms: np.ndarray, terr: np.ndarray) -> np.ndarray:
    """Give each territory piece not touching its unit to the best neighbouring territory."""
    orphans: list[BaseGeometry] = []
    for i, t in enumerate(terr):
        if t.geom_type != "MultiPolygon":
            continue
        parts = np.asarray(t.geoms, dtype=object)
        keep = shapely.intersects(parts, geoms[i])
        if shapely.get_dimensions(geoms[i]) == 2:
            keep &= shapely.area(shapely.intersection(parts, geoms[i])) > 1e-6
        if not keep.any():
            keep[np.argmax(shapely.area(parts))] = True
        terr[i] = shapely.union_all(parts[keep])
        orphans.extend(parts[~keep])
    while orphans:  # a chain of orphans is attached one link per pass; never drop one
        tree = STRtree(terr)
        rest: list[BaseGeometry] = []
        for piece in orphans:
            cand = tree.query(piece, predicate="intersects")
            shared = shapely.length(shapely.intersection(terr[cand], piece.boundary)) if len(cand) else []
            if len(cand) and max(shared) > 1e-6:
                j = cand[int(np.argmax(shared))]
                terr[j] = polygonal(shapely.union(terr[j], piece))
            else:
                rest.append(piece)
        if len(rest) == len(orphans):  # exclave without units: attach to the nearest territory
            for piece in rest:
                j = int(np.argmin(shapely.distance(terr, piece)))
                terr[j] = polygonal(shapely.union(terr[j], piece))
            rest = []
        orphans = rest
    return terr


def adjacency(terr: np.ndarray, xy: np.ndarray, barrier: BaseGeometry | None) -> list[dict[int, tuple[float, bool]]]:
    """Neighbours of each territory: shared boundary length, and whether the segment
    between the two units' points crosses a major barrier."""
    n = len(terr)
    nbrs: list[dict[int, tuple[float, bool]]] = [{} for _ in range(n)]
    tree = STRtree(terr)
    left, right = tree.query(terr, predicate="intersects")
    m = left < right
    left, right = left[m], right[m]
    if not len(left):
        return nbrs
    shared = shapely.length(shapely.intersection(shapely.boundary(terr[left]), shapely.boundary(terr[right])))
    keep = shared >= MIN_SHARED_M
    left, right, shared = left[keep], right[keep], shared[keep]
    cross = np.zeros(len(left), bool)
    if barrier is not None and not barrier.is_empty and len(left):
        shapely.prepare(barrier)
        seg = shapely.linestrings(np.stack([xy[left], xy[right]], axis=1))
        cross = shapely.intersects(barrier, seg)
    for i, j, s, c in zip(left.tolist(), right.tolist(), shared.tolist(), cross.tolist()):
        nbrs[i][j] = (s, c)
        nbrs[j][i] = (s, c)
    return nbrs


def unit_graph(weights: np.ndarray, xy: np.ndarray, terr: np.ndarray, barrier: BaseGeometry | None) -> UnitGraph:
    """The unit graph of a community from its territories."""
    areas = shapely.area(terr)
    return UnitGraph(np.asarray(weights, np.int64), xy, adjacency(terr, xy, barrier), float(areas.sum()), areas,
                     shapely.length(terr))
