"""Partition one community (社区): pieces → territories → graph → units → cover → grids.

Everything here is in the metric CRS and is a pure function of a
:class:`CommunityJob`, so communities can run in parallel processes.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import shapely
import shapely.ops

from gridmap.partition.columns import (
    add_regions,
    enumerate_columns,
    solve_cover,
    with_stability,
)
from gridmap.partition.exact import exact_partition, rescue
from gridmap.partition.geometry import polygonal
from gridmap.partition.job import CommunityJob, CommunityOutcome, Current, Locked, Solve
from gridmap.partition.report import assemble
from gridmap.partition.rules import NO_SPLIT, Reason
from gridmap.partition.solver import UnitGraph, component_labels, solve, violations
from gridmap.partition.stability import repair
from gridmap.partition.units import (
    Pieces,
    Unit,
    build_pieces,
    build_units,
    tileable,
    unit_territories,
)
from gridmap.violations import Violation

#: CP-SAT budget per unit of the community, capped by ``time_limit``: enough for the
#: small neighbourhood repairs that pay, small enough for 10^4 compounds in seconds.
EXACT_SECONDS_PER_UNIT = 0.004


def _current(job: CommunityJob) -> Current:
    """The current plan's members as keys, codes and households (empty without a current plan)."""
    key_code: dict[tuple[str, str | None], str] = {}
    members: dict[str, set] = {}
    by_building: dict[str, dict[str, str]] = {}
    old_hh: dict[str, float] = {}
    cm = job.current_members
    if cm is None or cm.empty:
        return Current()
    bid_col = cm["building_id"] if "building_id" in cm else pd.Series(None, index=cm.index)
    for cid, bid, code in zip(cm["compound_id"].astype(str), bid_col, cm["grid_code"].astype(str)):
        bid = None if bid is None or (isinstance(bid, float) and np.isnan(bid)) or pd.isna(bid) else str(bid)
        key_code[(cid, bid)] = code
        members.setdefault(code, set()).add((cid, bid))
        if bid is not None:
            by_building.setdefault(cid, {})[bid] = code
    if "households" in cm:
        old_hh = cm.groupby(cm["compound_id"].astype(str))["households"].sum().to_dict()
    return Current(key_code, members, by_building, old_hh)


#: CP-SAT budget for one whole component the heuristic left out of bounds (capped by ``time_limit``).
WHOLE_EXACT_SECONDS = 2.0
#: ... and only when units × grids is at most this: larger models (Xinwu: 29 × 12, 35 × 10; synthetic
#: cities: 29 × 11 up to 77 × 38) never reached a solution in that time, and cost 2 s each for nothing;
#: every success on Xinwu was under 120.
WHOLE_EXACT_CELLS = 200


def _unit_name(u: Unit) -> str:
    """How a unit is named in reasons: a whole compound, or a building group of one."""
    if u.building_ids is None:
        return f"compound {u.compound_id}"
    more = "..." if len(u.building_ids) > 1 else ""
    return f"building group {u.building_ids[0]}{more} of compound {u.compound_id}"


def _stranded(g: UnitGraph, units: list[Unit], *, lo: int, hi: int) -> str:
    """Units under the minimum that cannot share a grid with any neighbour: a small unit whose
    only neighbours are whole compounds (never split) it would push over the maximum."""
    w = g.weights
    names = [_unit_name(u) for u in units]
    out = []
    for u in np.flatnonzero(w < lo):
        nb = list(g.nbrs[u])
        if nb and all(w[u] + w[v] > hi and units[v].building_ids is None for v in nb):
            near = ", ".join(f"{names[v]} ({int(w[v])})" for v in nb[:3])
            out.append(f"{names[u]} ({int(w[u])} households) touches only {near}, and with any of them "
                       f"exceeds max {hi}")
    return "; ".join(out[:2])


