"""The fast heuristic: region growing plus contiguity-keeping local search.

Works on a :class:`UnitGraph` (units = compounds or building groups, edges =
shared boundary of their territories) and returns one region label per unit.
Every region it returns is connected in the graph; the household bounds are
pursued through a convex penalty and reported, not assumed.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from gridmap.partition.rules import Rules

VIOLATION_WEIGHT = 1000.0


@dataclass
class UnitGraph:
    """Units of one connected piece of a community, in metric coordinates."""

    weights: np.ndarray  # households per unit, int64 (n,)
    xy: np.ndarray  # representative points (n, 2), metres
    nbrs: list[dict[int, tuple[float, bool]]]  # j -> (shared boundary length m, crosses a major barrier)
    area: float  # m², of the territories together
    areas: np.ndarray | None = None  # m² per unit territory (n,)
    perims: np.ndarray | None = None  # m per unit territory boundary (n,)

    @property
    def n(self) -> int:
        return len(self.weights)

    def subgraph(self, idx: np.ndarray) -> UnitGraph:
        """The graph induced by units ``idx`` (renumbered 0..len-1)."""
        pos = {int(i): k for k, i in enumerate(idx)}
        nbrs = [{pos[j]: e for j, e in self.nbrs[i].items() if j in pos} for i in idx]
        share = float(self.weights[idx].sum()) / max(float(self.weights.sum()), 1.0)
        return UnitGraph(self.weights[idx], self.xy[idx], nbrs, self.area * max(share, len(idx) / self.n),
                         None if self.areas is None else self.areas[idx],
                         None if self.perims is None else self.perims[idx])


@dataclass(frozen=True)
class Costs:
    """Objective parameters of one solve, already normalised."""

    lo: float
    hi: float
    mean: float  # mean load per region for the chosen k
    side: float  # typical side of a region, m
    crossing: float
    compact: float
    balance: float
    stability: float

    def region(self, w: float) -> float:
        """Cost of a region holding ``w`` households."""
        v = (max(0.0, self.lo - w) + max(0.0, w - self.hi)) / self.mean
        b = (w - self.mean) / self.mean
        return VIOLATION_WEIGHT * (v + v * v) + self.balance * b * b

    def edge(self, length: float, cross: bool, cut: bool) -> float:
        """Cost of an edge when cut (compactness) or internal (barrier inside a grid)."""
        if cut:
            return self.compact * length / self.side
        return self.crossing if cross else 0.0


def component_labels(nbrs: list[dict[int, tuple[float, bool]]], *, members: np.ndarray | None = None) -> np.ndarray:
    """Connected-component label per unit (restricted to ``members`` if given; others -1)."""
    n = len(nbrs)
    allowed = np.ones(n, bool) if members is None else np.zeros(n, bool)
    if members is not None:
        allowed[members] = True
    lab = np.full(n, -1, np.int64)
    c = 0
    for s in np.flatnonzero(allowed):
        if lab[s] >= 0:
            continue
        lab[s] = c
        q = deque([s])
        while q:
            u = q.popleft()
            for v in nbrs[u]:
                if allowed[v] and lab[v] < 0:
                    lab[v] = c
                    q.append(v)
        c += 1
    return lab


def k_choices(total: float, *, lo: float, hi: float, target: float) -> tuple[list[int], bool]:
    """Candidate numbers of regions, best first, and whether the bounds can be met at all."""
    kmin = max(1, math.ceil(total / hi))
    kmax = math.floor(total / lo) if lo > 0 else kmin + 2
    if kmin > kmax:
        return [kmin], False  # the maximum is kept, the minimum gives way
    ks = list(range(kmin, min(kmax, kmin + 6) + 1))
    ks.sort(key=lambda k: (abs(total / k - target), k))
    return ks[:3], True


def make_costs(g: UnitGraph, k: int, *, lo: float, hi: float, rules: Rules) -> Costs:
    """Normalise the rules' weights for a solve of ``g`` into ``k`` regions."""
    mean = max(float(g.weights.sum()) / k, 1.0)
    side = max(math.sqrt(max(g.area, 1.0) / k), 1.0)
    return Costs(lo=lo, hi=hi, mean=mean, side=side, crossing=rules.crossing_weight,
                 compact=rules.compactness_weight, balance=rules.balance_weight, stability=rules.stability_weight)


