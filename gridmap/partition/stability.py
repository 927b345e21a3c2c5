"""Stability mode: repair the current plan instead of redrawing it.

Start from the current assignment (anchors), give new units to neighbouring
grids, then let only the grids that are out of bounds or touched by a change
(and their neighbours) move units, with a cost on every household moved.
Grids still out of bounds are split or merged as a last resort.
"""

from __future__ import annotations

import numpy as np

from gridmap.partition.rules import Rules
from gridmap.partition.solver import UnitGraph, component_labels, grow, improve, make_costs, solve, split_merge, touching


def _disconnected_pieces(g: UnitGraph, lab: np.ndarray, k: int) -> set[int]:
    """Unlabel all but the largest connected piece of each region; return regions that lost pieces."""
    dirty = set()
    for r in range(k):
        idx = np.flatnonzero(lab == r)
        if len(idx) < 2:
            continue
        comp = component_labels(g.nbrs, members=idx)[idx]
        if comp.max() > 0:
            biggest = np.bincount(comp, weights=g.weights[idx].astype(float) + 1e-3).argmax()
            lab[idx[comp != biggest]] = -1
            dirty.add(r)
    return dirty


def repair(g: UnitGraph, anchor: np.ndarray, changed: np.ndarray, *, lo: float, hi: float, rules: Rules,
           rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Labels for a connected component under stability mode.

    ``anchor`` holds each unit's current region (0..m-1) or -1 for new units;
    ``changed`` marks units whose households changed.
    """
    k = int(anchor.max()) + 1 if (anchor >= 0).any() else 0
    if k == 0:
        lab, k, _ = solve(g, lo=lo, hi=hi, rules=rules, rng=rng)
        return lab, k
    lab = anchor.copy()
    dirty = _disconnected_pieces(g, lab, k)
    costs = make_costs(g, k, lo=lo, hi=hi, rules=rules)
    if (lab < 0).any():
        grown = grow(g, k, rng=rng, costs=costs, labels=lab)
        dirty.update(int(r) for r in np.unique(grown[lab < 0]))
        lab = grown
    load = np.bincount(lab, weights=g.weights.astype(float), minlength=k)
    dirty.update(int(r) for r in np.flatnonzero((load < lo) | (load > hi)))
    dirty.update(int(r) for r in np.unique(lab[changed]))
    for widen in (False, True):
        if not dirty:
            break
        movable = np.isin(lab, list(dirty | touching(g, lab, dirty))) if not widen else np.ones(g.n, bool)
        anc = np.where(anchor < k, anchor, -1)
        lab = improve(g, lab, k, costs=costs, rng=rng, anchor=anc, fixed=~movable)
        load = np.bincount(lab, weights=g.weights.astype(float), minlength=k)
        if not ((load < lo) | (load > hi)).any():
            break
    load = np.bincount(lab, weights=g.weights.astype(float), minlength=k)
    if ((load < lo) | (load > hi)).any():
        lab, k, touched = split_merge(g, lab, k, lo=lo, hi=hi, rules=rules, rng=rng)
        if touched:
            costs = make_costs(g, k, lo=lo, hi=hi, rules=rules)
            movable = np.isin(lab, list(touched | touching(g, lab, touched)))
            lab = improve(g, lab, k, costs=costs, rng=rng, anchor=None, fixed=~movable)
    return lab, k
