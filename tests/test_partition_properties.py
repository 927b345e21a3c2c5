"""Property tests of the partitioning engine on random lattices (hypothesis; no database)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridmap.partition import Rules, partition
from partition_fixtures import METRIC, lattice

RULES = Rules(min_households=300, max_households=500)


@st.composite
def tessellations(draw: st.DrawFn) -> list[list[int]]:
    """A rows × cols lattice of compounds with households 0 (empty block) .. 700."""
    rows = draw(st.integers(1, 5))
    cols = draw(st.integers(1, 5))
    cell = st.one_of(st.just(0), st.integers(20, 450), st.integers(450, 700))
    return draw(st.lists(st.lists(cell, min_size=cols, max_size=cols), min_size=rows, max_size=rows))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tessellations(), st.integers(0, 2**16))
def test_invariants_hold_or_are_explained(picture: list[list[int]], seed: int) -> None:
    """Tiling, contiguity, bounds (or a named violation), whole compounds."""
    city = lattice(picture)
    r = partition(city["communities"], city["compounds"], rules=RULES, rng=np.random.default_rng(seed))
    explained = {(v.rule, v.grid_code) for v in r.violations}
    grids = r.grids.to_crs(METRIC)
    for code, hh, geom in zip(grids["code"], grids["households"], grids.geometry):
        assert len(code) == 15 and code.isdigit()
        if hh < RULES.min_households:
            assert ("min_households", code) in explained
        if hh > RULES.max_households:
            assert ("max_households", code) in explained
        if len(geom.geoms) != 1:
            assert ("contiguity", code) in explained
    # union the grids as stored (EPSG:4490, where they are valid; reprojection can turn a
    # near-pinch into a 1e-9 m self-intersection), then measure in metres
    community = city["communities"].to_crs(METRIC).geometry.iloc[0]
    union = gpd.GeoSeries([shapely.union_all(r.grids.geometry.values)], crs=r.grids.crs).to_crs(METRIC).iloc[0]
    assert r.grids.geometry.is_valid.all()
    assert shapely.symmetric_difference(union, community).area < 1.0
    assert grids.area.sum() - union.area < 1.0
    members = r.members
    assert set(members["compound_id"]) == set(city["compounds"]["id"])
    assert not members.loc[members["building_id"].isna(), "compound_id"].duplicated().any()
    assert (members.groupby("grid_code")["households"].sum().reindex(grids["code"]).fillna(0).to_numpy()
            == grids["households"].to_numpy()).all()
    assert set(r.community_report["status"]) == {"relaxed" if r.violations else "ok"}


def _feasible(picture: list[list[int]], lo: int, hi: int) -> bool:
    """Brute force: can the full lattice be cut into 4-connected groups of lo..hi households?"""
    rows, cols = len(picture), len(picture[0])
    cells = [(r, c) for r in range(rows) for c in range(cols)]
    w = {rc: picture[rc[0]][rc[1]] for rc in cells}

    def nbrs(rc: tuple[int, int]) -> list[tuple[int, int]]:
        r, c = rc
        return [(r + dr, c + dc) for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))
                if 0 <= r + dr < rows and 0 <= c + dc < cols]

    def groups(start: tuple[int, int], free: frozenset) -> set[frozenset]:
        """Connected groups of free cells containing start, at most hi households."""
        out, todo = set(), [frozenset([start])]
        while todo:
            g = todo.pop()
            if g in out:
                continue
            out.add(g)
            load = sum(w[x] for x in g)
            for x in g:
                for y in nbrs(x):
                    if y in free and y not in g and load + w[y] <= hi:
                        todo.append(g | {y})
        return out

    def solve(free: frozenset) -> bool:
        if not free:
            return True
        start = min(free)
        return any(solve(free - g) for g in groups(start, free) if sum(w[x] for x in g) >= lo)

    return solve(frozenset(cells))


@st.composite
def full_lattices(draw: st.DrawFn) -> list[list[int]]:
    """Small lattices with a compound in every cell (4-neighbour adjacency), 40..450 households."""
    rows = draw(st.integers(1, 3))
    cols = draw(st.integers(2, 4))
    cell = st.integers(40, 450)
    return draw(st.lists(st.lists(cell, min_size=cols, max_size=cols), min_size=rows, max_size=rows))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(full_lattices())
def test_within_bounds_whenever_possible_and_proofs_are_true(picture: list[list[int]]) -> None:
    """Where a division within bounds exists (brute force), every grid is within bounds; where
    the report claims an exhaustive proof that none exists, brute force agrees."""
    city = lattice(picture)
    r = partition(city["communities"], city["compounds"], rules=RULES, rng=np.random.default_rng(0))
    feasible = _feasible(picture, RULES.min_households, RULES.max_households)
    within = r.grids["households"].between(RULES.min_households, RULES.max_households).all()
    if feasible:
        assert within, (r.grids["households"].tolist(), [v.detail for v in r.violations])
    claims = [v.detail for v in r.violations if "every contiguous group" in v.detail]
    if claims:
        assert not feasible, claims