def _seeds(g: UnitGraph, k: int, *, rng: np.random.Generator) -> np.ndarray:
    """k distinct seed units from weighted k-means (k-means++ start, a few Lloyd steps)."""
    w = g.weights.astype(float) + 1.0
    xy = g.xy
    centres = [xy[rng.choice(g.n, p=w / w.sum())]]
    d2 = ((xy - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        p = w * d2
        centres.append(xy[rng.choice(g.n, p=p / p.sum())] if p.sum() > 0 else xy[rng.integers(g.n)])
        d2 = np.minimum(d2, ((xy - centres[-1]) ** 2).sum(1))
    c = np.array(centres)
    for _ in range(6):
        lab = ((xy[:, None, :] - c[None]) ** 2).sum(2).argmin(1)
        for r in range(k):
            m = lab == r
            if m.any():
                c[r] = (xy[m] * w[m, None]).sum(0) / w[m].sum()
    seeds: list[int] = []
    for r in range(k):
        order = ((xy - c[r]) ** 2).sum(1).argsort()
        seeds.append(int(next(i for i in order if i not in seeds)))
    return np.array(seeds)


def grow(g: UnitGraph, k: int, *, rng: np.random.Generator, costs: Costs,
         labels: np.ndarray | None = None) -> np.ndarray:
    """Grow regions from seeds (or from partial ``labels``), lightest region first."""
    if labels is None:
        labels = np.full(g.n, -1, np.int64)
        labels[_seeds(g, k, rng=rng)] = np.arange(k)
    labels = labels.copy()
    w = g.weights.astype(float)
    load = np.bincount(labels[labels >= 0], weights=w[labels >= 0], minlength=k)
    sxy = np.zeros((k, 2))
    cnt = np.bincount(labels[labels >= 0], minlength=k).astype(float)
    np.add.at(sxy, labels[labels >= 0], g.xy[labels >= 0])
    frontier: list[set[int]] = [set() for _ in range(k)]
    for u in np.flatnonzero(labels >= 0):
        frontier[labels[u]].update(v for v in g.nbrs[u] if labels[v] < 0)
    left = int((labels < 0).sum())
    while left:
        live = [r for r in range(k) if frontier[r]]
        if not live:
            break  # remaining units unreachable (graph not connected): caller handles
        r = min(live, key=lambda q: load[q])
        centre = sxy[r] / max(cnt[r], 1.0)
        best, best_s = -1, math.inf
        for u in frontier[r]:
            d = math.dist(g.xy[u], centre) / costs.side
            shared = sum(e[0] for v, e in g.nbrs[u].items() if labels[v] == r)
            total = sum(e[0] for e in g.nbrs[u].values()) or 1.0
            cross = sum(1 for v, e in g.nbrs[u].items() if labels[v] == r and e[1])
            s = d * d - shared / total + costs.crossing * cross
            if s < best_s:
                best, best_s = u, s
        labels[best] = r
        load[r] += w[best]
        sxy[r] += g.xy[best]
        cnt[r] += 1
        left -= 1
        for q in range(k):
            frontier[q].discard(best)
        frontier[r].update(v for v in g.nbrs[best] if labels[v] < 0)
    return labels


def _stays_connected(g: UnitGraph, labels: np.ndarray, u: int, size_a: int) -> bool:
    """Whether u's region stays connected when u leaves it."""
    a = labels[u]
    inside = [v for v in g.nbrs[u] if labels[v] == a]
    if len(inside) <= 1:
        return len(inside) == 1 or size_a == 1
    seen = {u, inside[0]}
    q = deque([inside[0]])
    while q:
        x = q.popleft()
        for v in g.nbrs[x]:
            if v not in seen and labels[v] == a:
                seen.add(v)
                q.append(v)
    return len(seen) == size_a


def improve(g: UnitGraph, labels: np.ndarray, k: int, *, costs: Costs, rng: np.random.Generator,
            anchor: np.ndarray | None = None, fixed: np.ndarray | None = None, max_passes: int = 40) -> np.ndarray:
    """Local search: move boundary units to neighbouring regions while it pays and
    the region left behind stays connected and non-empty."""
    labels = labels.copy()
    load = np.bincount(labels, weights=g.weights.astype(float), minlength=k)
    size = np.bincount(labels, minlength=k)
    w = g.weights
    region, compact, crossing = costs.region, costs.compact / costs.side, costs.crossing
    for _ in range(max_passes):
        moved = 0
        for u in rng.permutation(g.n):
            a = labels[u]
            if size[a] == 1 or (fixed is not None and fixed[u]):
                continue
            # per neighbouring region: cost of its edges with u when cut minus when internal
            # (summed once for every candidate region)
            diff: dict[int, float] = {}
            for v, (length, cross) in g.nbrs[u].items():
                lv = labels[v]
                diff[lv] = diff.get(lv, 0.0) + compact * length - (crossing if cross else 0.0)
            if len(diff) == 1 and a in diff or not diff:
                continue
            wu = float(w[u])
            d_a = region(load[a] - wu) - region(load[a]) + diff.get(a, 0.0)
            step = 0.0
            if anchor is not None and anchor[u] >= 0:
                step = costs.stability * wu / costs.mean
                d_a += step if anchor[u] == a else 0.0
            best_b, best_d = -1, -1e-9
            for b, cut_b in diff.items():
                if b == a:
                    continue
                d = d_a + region(load[b] + wu) - region(load[b]) - cut_b
                if step and anchor[u] == b:
                    d -= step
                if d < best_d:
                    best_b, best_d = b, d
            if best_b < 0 or not _stays_connected(g, labels, u, int(size[a])):
                continue
            labels[u] = best_b
            load[a] -= w[u]
            load[best_b] += w[u]
            size[a] -= 1
            size[best_b] += 1
            moved += 1
        if not moved:
            break
    return labels


def objective(g: UnitGraph, labels: np.ndarray, k: int, *, costs: Costs, anchor: np.ndarray | None = None) -> float:
    """Full objective of a labelling (for comparing restarts)."""
    load = np.bincount(labels, weights=g.weights.astype(float), minlength=k)
    total = sum(costs.region(x) for x in load)
    for u in range(g.n):
        for v, (length, cross) in g.nbrs[u].items():
            if u < v:
                total += costs.edge(length, cross, labels[u] != labels[v])
    if anchor is not None:
        moved = (anchor >= 0) & (anchor != labels)
        total += costs.stability * float(g.weights[moved].sum()) / costs.mean
    return total


def violations(load: np.ndarray, *, lo: float, hi: float) -> int:
    """Number of regions out of bounds."""
    return int(((load < lo) | (load > hi)).sum())


def touching(g: UnitGraph, lab: np.ndarray, regions: set[int]) -> set[int]:
    """Regions adjacent to any of ``regions``."""
    out = set()
    for u in np.flatnonzero(np.isin(lab, list(regions))):
        out.update(int(lab[v]) for v in g.nbrs[u])
    return out


def split_merge(g: UnitGraph, lab: np.ndarray, k: int, *, lo: float, hi: float, rules: Rules,
                rng: np.random.Generator) -> tuple[np.ndarray, int, set[int]]:
    """Split regions over the maximum; merge regions under the minimum into a neighbour that has room."""
    lab = lab.copy()
    changed: set[int] = set()
    load = np.bincount(lab, weights=g.weights.astype(float), minlength=k)
    for r in np.flatnonzero(load > hi):
        idx = np.flatnonzero(lab == r)
        if len(idx) < 2:
            continue
        sub, kk, _ = solve(g.subgraph(idx), lo=lo, hi=hi, rules=rules, rng=rng, repair=False)
        if kk > 1:
            lab[idx[sub > 0]] = sub[sub > 0] - 1 + k
            changed.update([int(r), *range(k, k + kk - 1)])
            k += kk - 1
    load = np.bincount(lab, weights=g.weights.astype(float), minlength=k)
    for r in np.flatnonzero(load < lo):
        if load[r] == 0:
            continue
        nb = touching(g, lab, {int(r)}) - {int(r)}
        fits = [q for q in nb if load[q] + load[r] <= hi]
        if fits:
            q = min(fits, key=lambda x: load[x])
            lab[lab == r] = q
            load[q] += load[r]
            load[r] = 0
            changed.add(q)
    used = np.unique(lab)
    remap = np.full(k, -1, np.int64)
    remap[used] = np.arange(len(used))
    return remap[lab], len(used), {int(remap[c]) for c in changed if remap[c] >= 0}


def dissolve(g: UnitGraph, lab: np.ndarray, k: int, r: int, *, hi: float) -> bool:
    """Hand every unit of region r to neighbouring regions with room, keeping
    them connected; in place, all or nothing."""
    w = g.weights.astype(float)
    load = np.bincount(lab, weights=w, minlength=k)
    todo = set(np.flatnonzero(lab == r).tolist())
    trial = lab.copy()
    while todo:
        placed = False
        for u in sorted(todo):
            room = [(load[q], q) for q in {int(trial[v]) for v in g.nbrs[u]} - {r} if load[q] + w[u] <= hi]
            if room:
                q = min(room)[1]
                trial[u] = q
                load[q] += w[u]
                todo.discard(u)
                placed = True
        if not placed:
            return False
    lab[:] = trial
    return True


def sweep(g: UnitGraph, *, lo: float, hi: float, target: float, costs: Costs, rng: np.random.Generator) -> np.ndarray:
    """Max-p style construction: grow one region at a time from the periphery
    until it reaches the target without passing the maximum; fragments that
    cannot reach the minimum join a neighbouring region afterwards."""
    lab = np.full(g.n, -1, np.int64)
    w = g.weights.astype(float)
    centre = g.xy.mean(0)
    far = ((g.xy - centre) ** 2).sum(1)
    free_deg = np.array([len(nb) for nb in g.nbrs])
    noise = rng.random(g.n) * 0.5
    k = 0
    while True:
        todo = np.flatnonzero(lab == -1)
        if not len(todo):
            break
        seed = todo[np.lexsort((-far[todo], free_deg[todo] + noise[todo]))[0]]
        members, load = [seed], w[seed]
        lab[seed] = k
        sxy = g.xy[seed].copy()
        front = {v for v in g.nbrs[seed] if lab[v] == -1}
        while load < target and front:
            c = sxy / len(members)
            best, best_s = -1, math.inf
            for u in front:
                if load + w[u] > hi:
                    continue
                d = math.dist(g.xy[u], c) / costs.side
                shared = sum(e[0] for v, e in g.nbrs[u].items() if lab[v] == k)
                total = sum(e[0] for e in g.nbrs[u].values()) or 1.0
                cross = sum(1 for v, e in g.nbrs[u].items() if lab[v] == k and e[1])
                s = d * d - shared / total + costs.crossing * cross + 0.1 * free_deg[u]
                if load >= lo and abs(load + w[u] - target) > abs(load - target):
                    continue
                if s < best_s:
                    best, best_s = u, s
            if best < 0:
                break
            lab[best] = k
            members.append(best)
            load += w[best]
            sxy += g.xy[best]
            front.discard(best)
            front.update(v for v in g.nbrs[best] if lab[v] == -1)
        for u in members:
            for v in g.nbrs[u]:
                free_deg[v] -= 1
        if load < lo:
            lab[members] = -2  # fragment: placed after the sweep
        else:
            k += 1
    if k == 0:
        return np.zeros(g.n, np.int64)
    lab[lab == -2] = -1
    return grow(g, k, rng=rng, costs=costs, labels=lab)


def solve(g: UnitGraph, *, lo: float, hi: float, rules: Rules, rng: np.random.Generator,
          restarts: int = 3, repair: bool = True) -> tuple[np.ndarray, int, bool]:
    """Partition a connected unit graph: (labels, k, bounds feasible by counting).

    Candidates come from the periphery sweep and from k-means region growing,
    each polished by local search; the labelling with fewest out-of-bounds
    regions, then lowest cost, wins.
    """
    total = float(g.weights.sum())
    ks, feasible = k_choices(total, lo=lo, hi=hi, target=rules.target)
    best: tuple | None = None

    def consider(lab: np.ndarray, k: int) -> bool:
        nonlocal best
        costs = make_costs(g, k, lo=lo, hi=hi, rules=rules)
        lab = improve(g, lab, k, costs=costs, rng=rng)
        load = np.bincount(lab, weights=g.weights.astype(float), minlength=k)
        key = (violations(load, lo=lo, hi=hi), objective(g, lab, k, costs=costs) / k)
        if best is None or key < best[0]:
            best = (key, lab, k)
        return key[0] == 0

    target = min(max(rules.target, lo), hi)
    for attempt in range(restarts):
        costs = make_costs(g, ks[0], lo=lo, hi=hi, rules=rules)
        lab = sweep(g, lo=lo, hi=hi, target=target, costs=costs, rng=rng)
        if consider(lab, int(lab.max()) + 1) and attempt >= 1:
            break
    if best[0][0] > 0:
        for k in ks[:2]:
            k = min(k, g.n)
            if consider(grow(g, k, rng=rng, costs=make_costs(g, k, lo=lo, hi=hi, rules=rules)), k):
                break
    lab, k = best[1], best[2]
    if best[0][0] > 0 and feasible and repair:
        lab, k = _fix_bounds(g, lab, k, lo=lo, hi=hi, rules=rules, rng=rng)
    return lab, k, feasible


def _fix_bounds(g: UnitGraph, lab: np.ndarray, k: int, *, lo: float, hi: float, rules: Rules,
                rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Structural repairs the move search cannot make: split, merge, dissolve regions."""
    w = g.weights.astype(float)
    before = violations(np.bincount(lab, weights=w, minlength=k), lo=lo, hi=hi)
    new, kk, touched = split_merge(g, lab, k, lo=lo, hi=hi, rules=rules, rng=rng)
    load = np.bincount(new, weights=w, minlength=kk)
    for r in np.flatnonzero((load < lo) & (load > 0)):
        if dissolve(g, new, kk, int(r), hi=hi):
            touched |= touching(g, new, {int(r)})
    used = np.unique(new)
    remap = np.full(kk, -1, np.int64)
    remap[used] = np.arange(len(used))
    new, kk = remap[new], len(used)
    costs = make_costs(g, kk, lo=lo, hi=hi, rules=rules)
    new = improve(g, new, kk, costs=costs, rng=rng)
    after = violations(np.bincount(new, weights=w, minlength=kk), lo=lo, hi=hi)
    return (new, kk) if after < before else (lab, k)
