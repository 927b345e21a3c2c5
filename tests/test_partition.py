"""The partitioning engine on hand-drawn lattices (no database)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import box

from gridmap.errors import InvalidInput
from gridmap.crs import metric_crs, metric_crs_of
from gridmap.partition import Rules, partition
from partition_fixtures import METRIC, lattice


def _tiles(result, communities) -> None:
    """Grids tile each community: no gaps, no overlaps (< 1 m²), one polygon each."""
    g = result.grids.to_crs(METRIC)
    for code, geom in zip(communities["code"], communities.to_crs(METRIC).geometry):
        mine = g[g["community_code"] == code].geometry
        u = shapely.union_all(mine.values)
        assert shapely.difference(geom, u).area < 1.0
        assert mine.area.sum() - u.area < 1.0


def _whole(result, compounds) -> None:
    """Every compound in exactly one grid unless split along buildings."""
    whole = result.members[result.members["building_id"].isna()]
    assert not whole["compound_id"].duplicated().any()
    assert set(result.members["compound_id"]) == set(compounds["id"])


def test_lattice_of_twelve():
    """
    4 × 3 lattice, 100 households each (1200 in all)::

        +---+---+---+---+
        |100|100|100|100|
        +---+---+---+---+
        |100|100|100|100|
        +---+---+---+---+
        |100|100|100|100|
        +---+---+---+---+

    300-500 → three grids of 400 (the middle of the bounds).
    """
    city = lattice([[100] * 4] * 3)
    r = partition(city["communities"], city["compounds"], rng=np.random.default_rng(1))
    assert sorted(r.grids["households"]) == [400, 400, 400]
    assert (r.grids.geometry.geom_type == "MultiPolygon").all()
    assert (r.grids.geometry.map(lambda g: len(g.geoms)) == 1).all()
    assert r.grids["code"].str.fullmatch(r"320214001001\d{3}").all()
    assert r.grids["name"].str.fullmatch(r"新光社区第\d网格").all()
    assert r.violations == []
    assert r.community_report["status"].tolist() == ["ok"]
    s = r.summary()
    assert s["share_within_bounds"] == 1.0 and s["non_contiguous"] == 0 and s["compounds_split"] == 0
    _tiles(r, city["communities"])
    _whole(r, city["compounds"])


def test_codes_numbered_west_to_east_then_north_to_south():
    """
    Six single-compound grids (each 400, over half of max)::

        +---+---+---+
        | a | c | e |    codes: a=001 b=002 c=003 d=004 e=005 f=006
        +---+---+---+    (x ascending; same x: north first)
        | b | d | f |
        +---+---+---+
    """
    city = lattice([[400] * 3] * 2)
    r = partition(city["communities"], city["compounds"], rng=np.random.default_rng(2))
    code = r.members.set_index("compound_id")["grid_code"]
    cells = ["-00", "-10", "-01", "-11", "-02", "-12"]  # -RC: row 0 is north
    assert [code[f"320214001001{c}"][-3:] for c in cells] == ["001", "002", "003", "004", "005", "006"]


def test_community_below_min_is_one_relaxed_grid():
    """
    Two compounds, 250 households in all (< 300)::

        +---+---+
        |100|150|
        +---+---+
    """
    city = lattice([[100, 150]])
    r = partition(city["communities"], city["compounds"])
    assert r.grids["households"].tolist() == [250]
    assert [v.rule for v in r.violations] == ["min_households"]
    assert "250" in r.violations[0].detail and "300" in r.violations[0].detail
    assert r.community_report["status"].tolist() == ["relaxed"]
    _tiles(r, city["communities"])


def test_compound_over_max_without_buildings():
    """
    One compound of 900 with no buildings next to three of 150::

        +---+---+
        |900|150|
        +---+---+
        |150|150|
        +---+---+
    """
    city = lattice([[900, 150], [150, 150]])
    r = partition(city["communities"], city["compounds"])
    rules = {v.rule for v in r.violations}
    assert "max_households" in rules
    assert any("900" in v.detail and "cannot be split" in v.detail for v in r.violations)
    assert sorted(r.grids["households"]) == [450, 900]
    _tiles(r, city["communities"])


def test_community_with_zero_compounds_is_one_empty_grid():
    """An empty 300 × 300 m community becomes one grid of 0 households, reported."""
    city = lattice([[0, 0, 0]] * 3)
    r = partition(city["communities"], city["compounds"])
    assert r.grids["households"].tolist() == [0]
    assert "no_compounds" in {v.rule for v in r.violations}
    _tiles(r, city["communities"])


def test_exclave_without_compounds_is_attached_and_reported():
    """
    A community of two parts; the eastern exclave has no compounds::

        +---+---+       +---+
        |200|200|       |   |  <- exclave, 100 m away
        +---+---+       +---+
    """
    city = lattice([[200, 200]])
    comm = city["communities"].to_crs(METRIC)
    geom = comm.geometry.iloc[0]
    x1 = geom.bounds[2]
    ex = box(x1 + 100, geom.bounds[1], x1 + 200, geom.bounds[3])
    comm["geometry"] = [shapely.MultiPolygon([geom, ex])]
    comm = comm.to_crs(4490)
    r = partition(comm, city["compounds"])
    assert r.grids["households"].tolist() == [400]
    assert "contiguity" in {v.rule for v in r.violations}
    _tiles(r, comm)


def test_big_compound_split_along_buildings():
    """
    A compound of 1000 households in 8 buildings (125 each) beside two of 200::

        +---------------+---+
        | b b b b       |200|
        | b b b b  1000 +---+
        |               |200|
        +---------------+---+

    → the compound is split into contiguous building groups, every grid 300-500.
    """
    city = lattice([[1000, 200], [0, 200]])
    comp = city["compounds"].to_crs(METRIC)
    big = comp.geometry.iloc[0]
    x0, y0, _, _ = big.bounds
    blds = [box(x0 + 5 + 22 * i, y0 + 10 + 45 * j, x0 + 20 + 22 * i, y0 + 40 + 45 * j)
            for j in range(2) for i in range(4)]
    buildings = gpd.GeoDataFrame({"id": [f"B{i}" for i in range(8)], "compound_id": comp["id"].iloc[0],
                                  "households": 125}, geometry=gpd.GeoSeries(blds, crs=METRIC).to_crs(4490))
    r = partition(city["communities"], city["compounds"], buildings)
    assert r.summary()["compounds_split"] == 1
    assert r.grids["households"].between(300, 500).all(), r.grids["households"].tolist()
    split = r.members[r.members["building_id"].notna()]
    assert sorted(split["building_id"]) == [f"B{i}" for i in range(8)]
    assert split.groupby("grid_code")["households"].sum().le(500).all()
    _tiles(r, city["communities"])
    _whole(r, city["compounds"])


def test_stability_moves_only_the_neighbourhood_and_keeps_codes():
    """
    A 6 × 2 lattice of 150s; the north-east compound then grows to 400, so its
    grid goes over 500 and must change; the grids far west keep their codes::

        +---+---+---+---+---+---+
        |150|150|150|150|150|400|
        +---+---+---+---+---+---+
        |150|150|150|150|150|150|
        +---+---+---+---+---+---+
    """
    city = lattice([[150] * 6] * 2)
    first = partition(city["communities"], city["compounds"], rng=np.random.default_rng(3))
    comp = city["compounds"].copy()
    comp.loc[comp["id"].str.endswith("-05"), "households"] = 400
    second = partition(city["communities"], comp, current=first.grids, current_members=first.members,
                       rng=np.random.default_rng(4))
    before = first.members.set_index("compound_id")["grid_code"]
    after = second.members.set_index("compound_id")["grid_code"]
    kept = set(first.grids["code"]) & set(second.grids["code"])
    assert kept, "untouched grids keep their codes"
    for code in kept:  # a kept code covers exactly the same compounds
        assert set(before[before == code].index) == set(after[after == code].index)
    new = set(second.grids["code"]) - set(first.grids["code"])
    top = max(int(c[-3:]) for c in first.grids["code"])
    assert all(int(c[-3:]) > top for c in new), "new grids take the next free sequence"
    west = before[before.index.str.endswith(("-00", "-10"))].unique()
    assert set(west) <= kept
    assert second.grids["households"].between(300, 500).all()
    _tiles(second, city["communities"])


def test_locked_grid_left_exactly_as_it_is():
    """
    Same 6 × 2 lattice; the grid of the north-west compound is locked, then all
    households double. The locked grid keeps code, geometry and members::

        +---+---+---+---+---+---+
        |LLL|   |   |   |   |   |
        +---+---+---+---+---+---+
    """
    city = lattice([[200] * 6] * 2)
    first = partition(city["communities"], city["compounds"], rng=np.random.default_rng(5))
    code = first.members.set_index("compound_id").loc[city["compounds"]["id"].iloc[0], "grid_code"]
    comp = city["compounds"].assign(households=city["compounds"]["households"] * 2)
    second = partition(city["communities"], comp, current=first.grids, current_members=first.members,
                       locked=frozenset({code}))
    a = first.grids.set_index("code").geometry[code]
    b = second.grids.set_index("code").geometry[code]
    assert a.equals(b)
    ma = set(first.members.loc[first.members["grid_code"] == code, "compound_id"])
    mb = set(second.members.loc[second.members["grid_code"] == code, "compound_id"])
    assert ma == mb
    _tiles(second, city["communities"])


def test_rules_and_inputs_are_validated():
    with pytest.raises(InvalidInput, match="min=600, max=500"):
        Rules(min_households=600, max_households=500)
    city = lattice([[100]])
    with pytest.raises(InvalidInput, match="households"):
        partition(city["communities"], city["compounds"].drop(columns="households"))


def test_metric_crs_picks_the_gauss_kruger_zone():
    assert metric_crs(120.4) == "EPSG:4549"
    assert metric_crs(75.0) == "EPSG:4534" and metric_crs(135.0) == "EPSG:4554"
    assert metric_crs_of(lattice([[1]])["communities"]) == "EPSG:4549"


def _buildings(compound_geom_metric, cid: str, households: list[int], cols: int) -> gpd.GeoDataFrame:
    """Buildings laid out row by row inside a compound (metric box) with the given households."""
    x0, y0, x1, y1 = compound_geom_metric.bounds
    rows = -(-len(households) // cols)
    dx, dy = (x1 - x0) / cols, (y1 - y0) / rows
    blds = [box(x0 + dx * (i % cols) + 2, y0 + dy * (i // cols) + 2, x0 + dx * (i % cols + 1) - 2,
                y0 + dy * (i // cols + 1) - 2) for i in range(len(households))]
    return gpd.GeoDataFrame({"id": [f"{cid}-B{i:02d}" for i in range(len(households))], "compound_id": cid,
                             "households": households}, geometry=gpd.GeoSeries(blds, crs=METRIC).to_crs(4490))


def test_one_big_compound_is_tiled_by_grid_sized_building_groups():
    """
    Regression (Xinwu 320214050004): ONE compound of 1205 households in 13
    buildings used to come out as one grid of 1205, because it was cut into
    groups with no minimum (276/279/371/279) the solver could not pair::

        +---------------------------+
        | b b b b b b b b b b b b b |  1205 households
        +---------------------------+

    → 3 grids of ~400, each a contiguous group of buildings, all within 300-500.
    """
    city = lattice([[1205]], size=300.0)
    comp = city["compounds"].to_crs(METRIC)
    hh = [91, 92, 98, 102, 80, 83, 99, 102, 85, 87, 100, 90, 96]
    assert sum(hh) == 1205
    buildings = _buildings(comp.geometry.iloc[0], comp["id"].iloc[0], hh, cols=13)
    r = partition(city["communities"], city["compounds"], buildings)
    assert len(r.grids) == 3, r.grids["households"].tolist()
    assert r.grids["households"].between(300, 500).all(), r.grids["households"].tolist()
    assert r.summary()["non_contiguous"] == 0
    assert r.community_report["status"].tolist() == ["ok"], r.community_report["reasons"].tolist()
    assert sorted(r.members["building_id"]) == sorted(buildings["id"])
    _tiles(r, city["communities"])


def test_split_compound_buildings_complete_a_small_neighbours_grid():
    """
    A compound of 1000 households (8 buildings of 125) whose only neighbour has 250::

        +---------------+---+
        | b b b b  1000 |250|
        | b b b b       |   |
        +---------------+---+

    Grid-sized groups of the big compound (500 + 500) would strand the 250; its
    buildings are shared out instead: 500 + 375 + (125 + 250), all within 300-500,
    and the small compound stays whole.
    """
    city = lattice([[1000, 250]], size=200.0)
    comp = city["compounds"].to_crs(METRIC)
    buildings = _buildings(comp.geometry.iloc[0], comp["id"].iloc[0], [125] * 8, cols=4)
    r = partition(city["communities"], city["compounds"], buildings)
    assert r.grids["households"].between(300, 500).all(), r.grids["households"].tolist()
    assert r.summary()["compounds_split"] == 1
    _whole(r, city["compounds"])
    _tiles(r, city["communities"])


def test_relaxed_reasons_say_why():
    """A community under the minimum, and one that no grid count fits, say so."""
    small = lattice([[100, 150]])
    r = partition(small["communities"], small["compounds"])
    assert "community has 250 households < min 300" in r.violations[0].detail
    odd = lattice([[260, 260]], code="320214001002")  # 520: 1 grid > max, 2 grids < min
    r = partition(odd["communities"], odd["compounds"])
    detail = " ".join(v.detail for v in r.violations)
    assert "520 households cannot be cut into grids of 300-500" in detail, detail


def test_reasons_carry_a_kind():
    """Why a rule gave way is a machine code on the violation, not only words in its detail;
    the stored report keeps the keys it had (rule, community_code, grid_code, detail, extra)."""
    from dataclasses import asdict

    from gridmap.partition.rules import BOUNDS_KINDS

    small = lattice([[100, 150]])
    r = partition(small["communities"], small["compounds"])
    assert [(v.rule, v.kind) for v in r.violations] == [("min_households", "small_community")]
    assert {"rule", "community_code", "grid_code", "detail", "extra", "kind"} <= set(asdict(r.violations[0]))
    odd = lattice([[260, 260]], code="320214001002")
    r = partition(odd["communities"], odd["compounds"])
    assert {v.kind for v in r.violations if v.rule in ("min_households", "max_households")} == {"counting"}
    big = lattice([[900, 150], [150, 150]])
    r = partition(big["communities"], big["compounds"])
    kinds = {(v.rule, v.kind, v.grid_code is None) for v in r.violations}
    assert ("max_households", "unsplittable_compound", True) in kinds
    assert ("max_households", "oversize_unit", False) in kinds
    assert all(v.kind in BOUNDS_KINDS for v in r.violations
               if v.rule in ("min_households", "max_households") and v.grid_code is not None)