def _why(total: float, *, lo: int, hi: int, pieces: int, proved: bool, n: int, seconds: float,
         stranded: str = "") -> Reason:
    """Why a component's grids could not all be held within [lo, hi]: its households, the pieces
    of the community, whether no split is proved, its units and the exact solver's seconds."""
    total = int(total)
    if total < lo:
        if pieces <= 1:
            return Reason("small_community", f"community has {total} households < min {lo}; it forms one grid")
        return Reason("small_piece", f"this separate piece of the community (exclave, or cut off by unsplittable "
                                     f"compounds) has {total} households < min {lo}")
    kmin = math.ceil(total / hi)
    if kmin > math.floor(total / lo):
        return Reason("counting", f"{total} households cannot be cut into grids of {lo}-{hi}: {kmin - 1} grid(s) "
                                  f"would hold {total / (kmin - 1):.0f} > max, {kmin} grids {total / kmin:.0f} < min")
    if stranded:
        return Reason("stranded", f"no feasible split: {stranded} (a compound within max is never split)")
    if proved:
        return Reason("proved", f"no feasible split: every contiguous group of these {n} units was tried, and "
                                f"{total} households admit no division into grids of {lo}-{hi} (compound sizes "
                                f"and adjacency forbid it)")
    if seconds <= 0:
        return Reason("unproved", f"no feasible split found: {n} units are too many for the exact solver and the "
                                  f"heuristic left grids out of {lo}-{hi}")
    return Reason("unproved", f"no feasible split found: CP-SAT found no contiguous division of {total} "
                              f"households on {n} units into grids of {lo}-{hi} within {seconds:.1f} s (not "
                              f"proved impossible)")


def _cover(g: UnitGraph, job: CommunityJob, *, rng: np.random.Generator, budget_units: int,
           anchor: np.ndarray | None = None, changed: np.ndarray | None = None) -> tuple[np.ndarray, int, bool]:
    """Labels of one component: the optimal cover by candidate grids when they can all be
    listed (then the third value says whether grids out of bounds are proved unavoidable);
    else the heuristic (or, with ``anchor``, the repaired current plan), its
    neighbourhoods repaired by CP-SAT, offered to the cover among the listed candidates.
    With ``anchor`` (current grid per unit, -1 if new) change costs: stability mode."""
    lo, hi = job.rules.min_households, job.rules.max_households
    bounds = {"lo": lo, "hi": hi, "rules": job.rules}
    if anchor is not None and _unchanged(g, anchor, lo=lo, hi=hi):
        _, lab = np.unique(anchor, return_inverse=True)
        return lab, int(lab.max()) + 1, False  # every current grid still fits: nothing moves
    cols = enumerate_columns(g, **bounds)
    stable = anchor is not None and bool((anchor >= 0).any())
    if stable:
        cols = add_regions(cols, g, anchor, **bounds, skip=anchor < 0)
    if not cols.complete:
        if stable:
            sl, k = repair(g, anchor, changed, **bounds, rng=rng)
        else:
            sl, k, _ = solve(g, **bounds, rng=rng)
            budget = min(job.time_limit, EXACT_SECONDS_PER_UNIT * budget_units)
            sl, k = rescue(g, sl, k, **bounds, time_limit=budget)
        cols = add_regions(cols, g, sl, **bounds)
    if stable:
        cols = with_stability(cols, g, anchor, rules=job.rules)
    lab, k, optimal = solve_cover(g, cols, seconds=max(job.time_limit, 1.0), hint=anchor if stable else None)
    return lab, k, cols.complete and optimal


def _unchanged(g: UnitGraph, anchor: np.ndarray, *, lo: int, hi: int) -> bool:
    """Whether the current plan stands as it is: every unit in a current grid, and every current
    grid connected and within bounds (with today's households: a change that keeps every grid
    within bounds moves nothing, which is the fewest households moved)."""
    if (anchor < 0).any():
        return False
    load = np.bincount(anchor, weights=g.weights.astype(float))
    load = load[np.bincount(anchor) > 0]
    if violations(load, lo=lo, hi=hi):
        return False
    for r in np.unique(anchor):
        members = np.flatnonzero(anchor == r)
        if len(members) > 1 and component_labels(g.nbrs, members=members)[members].max() > 0:
            return False
    return True


