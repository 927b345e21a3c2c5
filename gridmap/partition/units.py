"""Units of partitioning: whole compounds, or building groups of a compound that
alone exceeds the grid maximum (a compound is split only then, along its
buildings, into contiguous groups each within bounds)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from gridmap.partition.geometry import disjoint_units, territories, unit_graph
from gridmap.partition.rules import Rules, Violation
from gridmap.partition.exact import EXACT_MAX_UNITS, exact_partition
from gridmap.partition.solver import UnitGraph, component_labels, solve, violations


@dataclass
class Unit:
    """One atom of the solve."""

    compound_id: str
    building_ids: tuple[str, ...] | None  # None: the whole compound
    building_households: tuple[int, ...] | None
    households: int
    geometry: BaseGeometry  # metric

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


def _groups_from_current(bids: np.ndarray, hh: np.ndarray, previous: dict[str, str] | None,
                         rules: Rules) -> np.ndarray | None:
    """Reuse the current plan's building groups when they all cover known buildings and fit the bounds."""
    if not previous or not all(b in previous for b in bids):
        return None
    codes = pd.Series([previous[b] for b in bids])
    lab = codes.astype("category").cat.codes.to_numpy()
    load = np.bincount(lab, weights=hh)
    if ((load < rules.min_households) | (load > rules.max_households)).any():
        return None
    return lab


def _split_solve(g: UnitGraph, rules: Rules, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Fewest contiguous groups of at most the maximum, as balanced as the
    buildings allow. No minimum: a group too small for a grid later joins
    neighbouring compounds in its grid (e.g. 526 → 330 + 196)."""
    total = float(g.weights.sum())
    k = max(1, math.ceil(total / rules.max_households))
    sub_rules = replace(rules, min_households=1, target_households=math.ceil(total / k))
    lab, k, _ = solve(g, 1, rules.max_households, sub_rules, rng)
    return lab, k


def tileable(total: float, lo: float, hi: float) -> bool:
    """Whether ``total`` households can be cut into grids each within [lo, hi] (by counting)."""
    return total > 0 and math.ceil(total / hi) <= (math.floor(total / lo) if lo > 0 else math.inf)


def _grid_sized(g: UnitGraph, rules: Rules, rng: np.random.Generator, seconds: float) -> tuple[np.ndarray, int] | None:
    """Contiguous building groups each within [min, max] (each one a whole grid), or None.

    The heuristic first; CP-SAT on the building graph when it leaves a group out of bounds."""
    lo, hi = rules.min_households, rules.max_households
    if not tileable(float(g.weights.sum()), lo, hi):
        return None
    lab, k, _ = solve(g, lo, hi, rules, rng)
    load = np.bincount(lab, weights=g.weights.astype(float), minlength=k)
    if violations(load, lo, hi) == 0:
        return lab, k
    if g.n > EXACT_MAX_UNITS:
        return None
    found, _ = exact_partition(g, lo, hi, rules, lab, k, seconds)
    return found


def split_compound(cid: str, households: int, geom: BaseGeometry, b: pd.DataFrame, rules: Rules,
                   rng: np.random.Generator, previous: dict[str, str] | None,
                   flexible: bool = False, seconds: float = 1.0) -> tuple[list[Unit], list[str]]:
    """Split a compound over the maximum into building groups; returns units and notes.

    Groups are grid-sized (each within [min, max]) when the compound alone can be
    tiled so; otherwise at most the maximum, to be completed by neighbouring
    compounds. ``flexible``: one unit per building, so the community solve
    groups the buildings itself."""
    bids = b["id"].astype(str).to_numpy()
    hh = building_households(households, b["households"].to_numpy())
    bgeom = disjoint_units(b.geometry.to_numpy(), geom)
    bgeom = np.where(shapely.is_empty(bgeom), shapely.point_on_surface(b.geometry.to_numpy()), bgeom)
    terr = territories(bgeom, geom, spacing=max(2.0, math.sqrt(geom.area / len(bids)) / 10))
    notes: list[str] = []
    if flexible:
        lab = np.arange(len(bids))
    else:
        xy = shapely.get_coordinates(shapely.point_on_surface(bgeom))
        g = unit_graph(hh, xy, terr, None)
        lab = _groups_from_current(bids, hh, previous, rules)
    if lab is None:
        comp = component_labels(g.nbrs)
        lab = np.zeros(len(bids), np.int64)
        base = 0
        for c in range(int(comp.max()) + 1):
            idx = np.flatnonzero(comp == c)
            sub = g.subgraph(idx)
            found = _grid_sized(sub, rules, rng, seconds) if int(comp.max()) == 0 else None
            lab_k = found if found is not None else _split_solve(sub, rules, rng)
            lab[idx] = lab_k[0] + base
            base += lab_k[1]
    units = []
    for r in np.unique(lab):
        m = lab == r
        units.append(Unit(cid, tuple(bids[m]), tuple(int(x) for x in hh[m]), int(hh[m].sum()),
                          shapely.union_all(terr[m])))
    big = [int(x) for x in hh if x > rules.max_households]
    if big:
        notes.append(f"compound {cid} ({households} households) split along its buildings, but "
                     f"{len(big)} building(s) alone hold more than max {rules.max_households} ({big})")
    return units, notes


def build_units(compounds: pd.DataFrame, buildings: pd.DataFrame | None, rules: Rules, community_code: str,
                rng: np.random.Generator, previous_buildings: dict[str, dict[str, str]] | None = None,
                flexible: bool = False, seconds: float = 1.0) -> tuple[list[Unit], list[Violation]]:
    """Units of one community; compounds over the maximum are split along buildings
    (into grid-sized groups, or with ``flexible`` into single buildings)."""
    units: list[Unit] = []
    issues: list[Violation] = []
    by_compound = {} if buildings is None or buildings.empty else dict(list(buildings.groupby("compound_id")))
    for cid, hh, geom in zip(compounds["id"].astype(str), compounds["households"], compounds.geometry):
        hh = int(hh)
        b = by_compound.get(cid)
        if hh <= rules.max_households or b is None or len(b) < 2:
            if hh > rules.max_households:
                issues.append(Violation("max_households", community_code, None,
                                        f"compound {cid} has {hh} households > max {rules.max_households} "
                                        f"and {0 if b is None else len(b)} building(s); it cannot be split"))
            units.append(Unit(cid, None, None, hh, geom))
            continue
        prev = (previous_buildings or {}).get(cid)
        parts, notes = split_compound(cid, hh, geom, b, rules, rng, prev, flexible, seconds)
        units.extend(parts)
        issues.extend(Violation("compound_split", community_code, None, n) for n in notes)
    return units, issues
