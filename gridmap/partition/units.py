"""Units of partitioning: whole compounds, or building groups of a compound that
alone exceeds the grid maximum (a compound is split only then, along its
buildings, into contiguous groups each within bounds)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import shapely
import shapely.ops
from shapely.geometry.base import BaseGeometry

from gridmap.partition.buildings import building_cells, reach
from gridmap.partition.geometry import disjoint_units, dissolve_tiles, territories, unit_graph
from gridmap.partition.rules import Rules
from gridmap.partition.columns import enumerate_columns, solve_cover
from gridmap.partition.exact import EXACT_MAX_UNITS, exact_partition
from gridmap.partition.solver import UnitGraph, component_labels, solve, violations
from gridmap.violations import Violation


@dataclass
class Unit:
    """One atom of the solve."""

    compound_id: str
    building_ids: tuple[str, ...] | None  # None: the whole compound
    building_households: tuple[int, ...] | None
    households: int

    @property
    def keys(self) -> frozenset[tuple[str, str | None]]:
        """Member keys (compound_id, building_id) this unit contributes to a grid."""
        if self.building_ids is None:
            return frozenset({(self.compound_id, None)})
        return frozenset((self.compound_id, b) for b in self.building_ids)


def building_households(total: int, given: np.ndarray) -> np.ndarray:
    """Households per building, scaled so they sum to the compound's count
    (largest remainder; equal shares when the buildings carry no counts)."""
    given = np.nan_to_num(np.asarray(given, float), nan=0.0).clip(min=0)
    share = given / given.sum() if given.sum() > 0 else np.full(len(given), 1.0 / len(given))
    raw = share * total
    out = np.floor(raw).astype(np.int64)
    out[np.argsort(raw - out)[::-1][: total - int(out.sum())]] += 1
    return out


def _groups_from_current(bids: np.ndarray, hh: np.ndarray, previous: dict[str, str] | None, g: UnitGraph, *,
                         rules: Rules) -> np.ndarray | None:
    """Reuse the current plan's building groups when they cover every building and none is over
    the maximum; a group whose buildings do not touch is cut into its touching parts. (Groups
    under the minimum are kept: they shared a grid with a neighbour, and may again.)"""
    if not previous or not all(b in previous for b in bids):
        return None
    codes = pd.Series([previous[b] for b in bids])
    lab = codes.astype("category").cat.codes.to_numpy()
    if (np.bincount(lab, weights=hh) > rules.max_households).any():
        return None
    out = np.full(len(lab), -1, np.int64)
    nxt = 0
    for r in np.unique(lab):
        members = np.flatnonzero(lab == r)
        comp = component_labels(g.nbrs, members=members)[members]
        out[members] = comp + nxt
        nxt += int(comp.max()) + 1
    return out


def _split_solve(g: UnitGraph, *, rules: Rules, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Fewest contiguous groups of at most the maximum, as balanced as the
    buildings allow. No minimum: a group too small for a grid later joins
    neighbouring compounds in its grid (e.g. 526 → 330 + 196)."""
    total = float(g.weights.sum())
    k = max(1, math.ceil(total / rules.max_households))
    sub_rules = replace(rules, min_households=1, target_households=math.ceil(total / k))
    lab, k, _ = solve(g, lo=1, hi=rules.max_households, rules=sub_rules, rng=rng)
    return lab, k


def tileable(total: float, *, lo: float, hi: float) -> bool:
    """Whether ``total`` households can be cut into grids each within [lo, hi] (by counting)."""
    return total > 0 and math.ceil(total / hi) <= (math.floor(total / lo) if lo > 0 else math.inf)