def _label_components(g: UnitGraph, job: CommunityJob, units: list[Unit], *, anchor: np.ndarray, changed: np.ndarray,
                      rng: np.random.Generator, rescue_units: int | None = None,
                      ) -> tuple[np.ndarray, list[Violation], dict[int, Reason]]:
    """Region label per unit, component by component; oversize units stand alone.

    Also returns, for regions whose component could not be held within the
    bounds, the reason (label -> Reason)."""
    lo, hi = job.rules.min_households, job.rules.max_households
    lab = np.full(g.n, -1, np.int64)
    issues: list[Violation] = []
    why: dict[int, Reason] = {}
    nxt = 0
    for u in np.flatnonzero(g.weights > hi):
        lab[u] = nxt
        why[nxt] = Reason("oversize_unit",
                          f"a single unit of {int(g.weights[u])} households > max {hi} that cannot be split further")
        nxt += 1
    rest = np.flatnonzero(lab < 0)
    comp = component_labels(g.nbrs, members=rest)
    ncomp = int(comp.max()) + 1 if len(rest) else 0
    if ncomp > 1:
        issues.append(Violation(rule="contiguity", kind="separate_pieces", community_code=job.code,
                                detail=f"the community's units form {ncomp} separate pieces (exclave, or cut off "
                                       f"by unsplittable compounds); each piece is partitioned on its own"))
    for c in range(ncomp):
        idx = np.flatnonzero(comp == c)
        sub = g.subgraph(idx)
        anc = anchor[idx]
        if (anc >= 0).any():
            _, anc = np.unique(np.where(anc >= 0, anc, -1), return_inverse=True)
            anc = anc - (1 if (anchor[idx] < 0).any() else 0)
        sl, k, listed = _cover(sub, job, rng=rng, budget_units=rescue_units or g.n, anchor=anc, changed=changed[idx])
        total = float(sub.weights.sum())
        load = np.bincount(sl, weights=sub.weights.astype(float), minlength=k)
        proved, spent = listed, 0.0
        if (violations(load, lo=lo, hi=hi) and tileable(total, lo=lo, hi=hi) and sub.n * k <= WHOLE_EXACT_CELLS
                and not listed):
            spent = min(job.time_limit, WHOLE_EXACT_SECONDS)
            ex = exact_partition(sub, lo=lo, hi=hi, rules=job.rules, hint=sl, hint_k=k, seconds=spent, max_ks=sub.n)
            proved = ex.proved
            if ex.labels is not None:
                sl, k = ex.labels, ex.k
                load = np.bincount(sl, weights=sub.weights.astype(float), minlength=k)
        if violations(load, lo=lo, hi=hi):
            stranded = _stranded(sub, [units[i] for i in idx], lo=lo, hi=hi)
            reason = _why(total, lo=lo, hi=hi, pieces=ncomp, proved=proved, n=sub.n, seconds=spent,
                          stranded=stranded)
            why.update({nxt + r: reason for r in range(k)})
        lab[idx] = sl + nxt
        nxt += k
    return lab, issues, why


def _out_of_bounds(g: UnitGraph, lab: np.ndarray, *, lo: int, hi: int) -> int:
    load = np.bincount(lab, weights=g.weights.astype(float))
    load = load[np.bincount(lab) > 0]
    return violations(load, lo=lo, hi=hi)


def _solve_units(job: CommunityJob, pieces: Pieces, current: Current, *, locked: list[str], rng: np.random.Generator,
                 flexible: bool, rescue_units: int | None = None) -> Solve:
    """Units, their labels and the reasons for one way of splitting compounds (``flexible``:
    every building of a split compound a unit)."""
    units, member, g = build_units(pieces, rules=job.rules, rng=rng, previous_buildings=current.by_building,
                                   flexible=flexible, seconds=min(job.time_limit, WHOLE_EXACT_SECONDS))
    if not units:
        return Solve(units, member, None, np.zeros(0, np.int64))
    anchor, changed = _anchors(units, current, locked=locked)
    lab, more, why = _label_components(g, job, units, anchor=anchor, changed=changed, rng=rng,
                                       rescue_units=rescue_units)
    return Solve(units, member, g, lab, more, why)


def _split_nearby(s: Solve, *, lo: int, hi: int) -> bool:
    """Whether a grid out of bounds, or a grid within two grids of it, holds a building group of a
    split compound (whose buildings could then be shared out to balance it)."""
    units, g, lab = s.units, s.graph, s.labels
    load = np.bincount(lab, weights=g.weights.astype(float))
    near = set(np.flatnonzero((load < lo) | (load > hi)).tolist())
    for _ in range(2):
        near |= {int(lab[v]) for u in np.flatnonzero(np.isin(lab, list(near))) for v in g.nbrs[u]}
    return any(units[i].building_ids is not None for i in np.flatnonzero(np.isin(lab, list(near))))


