"""Exact partition by set partitioning over candidate grids (columns).

Communities are small and a grid holds only a few units (compounds of some
hundred households, grids of 300-500), so every connected set of units
that could be a grid can be listed. Choosing the cheapest set of them that
covers each unit exactly once is a set-partitioning problem, solved here by
price and branch with HiGHS (LP duals select the columns worth branching on),
with CP-SAT for small, tight components. When the list is complete and no
cover within bounds exists, that is a proof that no partition within the
bounds exists.

A column's cost needs no geometry: its area is the sum of its territories'
areas and its perimeter the sum of their perimeters less twice the
boundary they share, which gives its Polsby-Popper compactness exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from ortools.sat.python import cp_model
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import csc_matrix

from gridmap.partition.exact import DET_PER_SECOND
from gridmap.partition.rules import Rules
from gridmap.partition.solver import UnitGraph

#: More candidate grids than this in one component: the list is cut short (no proof).
MAX_COLUMNS = 40_000
#: A candidate grid holds at most this many units.
MAX_UNITS_PER_COLUMN = 16
SCALE = 1000
#: Rounds of price and branch (integer programs) for one cover at most.
MAX_ROUNDS = 8
#: Relative gap when grids out of bounds are unavoidable: their cost dominates the objective,
#: so the default gap would leave the soft goals (and stability) unattended.
VIOLATION_GAP = 1e-5
#: Components of at most this many units are probed by CP-SAT when the integer program finds
#: no cover: on such small, tight instances it proves infeasibility in milliseconds where
#: branch and bound took seconds (Xinwu 320214053012: 16 units, 1689 columns, 4.4 s).
PROBE_UNITS = 40
#: Time limit of a probe, and of the search for the fewest grids out of bounds.
PROBE_SECONDS = 1.0
#: Branch-and-bound nodes per second of budget: integer programs stop on a node count, not on
#: the clock, so that a run's grids do not depend on the machine's load (the clock, at 10 ×
#: the budget, only backs it up against a root node that never ends).
NODES_PER_SECOND = 1000
#: Budget of one integer program (as nodes, see NODES_PER_SECOND): beyond it the incumbent is kept (all it may lack is a
#: little compactness; seen on Xinwu communities cut along their buildings, 33 units and
#: 2,384 candidate grids, where HiGHS took 2 s to close the last percent of gap).
MIP_SECONDS = 0.3
#: Columns per unit given to the first integer program.
COLUMNS_PER_UNIT = 3
#: A cover within bounds this close to the LP bound (relative) is kept without a proof of optimality.
GAP = 0.01
#: First margin on reduced costs (in cost units) for the columns given to the integer program.
MARGIN = 0.05


@dataclass
class Columns:
    """Candidate grids of one connected component."""

    sets: list[tuple[int, ...]]
    weight: np.ndarray  # households per column
    soft: np.ndarray  # compactness, balance and barrier cost per column
    short: np.ndarray  # households below the minimum or above the maximum, per column
    complete: bool  # every connected set of at most the maximum households is listed
    n: int  # units of the component

    @property
    def violation_cost(self) -> float:
        """Cost of one grid out of bounds: more than the soft cost of any whole cover
        (at most one column per unit), so bounds always come first."""
        return 10.0 * self.n * max(float(self.soft.max(initial=0.0)), 1.0)

    @property
    def cost(self) -> np.ndarray:
        """Objective per column: out of bounds first (by how far), then the soft goals."""
        v = self.violation_cost
        return self.soft + np.where(self.short > 0, v * (1.0 + self.short / max(self.weight.max(initial=1), 1)), 0.0)


def soft_cost(weight: np.ndarray, area: np.ndarray, perim: np.ndarray, crossings: np.ndarray, *,
              rules: Rules) -> np.ndarray:
    """Soft cost of candidate grids: compactness, balance and major barriers inside.

    Compactness is 1 − Polsby-Popper weighted by the grid's share of a target load,
    so the total does not depend on how many grids there are."""
    target = rules.target
    with np.errstate(divide="ignore", invalid="ignore"):
        pp = np.where(perim > 0, 4 * math.pi * area / (perim * perim), 0.0)
    cost = rules.compactness_weight * (weight / target) * (1.0 - np.minimum(pp, 1.0))
    cost += rules.balance_weight * ((weight - target) / target) ** 2
    return cost + rules.crossing_weight * crossings


def _columns(sets: list[tuple[int, ...]], stats: list[tuple[float, float, float, int]], *, lo: float, hi: float,
             rules: Rules, complete: bool, n: int) -> Columns:
    st = np.array(stats, dtype=float).reshape(-1, 4)
    weight = st[:, 0]
    soft = soft_cost(weight, st[:, 1], st[:, 2], st[:, 3], rules=rules)
    short = np.maximum(lo - weight, 0.0) + np.maximum(weight - hi, 0.0)
    return Columns(sets, weight, soft, short, complete, n)


def enumerate_columns(g: UnitGraph, *, lo: float, hi: float, rules: Rules,
                      max_columns: int = MAX_COLUMNS) -> Columns:
    """Every connected set of units holding at most ``hi`` households (each listed once;
    singletons always, whatever they hold), with its cost.

    Listing grows each set from its lowest-numbered unit, adding only higher-numbered
    units from its exclusive neighbourhood (Wernicke's ESU), so no set comes twice;
    a set too heavy is never extended, as households only add up."""
    n = g.n
    # plain lists: indexing numpy arrays one element at a time is several times slower here
    w = g.weights.astype(float).tolist()
    area = (g.areas if g.areas is not None else np.ones(n)).tolist()
    perim = (g.perims if g.perims is not None else np.full(n, 4.0)).tolist()
    nbrs = g.nbrs
    sets: list[tuple[int, ...]] = []
    stats: list[tuple[float, float, float, int]] = []
    complete = True
    budget = max_columns

    def extend(sub: list[int], closed: set[int], ext: list[int], sums: tuple[float, float, float, int]) -> None:
        """List ``sub`` (households, area, perimeter and crossings: ``sums``) and every set grown
        from it by the units in ``ext``; ``root`` is the enclosing loop's."""
        nonlocal budget, complete
        sets.append(tuple(sorted(sub)))  # sorted: a set is looked up by its members
        stats.append(sums)
        wt, ar, per, cross = sums
        budget -= 1
        if len(sub) >= MAX_UNITS_PER_COLUMN:
            complete = complete and not ext
            return
        ext = list(ext)
        while ext:
            if budget <= 0:
                complete = False
                return
            v = ext.pop()
            wv = wt + w[v]
            if wv > hi:
                continue
            shared, cr = 0.0, 0
            for u in sub:
                e = nbrs[v].get(u)
                if e is not None:
                    shared += e[0]
                    cr += e[1]
            new_ext = ext + [u for u in nbrs[v] if u > root and u not in closed]
            extend(sub + [v], closed | nbrs[v].keys(), new_ext, (wv, ar + area[v], per + perim[v] - 2 * shared,
                                                                 cross + cr))

    for root in range(n):
        if budget <= 0:  # the list is cut short, but every unit alone stays a candidate
            complete = False
            sets.append((root,))
            stats.append((w[root], area[root], perim[root], 0))
            continue
        closed = {root} | nbrs[root].keys()
        extend([root], closed, [u for u in nbrs[root] if u > root], (w[root], area[root], perim[root], 0))
    return _columns(sets, stats, lo=lo, hi=hi, rules=rules, complete=complete, n=n)


def add_regions(cols: Columns, g: UnitGraph, lab: np.ndarray, *, lo: float, hi: float, rules: Rules,
                skip: np.ndarray | None = None) -> Columns:
    """The columns plus the regions of a labelling (e.g. the heuristic's, or the current
    plan's), so that the optimum is never worse than that labelling; units where
    ``skip`` is set belong to no region."""
    have = set(cols.sets)
    area = g.areas if g.areas is not None else np.ones(g.n)
    perim = g.perims if g.perims is not None else np.full(g.n, 4.0)
    sets, stats = [], []
    for r in np.unique(lab if skip is None else lab[~skip]):
        idx = tuple(int(i) for i in np.flatnonzero(lab == r))
        if idx in have:
            continue
        inside = set(idx)
        pairs = [(u, e) for u in idx for v, e in g.nbrs[u].items() if v in inside and u < v]
        sets.append(idx)
        stats.append((float(g.weights[list(idx)].sum()), float(area[list(idx)].sum()),
                      float(perim[list(idx)].sum()) - 2 * sum(e[0] for _, e in pairs), sum(1 for _, e in pairs if e[1])))
    more = _columns(sets, stats, lo=lo, hi=hi, rules=rules, complete=False, n=g.n)
    return replace(cols, sets=cols.sets + sets, weight=np.concatenate([cols.weight, more.weight]),
                   soft=np.concatenate([cols.soft, more.soft]), short=np.concatenate([cols.short, more.short]))


#: Stability cost of a grid that is not exactly a current grid (it takes a new code), in
#: grids' worth of moved households.
NEW_GRID = 0.25


def with_stability(cols: Columns, g: UnitGraph, anchor: np.ndarray, *, rules: Rules) -> Columns:
    """The columns with the cost of change added (stability mode): households a column takes
    from other current grids than its main one, and a fixed cost when it is not exactly
    a current grid (so untouched grids keep their codes)."""
    w = g.weights.astype(float)
    current = {tuple(int(i) for i in np.flatnonzero(anchor == r)) for r in np.unique(anchor[anchor >= 0])}
    extra = np.zeros(len(cols.sets))
    for c, st in enumerate(cols.sets):
        by: dict[int, float] = {}
        for u in st:
            if anchor[u] >= 0:
                by[int(anchor[u])] = by.get(int(anchor[u]), 0.0) + w[u]
        moved = sum(by.values()) - max(by.values(), default=0.0)
        extra[c] = moved / rules.target + (0.0 if st in current else NEW_GRID)
    return replace(cols, soft=cols.soft + rules.stability_weight * extra)


def _matrix(n: int, sets: list[tuple[int, ...]]) -> csc_matrix:
    """Unit × column incidence matrix."""
    rows = np.fromiter((u for st in sets for u in st), np.int64)
    cols = np.repeat(np.arange(len(sets)), [len(st) for st in sets])
    return csc_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, len(sets)))


