"""Exact rescue with OR-Tools CP-SAT, for components the heuristic left out of bounds.

Model: x[i,r] assigns unit i to region r; each region has one root and is
connected by a flow from its root (each member consumes one
unit of flow; flow only runs along edges inside the region); household
bounds are hard. Objective: weighted cut boundary (compactness) plus major
barriers inside regions. The heuristic's labelling is the hint.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from gridmap.partition.rules import Rules
from gridmap.partition.solver import Costs, UnitGraph, make_costs

log = logging.getLogger(__name__)

MAX_UNITS = 60  # a neighbourhood larger than this is left to the heuristic
#: a whole component (or a compound's buildings) up to this many units may go to CP-SAT at once
EXACT_MAX_UNITS = 160
SCALE = 100
#: CP-SAT work units per second of budget. Budgets are given in seconds but spent in CP-SAT's
#: deterministic time (measured here: ~0.4 work units per wall second on these small models), so a
#: run's result does not depend on the machine's load; wall time only backs that up, at 10×.
DET_PER_SECOND = 0.25


def _model(g: UnitGraph, k: int, *, lo: int, hi: int, costs: Costs, hint: np.ndarray | None,
           shared_flow: bool = False) -> tuple[cp_model.CpModel, list]:
    """Build the CP-SAT model; returns (model, x). ``shared_flow``: one flow for all regions
    (k times fewer flow variables: smaller, faster models, but a weaker search on whole
    components: Xinwu 320214053011, 23 units, went unsolved with it)."""
    m = cp_model.CpModel()
    n = g.n
    x = [[m.new_bool_var(f"x{i}_{r}") for r in range(k)] for i in range(n)]
    root = [[m.new_bool_var(f"s{i}_{r}") for r in range(k)] for i in range(n)]
    for i in range(n):
        m.add_exactly_one(x[i])
    w = [int(v) for v in g.weights]
    for r in range(k):
        m.add_linear_constraint(sum(w[i] * x[i][r] for i in range(n)), lo, hi)
        m.add_exactly_one(root[i][r] for i in range(n))
        for i in range(n):
            m.add_implication(root[i][r], x[i][r])
    edges = [(i, j) for i in range(n) for j in g.nbrs[i] if i < j]
    if not shared_flow:
        for r in range(k):
            inflow_r: list[list] = [[] for _ in range(n)]
            outflow_r: list[list] = [[] for _ in range(n)]
            for i, j in edges:
                for a, b in ((i, j), (j, i)):
                    f = m.new_int_var(0, n, f"f{a}_{b}_{r}")
                    m.add(f == 0).only_enforce_if(x[a][r].Not())
                    m.add(f == 0).only_enforce_if(x[b][r].Not())
                    outflow_r[a].append(f)
                    inflow_r[b].append(f)
            for i in range(n):
                m.add(sum(inflow_r[i]) - sum(outflow_r[i]) >= x[i][r] - n * root[i][r])
    # shared_flow: one flow for all regions: it runs only along uncut edges (whose ends share a region), each
    # unit consumes one, and only a region's root produces; so every unit is joined to its root
    inflow: list[list] = [[] for _ in range(n)]
    outflow: list[list] = [[] for _ in range(n)]
    terms = []
    for i, j in edges:
        length, cross = g.nbrs[i][j]
        cut = m.new_bool_var(f"c{i}_{j}")
        if hint is not None:
            m.add_hint(cut, bool(hint[i] != hint[j]))
        for r in range(k):
            m.add_implication(x[i][r], x[j][r]).only_enforce_if(cut.Not())
        for a, b in ((i, j), (j, i)) if shared_flow else ():
            f = m.new_int_var(0, n, f"f{a}_{b}")
            m.add(f == 0).only_enforce_if(cut)
            outflow[a].append(f)
            inflow[b].append(f)
        terms.append(int(SCALE * costs.edge(length, cross, True)) * cut)
        if cross:
            terms.append(int(SCALE * costs.edge(length, cross, False)) * cut.Not())
    for i in range(n) if shared_flow else ():
        m.add(sum(inflow[i]) - sum(outflow[i]) >= 1 - n * sum(root[i]))
    for r in range(k - 1):  # symmetry: roots in increasing unit order
        m.add(sum(i * root[i][r] for i in range(n)) < sum(i * root[i][r + 1] for i in range(n)))
    m.minimize(sum(terms))
    if hint is not None:
        for i in range(n):
            for r in range(k):
                m.add_hint(x[i][r], bool(hint[i] == r))
    return m, x


@dataclass(frozen=True)
class Exact:
    """What an exact solve found: a bounds-feasible labelling into ``k`` regions (``labels``
    None: none found), whether CP-SAT proved that none exists, and the budget it used
    (seconds, from deterministic time)."""

    labels: np.ndarray | None
    k: int
    proved: bool
    seconds: float


def exact_partition(g: UnitGraph, *, lo: int, hi: int, rules: Rules, hint: np.ndarray | None, hint_k: int,
                    seconds: float, max_ks: int = 3, shared_flow: bool = False) -> Exact:
    """Best bounds-feasible contiguous labelling of a small connected graph, if CP-SAT finds
    one in ``seconds``; else whether it proved that none exists (every admissible k infeasible)."""
    total = float(g.weights.sum())
    kmin, kmax = max(1, math.ceil(total / hi)), math.floor(total / lo) if lo > 0 else g.n
    every = list(range(kmin, min(kmax, g.n) + 1))
    if not every:
        return Exact(None, 0, True, 0.0)
    ks = sorted(every, key=lambda k: (k != hint_k, abs(total / k - rules.target)))[:max_ks]
    left = seconds * DET_PER_SECOND
    proved, used = 0, 0.0
    for n_k, k in enumerate(ks):
        if left <= 0.01 * DET_PER_SECOND:
            break
        share = left if n_k == len(ks) - 1 else left * (0.6 if n_k == 0 else 0.5)
        model, x = _model(g, k, lo=lo, hi=hi, costs=make_costs(g, k, lo=lo, hi=hi, rules=rules),
                          hint=hint if k == hint_k else None, shared_flow=shared_flow)
        solver = cp_model.CpSolver()
        solver.parameters.max_deterministic_time = share
        solver.parameters.max_time_in_seconds = 10 * share / DET_PER_SECOND
        solver.parameters.num_workers = 1
        solver.parameters.random_seed = 0
        status = solver.solve(model)
        left -= solver.deterministic_time
        used += solver.deterministic_time
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            labels = np.array([next(r for r in range(k) if solver.value(x[i][r])) for i in range(g.n)])
            return Exact(labels, k, False, used / DET_PER_SECOND)
        proved += status == cp_model.INFEASIBLE
    return Exact(None, 0, proved == len(every), used / DET_PER_SECOND)


def _ring(g: UnitGraph, lab: np.ndarray, regions: set[int]) -> set[int]:
    """``regions`` plus every region adjacent to them."""
    out = set(regions)
    for u in np.flatnonzero(np.isin(lab, list(regions))):
        out.update(int(lab[v]) for v in g.nbrs[u])
    return out


def rescue(g: UnitGraph, labels: np.ndarray, k: int, *, lo: int, hi: int, rules: Rules,
           time_limit: float) -> tuple[np.ndarray, int]:
    """Large-neighbourhood repair: for each region out of bounds, re-solve it together
    with its neighbouring regions (then a second ring) exactly with CP-SAT; keep the
    result when every region of the neighbourhood fits the bounds."""
    lab = labels.copy()
    left = max(time_limit, 0.0)
    tried: set[int] = set()
    while left > 0:
        load = np.bincount(lab, weights=g.weights.astype(float), minlength=k)
        bad = [int(r) for r in np.flatnonzero((load < lo) | (load > hi)) if int(r) not in tried]
        if not bad:
            break
        r = bad[0]
        tried.add(r)
        hood = {r}
        for _ in range(2):
            hood = _ring(g, lab, hood)
            idx = np.flatnonzero(np.isin(lab, list(hood)))
            if len(idx) > MAX_UNITS:
                break
            ids = sorted(hood)
            hint = np.searchsorted(ids, lab[idx])
            ex = exact_partition(g.subgraph(idx), lo=lo, hi=hi, rules=rules, hint=hint, hint_k=len(ids),
                                 seconds=min(left, 0.3), shared_flow=True)
            left -= ex.seconds
            if ex.labels is None and not ex.proved:
                break  # the solver ran out of time on the first ring: the second, larger, would too
            if ex.labels is not None:
                sub, kk = ex.labels, ex.k
                new_ids = ids + list(range(k, k + max(0, kk - len(ids))))
                lab[idx] = np.array(new_ids)[sub]
                k = max(k, max(new_ids) + 1)
                log.debug("CP-SAT repaired region %d with %d neighbours (%d units)", r, len(ids) - 1, len(idx))
                break
    used = np.unique(lab)
    remap = np.full(k, -1, np.int64)
    remap[used] = np.arange(len(used))
    return remap[lab], len(used)