def _badness(s: Solve, *, lo: int, hi: int) -> tuple[int, int]:
    """(grids out of bounds, those of them not forced by counting or exclaves) of one solve."""
    why = s.reasons
    unforced = sum(1 for r in set(s.labels.tolist()) if r in why and why[r].kind in NO_SPLIT)
    return _out_of_bounds(s.graph, s.labels, lo=lo, hi=hi), unforced


def _freer_reasons(grouped: Solve, flexible: Solve) -> dict[int, Reason]:
    """Reasons of the grouped solve, replaced by those of the per-building solve (the freer
    one, whose proof is the one that holds) for the same compounds."""
    units_g, lab_g, why_g = grouped.units, grouped.labels, grouped.reasons
    units_f, lab_f, why_f = flexible.units, flexible.labels, flexible.reasons
    by_cid = {u.compound_id: why_f[int(lab_f[i])] for i, u in enumerate(units_f)
              if int(lab_f[i]) in why_f and why_f[int(lab_f[i])].kind in NO_SPLIT}
    out = dict(why_g)
    for i, u in enumerate(units_g):
        r = int(lab_g[i])
        if r in out and u.compound_id in by_cid and out[r].kind in NO_SPLIT:
            out[r] = by_cid[u.compound_id]
    return out


def run_community(job: CommunityJob) -> CommunityOutcome:
    """Partition one community into grids that tile it.

    Compounds over the maximum are first split into grid-sized building groups;
    when grids are then left out of bounds, the solve is repeated with their
    buildings as separate units, so the grids can share them out freely."""
    rng = np.random.default_rng(job.seed)
    current = _current(job)
    locked = _locked(job, current)
    locked_cids = {cid for c in locked.codes for cid, _ in current.members.get(c, ())}
    comps = job.compounds[~job.compounds["id"].astype(str).isin(locked_cids)]
    lo, hi = job.rules.min_households, job.rules.max_households
    if comps.empty or locked.container.is_empty:
        return assemble(job, Solve.empty(), territories=np.zeros(0, dtype=object), current=current, locked=locked)
    pieces = build_pieces(comps, job.buildings, rules=job.rules, community_code=job.code, container=locked.container,
                          barrier=job.barrier)
    best = _solve_units(job, pieces, current, locked=locked.codes, rng=rng, flexible=False)
    if (best.graph is not None and pieces.buildings_of and _badness(best, lo=lo, hi=hi)[1]
            and _split_nearby(best, lo=lo, hi=hi)):
        # out of bounds for no counting reason: let the grids share the split compounds' buildings out
        # the retry's neighbourhood repair gets the first solve's budget (by its unit count), not more
        other = _solve_units(job, pieces, current, locked=locked.codes, rng=rng, flexible=True,
                             rescue_units=len(best.units))
        mine, theirs = _badness(best, lo=lo, hi=hi), _badness(other, lo=lo, hi=hi)
        if theirs < mine:
            best = other
        elif theirs == mine and other.reasons:
            best = replace(best, reasons=_freer_reasons(best, other))
    terr = unit_territories(pieces, best.member, len(best.units))
    return assemble(job, best, territories=terr, current=current, locked=locked, notes=pieces.notes)


def _locked(job: CommunityJob, current: Current) -> Locked:
    """The locked grids that exist in the current plan, and the community outside them."""
    known = set(job.current["code"]) if job.current is not None else set()
    codes = [c for c in job.locked if c in current.members or c in known]
    rows = job.current[job.current["code"].isin(codes)] if codes else None
    container = job.geometry
    if rows is not None and len(rows):
        container = polygonal(shapely.difference(container, shapely.union_all(rows.geometry.values)))
    return Locked(codes, rows, container)


def _anchors(units: list[Unit], current: Current, *, locked: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Current grid (as an index) of each unit, -1 if none; and which units changed households."""
    key_code, old_hh = current.key_code, current.old_households
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
