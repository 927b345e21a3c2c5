"""Capacitated allocation of items (compounds, grids) to holders (officers, people).

Every item goes to exactly one holder. The solve has two stages:

1. capacitated k-medoids: each holder gets an anchor item; a min-cost flow
   (OR-Tools ``SimpleMinCostFlow``) sends every item to a holder at cost
   distance-to-anchor (+ ``move_m`` when the link is new), with the first
   ``cap_min`` items of a holder free, the rest up to ``cap_max`` at
   ``underload_m`` and overflow items at a convex, very high cost; anchors
   are then moved to the medoid of what each holder got and the flow re-run.
   The flow is exact for that cost, so coverage always holds and overflow is
   spread as evenly as possible.
2. CP-SAT refinement of the same objective plus household balance (the sum of
   each holder's deviation from the mean households), hinted with the flow
   solution and bounded by a deterministic time budget; if it finds nothing
   better the flow solution stands.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import linear_sum_assignment, min_cost_flow
from ortools.sat.python import cp_model

from gridmap.assign.targets import Weights

#: Candidate holders per item in the flow and CP-SAT models (plus current and flow holder).
CANDIDATES = 8
#: Rounds of anchor update in the capacitated k-medoids stage.
ROUNDS = 3


@dataclass(frozen=True)
class Problem:
    """One allocation: n items to k holders.

    xy: (n, 2) item positions in metres (zeros when place does not matter).
    households: (n,) item weights.
    holders: k.
    cap_min, cap_max: target items per holder.
    current: (n,) holder index of the item's current link, -1 if none.
    """

    xy: np.ndarray
    households: np.ndarray
    holders: int
    cap_min: int
    cap_max: int
    current: np.ndarray


class Budget:
    """A solver time budget (seconds) shared by a known number of solves."""

    def __init__(self, seconds: float, solves: int) -> None:
        self.deadline = time.monotonic() + max(0.0, seconds)
        self.left = max(1, solves)

    def take(self) -> float:
        """Seconds for the next solve: an even share of what remains."""
        share = max(0.0, self.deadline - time.monotonic()) / self.left
        self.left = max(1, self.left - 1)
        return share


def allocate(problem: Problem, *, weights: Weights, time_limit: float) -> np.ndarray:
    """Holder index of every item (see the module docstring for the method)."""
    n, k = len(problem.households), problem.holders
    if n == 0:
        return np.zeros(0, dtype=int)
    if k < 1:
        raise ValueError("allocate needs at least one holder")
    anchors = _initial_anchors(problem)
    owner = _flow(problem, anchors, weights)
    for _ in range(ROUNDS - 1):
        anchors = _medoids(problem, owner, anchors)
        owner = _flow(problem, anchors, weights)
    if time_limit > 0 and 1 < k < n:
        owner = _refine(problem, anchors, owner, weights=weights, time_limit=time_limit)
    return owner


def _dist(xy: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(n, m) distances from every item to ``points``."""
    return np.hypot(xy[:, None, 0] - points[None, :, 0], xy[:, None, 1] - points[None, :, 1])


def _initial_anchors(problem: Problem) -> np.ndarray:
    """Anchor item index per holder, -1 for a holder left without one.

    Farthest-first seeds refined by unconstrained k-medoids, then matched to
    holders so that a holder's anchor is near the items he holds now.
    """
    xy, n, k = problem.xy, len(problem.xy), problem.holders
    m = min(n, k)
    seeds = _farthest_first(xy, problem.households, m)
    for _ in range(10):
        nearest = np.argmin(_dist(xy, xy[seeds]), axis=1)
        owner = nearest
        new = _medoids(problem, owner, seeds)
        if np.array_equal(new, seeds):
            break
        seeds = new
    return _match_holders(problem, seeds)


def _farthest_first(xy: np.ndarray, households: np.ndarray, m: int) -> np.ndarray:
    """m seed items: the weighted medoid, then each time the item farthest from all seeds."""
    centre = np.average(xy, axis=0, weights=households + 1.0)
    seeds = [int(np.argmin(np.hypot(*(xy - centre).T)))]
    gap = np.hypot(*(xy - xy[seeds[0]]).T)
    gap[seeds[0]] = -1.0
    while len(seeds) < m:
        nxt = int(np.argmax(gap))
        seeds.append(nxt)
        gap = np.minimum(gap, np.hypot(*(xy - xy[nxt]).T))
        gap[seeds] = -1.0
    return np.array(seeds, dtype=int)


