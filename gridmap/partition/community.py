"""Partition one community (社区): pieces → territories → graph → units → cover → grids.

Everything here is in the metric CRS and is a pure function of a
:class:`CommunityJob`, so communities can run in parallel processes.
"""

from __future__ import annotations

import math

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
from gridmap.partition.job import CommunityJob, CommunityOutcome
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


def _stranded(g: UnitGraph, units: list[Unit], lo: int, hi: int) -> str:
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


def _why(total: float, lo: int, hi: int, pieces: int, proved: bool, n: int, seconds: float,
         stranded: str = "") -> Reason:
    """Why a component's grids could not all be held within [lo, hi]."""
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


def _cover(g: UnitGraph, job: CommunityJob, rng: np.random.Generator, budget_units: int,
           anchor: np.ndarray | None = None, changed: np.ndarray | None = None) -> tuple[np.ndarray, int, bool]:
    """Labels of one component: the optimal cover by candidate grids when they can all be
    listed (then the third value says whether grids out of bounds are proved unavoidable);
    else the heuristic (or, with ``anchor``, the repaired current plan), its
    neighbourhoods repaired by CP-SAT, offered to the cover among the listed candidates.
    With ``anchor`` (current grid per unit, -1 if new) change costs: stability mode."""
    lo, hi = job.rules.min_households, job.rules.max_households
    if anchor is not None and _unchanged(g, anchor, lo, hi):
        _, lab = np.unique(anchor, return_inverse=True)
        return lab, int(lab.max()) + 1, False  # every current grid still fits: nothing moves
    cols = enumerate_columns(g, lo, hi, job.rules)
    stable = anchor is not None and bool((anchor >= 0).any())
    if stable:
        cols = add_regions(cols, g, anchor, lo, hi, job.rules, skip=anchor < 0)
    if not cols.complete:
        if stable:
            sl, k = repair(g, anchor, changed, lo, hi, job.rules, rng)
        else:
            sl, k, _ = solve(g, lo, hi, job.rules, rng)
            budget = min(job.time_limit, EXACT_SECONDS_PER_UNIT * budget_units)
            sl, k = rescue(g, sl, k, lo, hi, job.rules, budget)
        cols = add_regions(cols, g, sl, lo, hi, job.rules)
    if stable:
        cols = with_stability(cols, g, anchor, job.rules)
    lab, k, optimal = solve_cover(g, cols, max(job.time_limit, 1.0), hint=anchor if stable else None)
    return lab, k, cols.complete and optimal


def _unchanged(g: UnitGraph, anchor: np.ndarray, lo: int, hi: int) -> bool:
    """Whether the current plan stands as it is: every unit in a current grid, and every current
    grid connected and within bounds (with today's households: a change that keeps every grid
    within bounds moves nothing, which is the fewest households moved)."""
    if (anchor < 0).any():
        return False
    load = np.bincount(anchor, weights=g.weights.astype(float))
    load = load[np.bincount(anchor) > 0]
    if violations(load, lo, hi):
        return False
    for r in np.unique(anchor):
        members = np.flatnonzero(anchor == r)
        if len(members) > 1 and component_labels(g.nbrs, members=members)[members].max() > 0:
            return False
    return True