def _mip(a: csc_matrix, cost: np.ndarray, keep: np.ndarray, *, seconds: float, gap: float = 0.0,
         ) -> tuple[np.ndarray | None, bool, bool]:
    """Exact cover by the columns ``keep``: (chosen column indices or None, proved optimal,
    proved infeasible)."""
    sub = a[:, keep]
    res = milp(cost[keep], constraints=LinearConstraint(sub, 1, 1), integrality=np.ones(len(keep)),
               bounds=Bounds(0, 1), options={"node_limit": max(1, int(seconds * NODES_PER_SECOND)),
                                             "time_limit": 10 * seconds, "disp": False, "mip_rel_gap": gap or GAP,
                                             "presolve": False})
    if res.x is None:
        return None, False, res.status == 2
    chosen = keep[res.x > 0.5]
    if not _exact(a, chosen):  # stopped by the time limit on a fractional point
        return None, False, False
    return chosen, res.status == 0, False


def _exact(a: csc_matrix, chosen: np.ndarray) -> bool:
    """Whether the columns ``chosen`` cover every unit exactly once."""
    return bool(np.all(np.asarray(a[:, chosen].sum(axis=1)).ravel() == 1))


def _cp_cover(a: csc_matrix, cost: np.ndarray | None, cand: np.ndarray, *, seconds: float,
              hint: np.ndarray | None = None) -> tuple[np.ndarray | None, bool]:
    """Exact cover by the columns ``cand`` with CP-SAT, which settles small, tight instances
    (a few dozen units) where the LP bound is weak and branch and bound is slow; ``cost`` None:
    any cover. Returns (chosen columns or None, proved that none exists)."""
    sub = a[:, cand].tocsc()
    m = cp_model.CpModel()
    x = [m.new_bool_var(f"c{j}") for j in range(len(cand))]
    rows: list[list] = [[] for _ in range(a.shape[0])]
    for j in range(len(cand)):
        for r in sub.indices[sub.indptr[j]:sub.indptr[j + 1]]:
            rows[r].append(x[j])
    for r in rows:
        m.add_exactly_one(r)
    if cost is not None:
        m.minimize(sum(int(c) * v for c, v in zip(cost[cand], x)))
    if hint is not None:
        chosen = set(hint.tolist())
        for j, v in zip(cand, x):
            m.add_hint(v, int(j) in chosen)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_deterministic_time = seconds * DET_PER_SECOND  # work, not the clock
    solver.parameters.max_time_in_seconds = 10 * seconds
    status = solver.solve(m)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return cand[[j for j in range(len(cand)) if solver.value(x[j])]], False
    return None, status == cp_model.INFEASIBLE


