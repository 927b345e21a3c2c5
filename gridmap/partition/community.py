"""Partition one community (社区): units → territories → graph → labels → grids.

Everything here is in the metric CRS and is a pure function of a
:class:`CommunityJob`, so communities can run in parallel processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
import shapely.ops
from shapely.geometry.base import BaseGeometry

from gridmap.partition.exact import rescue
from gridmap.partition.geometry import disjoint_units, polygonal, territories, unit_graph
from gridmap.partition.report import assemble
from gridmap.partition.rules import Rules, Violation
from gridmap.partition.solver import UnitGraph, component_labels, solve
from gridmap.partition.stability import repair
from gridmap.partition.units import Unit, build_units


#: CP-SAT budget per unit of the community, capped by ``time_limit``: enough for the
#: small neighbourhood repairs that pay, small enough for 10^4 compounds in seconds.
EXACT_SECONDS_PER_UNIT = 0.004


@dataclass
class CommunityJob:
    """Everything needed to partition one community (metric CRS)."""

    code: str
    name: str
    geometry: BaseGeometry
    rules: Rules
    compounds: pd.DataFrame  # id, households, geometry
    buildings: pd.DataFrame | None
    barrier: BaseGeometry | None  # union of major barriers near the community
    current: pd.DataFrame | None = None  # code, geometry
    current_members: pd.DataFrame | None = None  # compound_id, building_id, grid_code[, households]
    locked: frozenset[str] = frozenset()
    plan: str = "draft"
    seed: int = 0
    time_limit: float = 5.0


@dataclass
class CommunityOutcome:
    """Grids and reports of one community (metric CRS)."""

    grids: list[dict] = field(default_factory=list)
    members: list[dict] = field(default_factory=list)
    grid_report: list[dict] = field(default_factory=list)
    community_report: dict = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    gaps_m2: float = 0.0
    overlaps_m2: float = 0.0


def _anchor_keys(job: CommunityJob) -> tuple[dict, dict, dict, dict]:
    """From the current plan: unit key -> code, code -> member keys, buildings by compound, old households."""
    key_code: dict[tuple[str, str | None], str] = {}
    members: dict[str, set] = {}
    by_building: dict[str, dict[str, str]] = {}
    old_hh: dict[str, float] = {}
    cm = job.current_members
    if cm is None or cm.empty:
        return key_code, members, by_building, old_hh
    bid_col = cm["building_id"] if "building_id" in cm else pd.Series(None, index=cm.index)
    for cid, bid, code in zip(cm["compound_id"].astype(str), bid_col, cm["grid_code"].astype(str)):
        bid = None if bid is None or (isinstance(bid, float) and np.isnan(bid)) or pd.isna(bid) else str(bid)
        key_code[(cid, bid)] = code
        members.setdefault(code, set()).add((cid, bid))
        if bid is not None:
            by_building.setdefault(cid, {})[bid] = code
    if "households" in cm:
        old_hh = cm.groupby(cm["compound_id"].astype(str))["households"].sum().to_dict()
    return key_code, members, by_building, old_hh


def _safe_geoms(units: list[Unit], container: BaseGeometry) -> np.ndarray:
    """Unit geometries clipped to the container; a unit falling outside keeps a point inside."""
    geoms = disjoint_units(np.array([u.geometry for u in units], dtype=object), container)
    empty = shapely.is_empty(geoms)
    if empty.any():
        for i in np.flatnonzero(empty):
            p = shapely.point_on_surface(units[i].geometry)
            geoms[i] = p if container.contains(p) else shapely.ops.nearest_points(container, p)[0]
    return geoms


def _label_components(g: UnitGraph, job: CommunityJob, anchor: np.ndarray, changed: np.ndarray,
                      rng: np.random.Generator) -> tuple[np.ndarray, list[Violation]]:
    """Region label per unit, component by component; oversize units stand alone."""
    lo, hi = job.rules.min_households, job.rules.max_households
    lab = np.full(g.n, -1, np.int64)
    issues: list[Violation] = []
    nxt = 0
    for u in np.flatnonzero(g.weights > hi):
        lab[u] = nxt
        nxt += 1
    rest = np.flatnonzero(lab < 0)
    comp = component_labels(g.nbrs, members=rest)
    ncomp = int(comp.max()) + 1 if len(rest) else 0
    if ncomp > 1:
        issues.append(Violation("contiguity", job.code, None,
                                f"the community's units form {ncomp} separate pieces (exclave, or cut off by "
                                f"unsplittable compounds); each piece is partitioned on its own"))
    for c in range(ncomp):
        idx = np.flatnonzero(comp == c)
        sub = g.subgraph(idx)
        anc = anchor[idx]
        if (anc >= 0).any():
            _, anc = np.unique(np.where(anc >= 0, anc, -1), return_inverse=True)
            anc = anc - (1 if (anchor[idx] < 0).any() else 0)
            sl, k = repair(sub, anc, changed[idx], lo, hi, job.rules, rng)
        else:
            sl, k, _ = solve(sub, lo, hi, job.rules, rng)
            budget = min(job.time_limit, EXACT_SECONDS_PER_UNIT * g.n)
            sl, k = rescue(sub, sl, k, lo, hi, job.rules, budget)
        lab[idx] = sl + nxt
        nxt += k
    return lab, issues


def run_community(job: CommunityJob) -> CommunityOutcome:
    """Partition one community into grids that tile it."""
    rng = np.random.default_rng(job.seed)
    key_code, cur_members, by_building, old_hh = _anchor_keys(job)
    locked = [c for c in job.locked if c in cur_members or (job.current is not None and c in set(job.current["code"]))]
    locked_keys = {k for c in locked for k in cur_members.get(c, ())}
    locked_cids = {cid for cid, _ in locked_keys}
    container = job.geometry
    locked_rows = job.current[job.current["code"].isin(locked)] if locked else None
    if locked_rows is not None and len(locked_rows):
        container = polygonal(shapely.difference(container, shapely.union_all(locked_rows.geometry.values)))
    comps = job.compounds[~job.compounds["id"].astype(str).isin(locked_cids)]
    units, issues = build_units(comps, job.buildings, job.rules, job.code, rng, by_building)
    out = CommunityOutcome(violations=list(issues))
    if units and not container.is_empty:
        geoms = _safe_geoms(units, container)
        terr = territories(geoms, container)
        xy = shapely.get_coordinates(shapely.point_on_surface(geoms))
        g = unit_graph(np.array([u.households for u in units]), xy, terr, job.barrier)
        anchor, changed = _anchors(units, key_code, old_hh, locked)
        lab, more = _label_components(g, job, anchor, changed, rng)
        out.violations.extend(more)
    else:
        terr, g, lab = np.zeros(0, dtype=object), None, np.zeros(0, np.int64)
    assemble(out, job, units, terr, g, lab, container, locked_rows, cur_members, locked)
    return out


def _anchors(units: list[Unit], key_code: dict, old_hh: dict, locked: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Current grid (as an index) of each unit, -1 if none; and which units changed households."""
    codes = sorted({c for c in key_code.values() if c not in locked})
    index = {c: i for i, c in enumerate(codes)}
    anchor = np.full(len(units), -1, np.int64)
    changed = np.zeros(len(units), bool)
    for i, u in enumerate(units):
        votes = [key_code.get(k) for k in u.keys]
        votes = [v for v in votes if v in index]
        if votes:
            anchor[i] = index[max(set(votes), key=votes.count)]
        if key_code and (u.compound_id not in old_hh if old_hh else not votes):
            changed[i] = True
        elif old_hh and u.building_ids is None and int(old_hh[u.compound_id]) != u.households:
            changed[i] = True
    return anchor, changed
