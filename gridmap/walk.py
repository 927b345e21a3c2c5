"""15-minute walking coverage (15分钟生活圈) over the road network, with networkx.

Walking distance is network distance: service points and the road network
are projected to a metric CRS, each point is snapped to its nearest road
node (the straight walk to that node counts against the budget), and a
multi-source Dijkstra bounded by ``speed × minutes`` gives how far along
every road one can walk. The reached roads, buffered by ``reach_m`` (the
walk from a door to the road), are the covered area. A compound counts as
covered when its representative point lies in that area.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry
from shapely.ops import substring

from gridmap.crs import metric_crs_of

WALK_SPEED_KMH = 4.5
WALK_MINUTES = 15.0
REACH_M = 60.0
#: Roads a pedestrian cannot use.
NO_WALK_CLASSES = ("motorway", "motorway_link")
_NODE_DECIMALS = 1  # nodes closer than 0.1 m are the same node


@dataclass(frozen=True)
class WalkCoverage:
    """The covered area (EPSG:4490) and the assumptions that produced it."""

    area: BaseGeometry
    minutes: float
    speed_kmh: float
    distance_m: float
    reach_m: float
    points: int
    snapped: int

    def describe(self) -> str:
        return (f"步行{self.minutes:g}分钟（{self.speed_kmh:g} km/h，路网距离 {self.distance_m:.0f} 米，"
                f"道路两侧 {self.reach_m:.0f} 米）")


def walk_distance_m(minutes: float = WALK_MINUTES, speed_kmh: float = WALK_SPEED_KMH) -> float:
    """Metres walked in ``minutes`` at ``speed_kmh`` (15 min at 4.5 km/h = 1125 m)."""
    if minutes <= 0 or speed_kmh <= 0:
        raise ValueError(f"minutes ({minutes}) and speed_kmh ({speed_kmh}) must be positive")
    return speed_kmh * 1000.0 / 60.0 * minutes


def road_graph(roads: gpd.GeoSeries, *, node: bool = True) -> nx.Graph:
    """An undirected graph: nodes are (x, y) vertices, edges carry ``length`` (metric CRS).

    ``node=True`` splits roads where they cross, for data whose intersections
    do not share a vertex (it also joins bridges to the roads beneath them).
    """
    g = nx.Graph()
    lines = shapely.get_parts(np.asarray(roads.values, dtype=object))
    lines = lines[shapely.get_type_id(lines) == 1]  # LineString parts only
    if node and len(lines):
        lines = shapely.get_parts(shapely.union_all(lines))
        lines = lines[shapely.get_type_id(lines) == 1]
    for line in lines:
        xy = np.round(shapely.get_coordinates(line), _NODE_DECIMALS)
        for a, b in zip(map(tuple, xy[:-1]), map(tuple, xy[1:])):
            if a == b:
                continue
            length = float(np.hypot(b[0] - a[0], b[1] - a[1]))
            if not g.has_edge(a, b) or g.edges[a, b]["length"] > length:
                g.add_edge(a, b, length=length)
    return g


def _snap(g: nx.Graph, points: np.ndarray) -> list[tuple[tuple[float, float], float]]:
    """Nearest graph node of each point and the straight distance to it."""
    nodes = list(g.nodes)
    tree = shapely.STRtree(shapely.points(np.array(nodes)))
    idx, dist = tree.query_nearest(shapely.points(points), return_distance=True, all_matches=False)
    return [(nodes[j], float(d)) for j, d in zip(idx[1], dist)]


def reached_roads(g: nx.Graph, sources: dict[tuple[float, float], float], *, budget: float) -> list[LineString]:
    """Every road piece within ``budget`` metres of a source (``sources`` maps node → metres already used)."""
    dist = _multi_source(g, sources, budget=budget)
    pieces = []
    for u, v, data in g.edges(data=True):
        du, dv, length = dist.get(u, np.inf), dist.get(v, np.inf), data["length"]
        if min(du, dv) >= budget:
            continue
        line = LineString([u, v])
        if du + length <= budget or dv + length <= budget or du + dv + length <= 2 * budget:
            pieces.append(line)  # whole edge walkable (from one end, or meeting in the middle)
            continue
        if du < budget:
            pieces.append(substring(line, 0, budget - du))
        if dv < budget:
            pieces.append(substring(line, length - (budget - dv), length))
    return pieces


def _multi_source(g: nx.Graph, sources: dict[tuple[float, float], float], *, budget: float) -> dict:
    """Shortest network distance from the nearest source, with each source's head start."""
    start = "__start__"
    h = g.copy()
    for node, used in sources.items():
        h.add_edge(start, node, length=used)
    dist = nx.single_source_dijkstra_path_length(h, start, cutoff=budget, weight="length")
    dist.pop(start, None)
    return dist


def walk_coverage(
    roads: gpd.GeoDataFrame,
    points: gpd.GeoDataFrame,
    *,
    minutes: float = WALK_MINUTES,
    speed_kmh: float = WALK_SPEED_KMH,
    reach_m: float = REACH_M,
) -> WalkCoverage:
    """The area within ``minutes`` of walking from any of ``points`` along ``roads`` (both EPSG:4490)."""
    budget = walk_distance_m(minutes, speed_kmh)
    if points.empty:
        return WalkCoverage(shapely.Polygon(), minutes, speed_kmh, budget, reach_m, 0, 0)
    walkable = roads
    if "class" in roads.columns:
        walkable = roads[~roads["class"].isin(NO_WALK_CLASSES)]
    crs = metric_crs_of(points)
    g = road_graph(walkable.geometry.to_crs(4490).to_crs(crs))
    xy = shapely.get_coordinates(points.geometry.to_crs(4490).to_crs(crs).values)
    if g.number_of_nodes() == 0:
        return WalkCoverage(shapely.Polygon(), minutes, speed_kmh, budget, reach_m, len(points), 0)
    sources: dict[tuple[float, float], float] = {}
    for node, used in _snap(g, xy):
        if used < budget:
            sources[node] = min(used, sources.get(node, np.inf))
    pieces = reached_roads(g, sources, budget=budget)
    area = shapely.union_all(shapely.buffer(np.asarray(pieces, dtype=object), reach_m)) if pieces else shapely.Polygon()
    area_4490 = gpd.GeoSeries([area], crs=crs).to_crs(4490).iloc[0]
    return WalkCoverage(area_4490, minutes, speed_kmh, budget, reach_m, len(points), len(sources))


def covered_compounds(compounds: gpd.GeoDataFrame, coverage: WalkCoverage) -> pd.Series:
    """True for each compound whose outline touches the covered area (people leave by a gate on it)."""
    if compounds.empty:
        return pd.Series([], dtype=bool, index=compounds.index)
    geoms = np.asarray(compounds.geometry.to_crs(4490).values, dtype=object)
    return pd.Series(shapely.intersects(coverage.area, geoms), index=compounds.index)


def covered_share(compounds: gpd.GeoDataFrame, covered: pd.Series) -> dict[str, float | int]:
    """Households and compounds inside / outside the walking coverage."""
    hh = compounds["households"].astype(int) if "households" in compounds else pd.Series(0, index=compounds.index)
    total = int(hh.sum())
    inside = int(hh[covered].sum())
    return {"households": total, "households_covered": inside,
            "households_share": inside / total if total else 0.0,
            "compounds": int(len(compounds)), "compounds_covered": int(covered.sum())}