def _within(a: csc_matrix, cost: np.ndarray, cand: np.ndarray, *, seconds: float,
            start: np.ndarray | None = None, gap: float = 0.0) -> tuple[np.ndarray | None, bool]:
    """Cheapest exact cover by the candidate columns ``cand``, by price
    and branch: the LP relaxation's duals price every column and only columns whose reduced
    cost is within a margin of the LP bound go to the integer program; the margin widens
    while that program has no cover. A cover within ``gap`` (relative; default GAP) of the
    bound is kept. ``start``: a cover to keep unless a cheaper one is found
    (the current plan, in stability mode). Returns (chosen columns or None, proved infeasible)."""
    n = a.shape[0]
    sub = a[:, cand]
    lp = linprog(cost[cand], A_eq=sub, b_eq=np.ones(n), bounds=(0, 1), method="highs")
    if lp.status == 2:
        return None, True  # not even a fractional cover: no cover within bounds
    if lp.status != 0:
        raise RuntimeError(f"set partitioning LP failed: {lp.message}")
    if np.all((lp.x < 1e-6) | (lp.x > 1 - 1e-6)):
        return cand[lp.x > 0.5], False  # the relaxation is integral: its optimum is ours
    lb = float(lp.fun)
    incumbent = start if start is not None and np.isin(start, cand).all() else None
    gap = gap or GAP
    if incumbent is not None and float(cost[incumbent].sum()) - lb <= gap * max(lb, 1.0):
        return incumbent, False  # the given cover is as good as any, near enough
    reduced = cost[cand] - sub.T @ lp.eqlin.marginals
    ranked = np.sort(reduced)
    margin = max(SCALE * MARGIN, float(ranked[min(len(ranked), COLUMNS_PER_UNIT * n) - 1]))
    probed = False
    for _ in range(MAX_ROUNDS):
        keep = cand[reduced <= margin + 1e-6]
        chosen, _, infeasible = _mip(a, cost, keep, seconds=min(seconds, MIP_SECONDS), gap=gap)
        everything = len(keep) == len(cand)
        if chosen is None:
            if incumbent is not None:
                return incumbent, False
            if everything:
                return None, infeasible
            if not probed and n <= PROBE_UNITS:  # too few columns, or none at all: CP-SAT tells which
                probed = True
                found, none = _cp_cover(a, None, cand, seconds=min(seconds, PROBE_SECONDS))
                if none:
                    return None, True
                if found is not None:
                    incumbent = found
                    margin = max(margin, float(cost[found].sum()) - lb)
                    continue
            margin = max(4 * margin, float(ranked[min(len(ranked), 4 * len(keep)) - 1]))
            continue
        if incumbent is not None and cost[incumbent].sum() < cost[chosen].sum():
            chosen = incumbent
        incumbent = chosen
        ub = float(cost[chosen].sum())
        if everything or ub - lb <= margin + 1e-6 or ub - lb <= gap * max(lb, 1.0):
            return chosen, False  # optimal (no column left out can improve it), or near enough
        margin = max(margin, ub - lb)
    return incumbent, False  # out of rounds: the best cover found, not proved optimal