def _grid_sized(g: UnitGraph, *, rules: Rules, rng: np.random.Generator, seconds: float) -> tuple[np.ndarray, int] | None:
    """Contiguous building groups each within [min, max] (each one a whole grid), or None.

    The heuristic first; when it leaves a group out of bounds, the optimal cover by
    candidate groups if they can all be listed, else CP-SAT on the building graph."""
    lo, hi = rules.min_households, rules.max_households
    if not tileable(float(g.weights.sum()), lo=lo, hi=hi):
        return None
    lab, k, _ = solve(g, lo=lo, hi=hi, rules=rules, rng=rng)
    load = np.bincount(lab, weights=g.weights.astype(float), minlength=k)
    if violations(load, lo=lo, hi=hi) == 0:
        return lab, k
    cols = enumerate_columns(g, lo=lo, hi=hi, rules=rules)
    if cols.complete:
        lab, k, _ = solve_cover(g, cols, seconds=max(seconds, 1.0), within_only=True)
        return None if lab is None else (lab, k)
    if g.n > EXACT_MAX_UNITS:
        return None
    ex = exact_partition(g, lo=lo, hi=hi, rules=rules, hint=lab, hint_k=k, seconds=seconds)
    return None if ex.labels is None else (ex.labels, ex.k)


@dataclass
class Pieces:
    """The finest pieces of a community: whole compounds, and the buildings of compounds over
    the maximum; their territories tile the community and their graph joins touching ones.

    Units (whole compounds and building groups) are unions of pieces, so their graph is a
    contraction of this one and no geometry is computed twice."""

    compound_id: list[str]
    building_id: list[str | None]
    households: np.ndarray  # int64 per piece
    terr: np.ndarray  # territory per piece (metric)
    graph: UnitGraph
    buildings_of: dict[str, np.ndarray]  # split compound id -> its pieces
    notes: list[Violation]


def _compound_buildings(cid: str, hh: int, geom: BaseGeometry, terr: BaseGeometry, b: pd.DataFrame, *,
                        rules: Rules) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]] | None:
    """Building ids, households, territories (tiling the compound's territory) and points of a
    compound over the maximum; and notes on buildings that alone exceed it. Polygon buildings
    inside their compound get territories grown from their outlines; points (or buildings
    outside the compound) get the Voronoi cells of their sites. None: the buildings cannot be
    given a territory each (they coincide)."""
    bids = b["id"].astype(str).to_numpy()
    bhh = building_households(hh, b["households"].to_numpy())
    given = b.geometry.to_numpy()
    bgeom = disjoint_units(given, geom)
    cells = None
    if (shapely.get_dimensions(given) == 2).all() and not shapely.is_empty(bgeom).any() \
            and (shapely.get_dimensions(bgeom) == 2).all():
        bterr = territories(bgeom, terr, spacing=max(2.0, math.sqrt(geom.area / len(bids)) / 10))
        xy = shapely.get_coordinates(shapely.point_on_surface(bgeom))
        if not shapely.is_empty(bterr).any() and (shapely.get_dimensions(bterr) == 2).all():
            cells = bterr, xy
    if cells is None:
        found = building_cells(given, terr)
        if found is None:
            return None
        cells = found[0], shapely.get_coordinates(found[1])
    notes = []
    big = [int(x) for x in bhh if x > rules.max_households]
    if big:
        notes.append(f"compound {cid} ({hh} households) split along its buildings, but "
                     f"{len(big)} building(s) alone hold more than max {rules.max_households} ({big})")
    return bids, bhh, cells[0], cells[1], notes