def _medoids(problem: Problem, owner: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Household-weighted medoid of each group's items; groups without items keep their anchor."""
    out = anchors.copy()
    for group in range(len(anchors)):
        members = np.flatnonzero(owner == group)
        if len(members) == 0:
            continue
        pts = problem.xy[members]
        total = _dist(pts, pts) @ (problem.households[members] + 1.0)
        out[group] = members[int(np.argmin(total))]
    return out


def _match_holders(problem: Problem, seeds: np.ndarray) -> np.ndarray:
    """Give each seed to a holder, preferring the holder whose current items lie near it."""
    k, m = problem.holders, len(seeds)
    cost = np.zeros((k, k), dtype=np.int64)
    for holder in range(k):
        mine = np.flatnonzero(problem.current == holder)
        if len(mine):
            cost[holder, :m] = np.rint(_dist(problem.xy[mine], problem.xy[seeds]).sum(axis=0))
        # a holder with links should not be the one left idle when k > n
        cost[holder, m:] = 10**9 if len(mine) else 0
    solver = linear_sum_assignment.SimpleLinearSumAssignment()
    for holder in range(k):
        for col in range(k):
            solver.add_arc_with_cost(holder, col, int(cost[holder, col]))
    if solver.solve() != solver.OPTIMAL:
        raise RuntimeError("holder matching failed")
    anchors = np.full(k, -1, dtype=int)
    for holder in range(k):
        col = solver.right_mate(holder)
        if col < m:
            anchors[holder] = seeds[col]
    return anchors


def _costs(problem: Problem, anchors: np.ndarray, weights: Weights) -> np.ndarray:
    """(n, k) integer cost of item→holder: distance to anchor plus move cost."""
    xy = problem.xy
    far = 2.0 * float(np.ptp(xy, axis=0).sum()) + 1.0  # an idle holder's "distance"
    pts = np.where(anchors[:, None] >= 0, xy[np.maximum(anchors, 0)], np.nan)
    dist = _dist(xy, pts)
    dist = np.where(np.isnan(dist), far, dist)
    moved = problem.current[:, None] != np.arange(problem.holders)[None, :]
    return np.rint(dist + weights.move_m * moved).astype(np.int64)


def _candidates(cost: np.ndarray, problem: Problem, *, extra: np.ndarray | None = None) -> list[np.ndarray]:
    """Holders each item may go to: the cheapest few, its current one and ``extra``."""
    n, k = cost.shape
    if k <= CANDIDATES:
        return [np.arange(k)] * n
    near = np.argsort(cost, axis=1, kind="stable")[:, :CANDIDATES]
    out = []
    for i in range(n):
        keep = set(near[i].tolist())
        if problem.current[i] >= 0:
            keep.add(int(problem.current[i]))
        if extra is not None:
            keep.add(int(extra[i]))
        out.append(np.array(sorted(keep), dtype=int))
    return out


def _flow(problem: Problem, anchors: np.ndarray, weights: Weights) -> np.ndarray:
    """Exact min-cost flow for distance + stability + load (no household balance)."""
    n, k = len(problem.households), problem.holders
    cost = _costs(problem, anchors, weights)
    source, sink = n + k, n + k + 1
    smcf = min_cost_flow.SimpleMinCostFlow()
    for i in range(n):
        smcf.add_arc_with_capacity_and_unit_cost(source, i, 1, 0)
    for i, holders in enumerate(_candidates(cost, problem)):
        for h in holders:
            smcf.add_arc_with_capacity_and_unit_cost(i, n + int(h), 1, int(cost[i, h]))
    for h in range(k):
        _load_arcs(smcf, problem, holder=n + h, sink=sink, weights=weights)
    smcf.set_node_supply(source, n)
    smcf.set_node_supply(sink, -n)
    if smcf.solve() != smcf.OPTIMAL:
        raise RuntimeError("min-cost flow found no allocation")
    owner = np.full(n, -1, dtype=int)
    for arc in range(smcf.num_arcs()):
        tail, head = smcf.tail(arc), smcf.head(arc)
        if tail < n and n <= head < n + k and smcf.flow(arc) > 0:
            owner[tail] = head - n
    return owner


def _load_arcs(smcf: min_cost_flow.SimpleMinCostFlow, problem: Problem, *, holder: int, sink: int,
               weights: Weights) -> None:
    """Holder→sink arcs: free up to cap_min, underload_m up to cap_max, then convex overflow."""
    n, cap_min, cap_max = len(problem.households), problem.cap_min, problem.cap_max
    if cap_min > 0:
        smcf.add_arc_with_capacity_and_unit_cost(holder, sink, min(cap_min, n), 0)
    if cap_max > cap_min:
        smcf.add_arc_with_capacity_and_unit_cost(holder, sink, cap_max - cap_min, weights.underload_m)
    for j in range(max(0, n - cap_max)):
        smcf.add_arc_with_capacity_and_unit_cost(holder, sink, 1, weights.overflow_m * (j + 1))


def _refine(
    problem: Problem, anchors: np.ndarray, owner: np.ndarray, *, weights: Weights, time_limit: float
) -> np.ndarray:
    """CP-SAT over the same objective plus household balance, hinted with ``owner``."""
    n, k = len(problem.households), problem.holders
    cost = _costs(problem, anchors, weights)
    households = np.rint(problem.households).astype(np.int64)
    model = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    for i, holders in enumerate(_candidates(cost, problem, extra=owner)):
        for h in holders:
            x[i, int(h)] = model.new_bool_var(f"x{i}_{h}")
            model.add_hint(x[i, int(h)], int(owner[i] == h))
        model.add_exactly_one(x[i, int(h)] for h in holders)
    mean = int(round(households.sum() / k))
    terms = [int(cost[i, h]) * var for (i, h), var in x.items()]
    for h in range(k):
        mine = [(i, var) for (i, hh), var in x.items() if hh == h]
        terms += _load_terms(model, problem, weights=weights, holder=h, mine=mine, households=households, mean=mean)
    model.minimize(sum(terms))
    solver = cp_model.CpSolver()
    # one worker and a deterministic limit make the answer repeatable; the wall-clock
    # limit is only a safety net (CP-SAT's deterministic seconds can run long)
    solver.parameters.num_workers = 1
    solver.parameters.max_deterministic_time = float(time_limit)
    solver.parameters.max_time_in_seconds = 2.0 * float(time_limit)
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return owner
    out = owner.copy()
    for (i, h), var in x.items():
        if solver.boolean_value(var):
            out[i] = h
    return out


def _load_terms(
    model: cp_model.CpModel,
    problem: Problem,
    *,
    weights: Weights,
    holder: int,
    mine: list[tuple[int, cp_model.IntVar]],
    households: np.ndarray,
    mean: int,
) -> list:
    """Objective terms of one holder (``mine``: its items' variables): underload, convex
    overflow, household deviation from ``mean``."""
    h = holder
    n = len(households)
    load = sum(var for _, var in mine)
    terms: list = []
    beyond = model.new_int_var(0, n, f"beyond{h}")  # items past cap_min (cost underload_m each)
    model.add(beyond >= load - problem.cap_min)
    terms.append(weights.underload_m * beyond)
    over = model.new_int_var(0, n, f"over{h}")
    model.add(over >= load - problem.cap_max)
    square = model.new_int_var(0, n * n, f"sq{h}")
    model.add_multiplication_equality(square, [over, over])
    # sum of j*overflow_m for j=1..v is overflow_m*(v + v^2)/2, as in the flow
    half = max(1, weights.overflow_m // 2)
    terms += [half * over, half * square]
    # the flow charges underload_m per item in (cap_min, cap_max]; beyond also counts overflow items
    terms.append(-weights.underload_m * over)
    top = int(households.sum())
    dev = model.new_int_var(0, top + mean, f"dev{h}")
    held = sum(int(households[i]) * var for i, var in mine)
    model.add(dev >= held - mean)
    model.add(dev >= mean - held)
    if weights.household_m > 0:
        terms.append(weights.household_m * dev)
    return terms