def _label_components(g: UnitGraph, job: CommunityJob, anchor: np.ndarray, changed: np.ndarray,
                      rng: np.random.Generator, units: list[Unit] | None = None, rescue_units: int | None = None,
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
        sl, k, listed = _cover(sub, job, rng, rescue_units or g.n, anc, changed[idx])
        total = float(sub.weights.sum())
        load = np.bincount(sl, weights=sub.weights.astype(float), minlength=k)
        proved, spent = listed, 0.0
        if violations(load, lo, hi) and tileable(total, lo, hi) and sub.n * k <= WHOLE_EXACT_CELLS and not listed:
            spent = min(job.time_limit, WHOLE_EXACT_SECONDS)
            found, proved = exact_partition(sub, lo, hi, job.rules, sl, k, spent, max_ks=sub.n)
            if found is not None:
                sl, k = found
                load = np.bincount(sl, weights=sub.weights.astype(float), minlength=k)
        if violations(load, lo, hi):
            stranded = _stranded(sub, [units[i] for i in idx], lo, hi) if units is not None else ""
            reason = _why(total, lo, hi, ncomp, proved, sub.n, spent, stranded)
            why.update({nxt + r: reason for r in range(k)})
        lab[idx] = sl + nxt
        nxt += k
    return lab, issues, why


def _out_of_bounds(g: UnitGraph, lab: np.ndarray, lo: int, hi: int) -> int:
    load = np.bincount(lab, weights=g.weights.astype(float))
    load = load[np.bincount(lab) > 0]
    return violations(load, lo, hi)


def _solve_units(job: CommunityJob, pieces: Pieces, key_code: dict, by_building: dict, old_hh: dict,
                 locked: list[str], rng: np.random.Generator, flexible: bool, rescue_units: int | None = None) -> tuple:
    """Units, piece -> unit map, graph, labels, violations and reasons for one way of
    splitting compounds (``flexible``: every building of a split compound a unit)."""
    units, member, g = build_units(pieces, job.rules, rng, by_building, flexible,
                                   min(job.time_limit, WHOLE_EXACT_SECONDS))
    if not units:
        return units, member, None, np.zeros(0, np.int64), [], {}
    anchor, changed = _anchors(units, key_code, old_hh, locked)
    lab, more, why = _label_components(g, job, anchor, changed, rng, units, rescue_units)
    return units, member, g, lab, more, why


def _split_nearby(units: list[Unit], g: UnitGraph, lab: np.ndarray, lo: int, hi: int) -> bool:
    """Whether a grid out of bounds, or a grid within two grids of it, holds a building group of a
    split compound (whose buildings could then be shared out to balance it)."""
    load = np.bincount(lab, weights=g.weights.astype(float))
    near = set(np.flatnonzero((load < lo) | (load > hi)).tolist())
    for _ in range(2):
        near |= {int(lab[v]) for u in np.flatnonzero(np.isin(lab, list(near))) for v in g.nbrs[u]}
    return any(units[i].building_ids is not None for i in np.flatnonzero(np.isin(lab, list(near))))


def _badness(res: tuple, lo: int, hi: int) -> tuple[int, int]:
    """(grids out of bounds, those of them not forced by counting or exclaves) of one solve."""
    g, lab, why = res[2], res[3], res[5]
    return _out_of_bounds(g, lab, lo, hi), sum(1 for r in set(lab.tolist()) if r in why and why[r].kind in NO_SPLIT)


def _freer_reasons(grouped: tuple, flexible: tuple) -> dict[int, Reason]:
    """Reasons of the grouped solve, replaced by those of the per-building solve (the freer
    one, whose proof is the one that holds) for the same compounds."""
    units_g, lab_g, why_g = grouped[0], grouped[3], grouped[5]
    units_f, lab_f, why_f = flexible[0], flexible[3], flexible[5]
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
    key_code, cur_members, by_building, old_hh = _anchor_keys(job)
    locked = [c for c in job.locked if c in cur_members or (job.current is not None and c in set(job.current["code"]))]
    locked_keys = {k for c in locked for k in cur_members.get(c, ())}
    locked_cids = {cid for cid, _ in locked_keys}
    container = job.geometry
    locked_rows = job.current[job.current["code"].isin(locked)] if locked else None
    if locked_rows is not None and len(locked_rows):
        container = polygonal(shapely.difference(container, shapely.union_all(locked_rows.geometry.values)))
    comps = job.compounds[~job.compounds["id"].astype(str).isin(locked_cids)]
    lo, hi = job.rules.min_households, job.rules.max_households
    if comps.empty or container.is_empty:
        out = CommunityOutcome()
        assemble(out, job, [], np.zeros(0, dtype=object), None, np.zeros(0, np.int64), container, locked_rows,
                 cur_members, locked, {})
        return out
    pieces = build_pieces(comps, job.buildings, job.rules, job.code, container, job.barrier)
    best = _solve_units(job, pieces, key_code, by_building, old_hh, locked, rng, False)
    units, g, lab = best[0], best[2], best[3]
    if g is not None and pieces.buildings_of and _badness(best, lo, hi)[1] and _split_nearby(units, g, lab, lo, hi):
        # out of bounds for no counting reason: let the grids share the split compounds' buildings out
        # the retry's neighbourhood repair gets the first solve's budget (by its unit count), not more
        other = _solve_units(job, pieces, key_code, by_building, old_hh, locked, rng, True, len(units))
        mine, theirs = _badness(best, lo, hi), _badness(other, lo, hi)
        if theirs < mine:
            best = other
        elif theirs == mine and other[5]:
            best = best[:5] + (_freer_reasons(best, other),)
    units, member, g, lab, issues, why = best
    terr = unit_territories(pieces, member, len(units))
    out = CommunityOutcome(violations=list(pieces.notes) + list(issues))
    assemble(out, job, units, terr, g, lab, container, locked_rows, cur_members, locked, why)
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