def build_pieces(compounds: pd.DataFrame, buildings: pd.DataFrame | None, *, rules: Rules, community_code: str,
                 container: BaseGeometry, barrier: BaseGeometry | None) -> Pieces:
    """Territories of the compounds in the container, those of compounds over the maximum cut
    among their buildings, and the graph of all pieces."""
    cids = compounds["id"].astype(str).to_numpy()
    hh = compounds["households"].to_numpy().astype(np.int64)
    by_compound = {} if buildings is None or buildings.empty else dict(list(buildings.groupby("compound_id")))
    geoms = safe_geoms(_reaching(cids, compounds.geometry.to_numpy(), by_compound, container), container)
    cterr = territories(geoms, container)
    cxy = shapely.get_coordinates(shapely.point_on_surface(geoms))
    out_c, out_b, out_h, out_t, out_xy = [], [], [], [], []
    buildings_of: dict[str, np.ndarray] = {}
    notes: list[Violation] = []
    for i, cid in enumerate(cids):
        b = by_compound.get(cid)
        if hh[i] > rules.max_households and (b is None or len(b) < 2):
            notes.append(Violation(rule="max_households", kind="unsplittable_compound", community_code=community_code,
                                   detail=f"compound {cid} has {hh[i]} households > max {rules.max_households} "
                                          f"and {0 if b is None else len(b)} building(s); it cannot be split"))
        if hh[i] <= rules.max_households or b is None or len(b) < 2 or shapely.get_dimensions(geoms[i]) < 2:
            out_c.append(cid), out_b.append(None), out_h.append(hh[i]), out_t.append(cterr[i]), out_xy.append(cxy[i])
            continue
        split = _compound_buildings(cid, int(hh[i]), geoms[i], cterr[i], b, rules=rules)
        if split is None:
            notes.append(Violation(rule="max_households", kind="unsplittable_compound", community_code=community_code,
                                   detail=f"compound {cid} has {hh[i]} households > max {rules.max_households}; its "
                                          f"{len(b)} buildings stand at too few distinct places to be split"))
            out_c.append(cid), out_b.append(None), out_h.append(hh[i]), out_t.append(cterr[i]), out_xy.append(cxy[i])
            continue
        bids, bhh, bterr, bxy, more = split
        notes.extend(Violation(rule="compound_split", kind="oversize_building", community_code=community_code,
                               detail=n) for n in more)
        buildings_of[cid] = np.arange(len(out_c), len(out_c) + len(bids))
        out_c.extend([cid] * len(bids)), out_b.extend(bids.tolist()), out_h.extend(bhh.tolist())
        out_t.extend(bterr), out_xy.extend(bxy)
    terr = np.array(out_t, dtype=object)
    xy = np.array(out_xy, dtype=float).reshape(-1, 2)
    weights = np.array(out_h, dtype=np.int64)
    graph = unit_graph(weights, xy, terr, barrier) if len(terr) else UnitGraph(weights, xy, [], 0.0)
    return Pieces(out_c, out_b, weights, terr, graph, buildings_of, notes)


def _reaching(cids: np.ndarray, geoms: np.ndarray, by_compound: dict[str, pd.DataFrame],
              container: BaseGeometry) -> np.ndarray:
    """Compounds widened to reach their buildings outside them (see :func:`buildings.reach`)."""
    out = np.asarray(geoms, dtype=object).copy()
    tree = None
    for i, cid in enumerate(cids):
        b = by_compound.get(cid)
        if b is None or b.empty:
            continue
        given = b.geometry.to_numpy()
        if not (shapely.distance(geoms[i], given) > 0).any():
            continue
        if tree is None:
            tree = shapely.STRtree(geoms)
        near = [j for j in tree.query(shapely.buffer(shapely.envelope(shapely.union_all(given)), 1.0)) if j != i]
        others = shapely.union_all(geoms[near]) if near else None
        out[i] = reach(geoms[i], given, others=others, container=container)
    return out


def safe_geoms(geoms: np.ndarray, container: BaseGeometry) -> np.ndarray:
    """Geometries clipped to the container and made disjoint; one falling outside keeps a point inside."""
    out = disjoint_units(np.asarray(geoms, dtype=object), container)
    empty = shapely.is_empty(out)
    for i in np.flatnonzero(empty):
        p = shapely.point_on_surface(geoms[i])
        out[i] = p if container.contains(p) else shapely.ops.nearest_points(container, p)[0]
    return out