def _hint_columns(cols: Columns, hint: np.ndarray) -> np.ndarray | None:
    """The columns that are the regions of labelling ``hint`` (units at -1 alone), if all listed."""
    index = {st: i for i, st in enumerate(cols.sets)}
    out = []
    for r in np.unique(hint):
        idx = np.flatnonzero(hint == r)
        sets = [(int(i),) for i in idx] if r < 0 else [tuple(int(i) for i in idx)]
        for st in sets:
            if st not in index:
                return None
            out.append(index[st])
    return np.array(out, np.int64)


def solve_cover(g: UnitGraph, cols: Columns, *, seconds: float, within_only: bool = False,
                hint: np.ndarray | None = None) -> tuple[np.ndarray | None, int, bool]:
    """Cheapest exact cover of the units by columns: (labels, k, grids out of bounds proved
    unavoidable among these columns).

    First only columns within bounds; when they hold no cover (proved by HiGHS), grids out
    of bounds are unavoidable, and the cover with the fewest and least far out is sought
    among all columns within the time limit (``within_only``: not sought; labels None).
    ``hint``: a labelling (the current plan) kept unless a cheaper cover is found."""
    cost = np.round(SCALE * cols.cost)
    a = _matrix(g.n, cols.sets)
    inside = np.flatnonzero(cols.short <= 0)
    start = _hint_columns(cols, hint) if hint is not None else None
    chosen, infeasible = _within(a, cost, inside, seconds=seconds, start=start) if len(inside) else (None, True)
    if chosen is None and within_only:
        return None, 0, infeasible
    if chosen is None:  # the fewest, least far out of bounds. The LP bound ignores the bounds
        # almost entirely here, so branch and bound proves little: CP-SAT on small components
        # (Xinwu: 4 grids out of bounds where HiGHS left 7 in the same time), HiGHS on others
        every = np.arange(len(cost))
        if g.n <= PROBE_UNITS // 2:
            chosen, _ = _cp_cover(a, cost, every, seconds=min(seconds, PROBE_SECONDS),
                                  hint=start if start is not None else
                                  np.flatnonzero([len(st) == 1 for st in cols.sets]))
        if chosen is None:
            chosen, _ = _within(a, cost, every, seconds=min(seconds, PROBE_SECONDS), start=start, gap=VIOLATION_GAP)
    if chosen is None:  # no incumbent in time: every unit alone is always a cover
        chosen = np.flatnonzero([len(st) == 1 for st in cols.sets])
    lab = np.full(g.n, -1, np.int64)
    for r, c in enumerate(chosen):
        lab[list(cols.sets[c])] = r
    return lab, len(chosen), infeasible