def contract(g: UnitGraph, member: np.ndarray, k: int) -> UnitGraph:
    """The graph of units made of pieces (``member``: unit per piece): households, areas and
    shared boundaries add up; an edge crosses a barrier if any of its piece edges does."""
    w = np.bincount(member, weights=g.weights.astype(float), minlength=k)
    pw = g.weights.astype(float) + 1.0
    xy = np.stack([np.bincount(member, weights=g.xy[:, d] * pw, minlength=k) for d in (0, 1)], axis=1)
    xy /= np.bincount(member, weights=pw, minlength=k)[:, None]
    nbrs: list[dict[int, tuple[float, bool]]] = [{} for _ in range(k)]
    internal = np.zeros(k)
    for u, nb in enumerate(g.nbrs):
        a = int(member[u])
        for v, (length, cross) in nb.items():
            b = int(member[v])
            if a == b:
                internal[a] += length / 2  # each internal edge is seen from both ends
                continue
            old = nbrs[a].get(b)
            nbrs[a][b] = (length, cross) if old is None else (old[0] + length, old[1] or cross)
    areas = np.bincount(member, weights=g.areas, minlength=k) if g.areas is not None else None
    perims = np.bincount(member, weights=g.perims, minlength=k) - 2 * internal if g.perims is not None else None
    return UnitGraph(w.astype(np.int64), xy, nbrs, g.area, areas, perims)


def build_units(p: Pieces, *, rules: Rules, rng: np.random.Generator,
                previous_buildings: dict[str, dict[str, str]] | None = None, flexible: bool = False,
                seconds: float = 1.0) -> tuple[list[Unit], np.ndarray, UnitGraph]:
    """Units of one community from its pieces: whole compounds, and compounds over the maximum
    as building groups (grid-sized when the compound alone can be tiled so, else at most
    the maximum), or with ``flexible`` as single buildings; with the piece -> unit map and
    the units' graph."""
    member = np.full(len(p.households), -1, np.int64)
    units: list[Unit] = []
    for i, cid in enumerate(p.compound_id):
        if p.building_id[i] is None:
            member[i] = len(units)
            units.append(Unit(cid, None, None, int(p.households[i])))
    for cid, idx in p.buildings_of.items():
        bids = np.array([p.building_id[i] for i in idx])
        hh = p.households[idx]
        if flexible:
            lab = np.arange(len(idx))
        else:
            g = p.graph.subgraph(idx)
            lab = _groups_from_current(bids, hh, (previous_buildings or {}).get(cid), g, rules=rules)
        if lab is None:
            comp = component_labels(g.nbrs)
            lab = np.zeros(len(idx), np.int64)
            base = 0
            for c in range(int(comp.max()) + 1):
                sub_idx = np.flatnonzero(comp == c)
                sub = g.subgraph(sub_idx)
                found = _grid_sized(sub, rules=rules, rng=rng, seconds=seconds) if int(comp.max()) == 0 else None
                lab_k = found if found is not None else _split_solve(sub, rules=rules, rng=rng)
                lab[sub_idx] = lab_k[0] + base
                base += lab_k[1]
        for r in np.unique(lab):
            m = lab == r
            member[idx[m]] = len(units)
            units.append(Unit(cid, tuple(bids[m]), tuple(int(x) for x in hh[m]), int(hh[m].sum())))
    if not len(member):
        return units, member, p.graph
    if len(units) == len(member) and (member == np.arange(len(member))).all():
        return units, member, p.graph
    return units, member, contract(p.graph, member, len(units))


def unit_territories(p: Pieces, member: np.ndarray, k: int) -> np.ndarray:
    """Territory per unit: its piece's, or the union of its pieces'."""
    order = np.argsort(member, kind="stable")
    bounds = np.searchsorted(member[order], np.arange(k + 1))
    out = np.empty(k, dtype=object)
    for u in range(k):
        idx = order[bounds[u]:bounds[u + 1]]
        out[u] = p.terr[idx[0]] if len(idx) == 1 else dissolve_tiles(p.terr[idx])
    return out
