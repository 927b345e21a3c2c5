"""Benchmark: gridmap.partition against spopt's MaxPHeuristic on synthetic cities.

    python bench/partition.py [--sizes 1000 10000 100000] [--spopt-max 10000]
                              [--workers 2] [--demo data/boundaries/xinwu.gpkg]

Fairness: spopt runs per community (grids never cross communities, as for
us) on the same compounds, with the same adjacency (shared territory edges,
the graph our engine uses) and floor = min households; max-p has no ceiling.
It sees whole compounds (it cannot split one along buildings). Its timing
covers building the weights and solving; its regions are then dissolved
from the same territories to measure Polsby-Popper and contiguity. spopt
is skipped above --spopt-max compounds (it is too slow there), and on
communities under 10 compounds or 2 × min households, where it fails or never
ends (they count as one region for it). spopt draws from Python's and numpy's
global generators, which are seeded per community so that its runs repeat
(unseeded, its time on the same 1k city varied from 13 s to 24 s). Not a test:
it prints numbers, and ratios measured in the same run; nothing is asserted.
"""

from __future__ import annotations

import argparse
import logging
import random
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from gridmap.crs import metric_crs_of
from gridmap.partition import Rules, partition
from gridmap.partition.geometry import disjoint_units, territories, unit_graph
from gridmap.partition.report import polsby_popper
from gridmap.synth import synth_city

#: spopt's simulated annealing never ends on very small communities (seen with 4
#: compounds); those count as one region for it.
SPOPT_MIN_UNITS = 10


def run_ours(layers: dict, workers: int, rules: Rules) -> dict:
    """Our engine, end to end (projection, splitting, tiling, reports)."""
    t = time.perf_counter()
    r = partition(layers["communities"], layers["compounds"], layers.get("buildings"), layers.get("barriers"),
                  rules=rules, workers=workers, rng=np.random.default_rng(0))
    dt = time.perf_counter() - t
    s = r.summary()
    hh = r.grids["households"]
    split = r.members.loc[r.members["building_id"].notna(), "compound_id"].unique()
    size = layers["compounds"].set_index(layers["compounds"]["id"].astype(str))["households"]
    unproved = sum(1 for v in r.violations if v.kind == "unproved")
    return {"engine": "gridmap", "seconds": dt, "grids": s["grids"], "within": s["share_within_bounds"],
            "min_hh": int(hh.min()), "max_hh": int(hh.max()), "pp": s["mean_polsby_popper"],
            "non_contig": s["non_contiguous"], "split": s["compounds_split"],
            "split_below_max": int((size.reindex(split.astype(str)) <= rules.max_households).sum()),
            "relaxed": int((r.community_report["status"] == "relaxed").sum()), "unproved": unproved,
            "gaps_m2": s["gaps_m2"], "overlaps_m2": s["overlaps_m2"]}


def run_spopt(layers: dict, rules: Rules) -> dict:
    """spopt MaxPHeuristic per community on the same compound graph."""
    from libpysal.weights import W
    from spopt.region import MaxPHeuristic

    epsg = metric_crs_of(layers["communities"])
    comm = layers["communities"].to_crs(epsg)
    comp = layers["compounds"].to_crs(epsg)
    by = dict(list(comp.groupby("community_code")))
    spent, hh_all, pp_all, nonc, n = 0.0, [], [], 0, 0
    for code, geom in zip(comm["code"], comm.geometry):
        sub = by.get(code)
        if sub is None or sub.empty:
            continue
        geoms = disjoint_units(sub.geometry.to_numpy(), geom)
        terr = territories(geoms, geom)
        xy = shapely.get_coordinates(shapely.point_on_surface(geoms))
        g = unit_graph(sub["households"].to_numpy(), xy, terr, None)
        df = sub.assign(x=xy[:, 0], y=xy[:, 1]).reset_index(drop=True)
        random.seed(0)  # spopt draws from the global generators: seeded, its runs repeat
        np.random.seed(0)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = W({i: list(nb) for i, nb in enumerate(g.nbrs)}, silence_warnings=True)
            model = MaxPHeuristic(df, w, ["x", "y"], "households", rules.min_households, top_n=2)
            logging.info("spopt community %s (%d compounds)", code, len(df))
            if df["households"].sum() < 2 * rules.min_households or len(df) < SPOPT_MIN_UNITS:
                lab = np.zeros(len(df), np.int64)  # spopt fails or never ends its annealing here
            else:
                try:
                    model.solve()
                    lab = np.asarray(model.labels_)
                except (IndexError, ValueError):  # spopt fails when no region reaches the floor
                    lab = np.zeros(len(df), np.int64)
        spent += time.perf_counter() - t
        for r in np.unique(lab):
            m = lab == r
            u = shapely.union_all(terr[m])
            hh_all.append(int(df["households"][m].sum()))
            pp_all.append(polsby_popper(u))
            nonc += int(shapely.get_num_geometries(u) != 1)
            n += 1
    hh = np.array(hh_all)
    return {"engine": "spopt MaxP", "seconds": spent, "grids": n,
            "within": float(((hh >= rules.min_households) & (hh <= rules.max_households)).mean()),
            "min_hh": int(hh.min()), "max_hh": int(hh.max()), "pp": float(np.mean(pp_all)),
            "non_contig": nonc, "split": 0, "split_below_max": 0, "relaxed": float("nan"),
            "unproved": float("nan"), "gaps_m2": float("nan"), "overlaps_m2": float("nan")}


def load_demo(path: Path) -> dict | None:
    """The demo district's layers, if the file exists."""
    if not path.exists():
        return None
    import geopandas as gpd

    layers = {}
    for name in ("communities", "compounds", "buildings", "barriers"):
        try:
            layers[name] = gpd.read_file(path, layer=name)
        except (ValueError, OSError) as exc:
            logging.warning("demo layer %s unreadable: %s", name, exc)
    return layers if "communities" in layers and "compounds" in layers else None


def main() -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--spopt-max", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--demo", type=Path, default=Path("data/boundaries/xinwu.gpkg"))
    args = ap.parse_args()
    rules = Rules()
    # cities are made one at a time, just before their run: a big one held in memory made the
    # worker processes of a small run slower to fork (1k: 1.7 s instead of 1.3 s)
    cases: list[tuple[str, Callable[[], dict | None]]] = [
        (f"synth {n}", lambda n=n: synth_city(n, rng=np.random.default_rng(n))) for n in args.sizes]
    cases.append((f"demo {args.demo.name}", lambda: load_demo(args.demo)))
    rows = []
    for name, make in cases:
        layers = make()
        if layers is None:
            print(f"({name} not found; skipped)")
            continue
        n = len(layers["compounds"])
        ours = run_ours(layers, args.workers, rules)
        rows.append({"case": name, "compounds": n, **ours})
        if n <= args.spopt_max:
            theirs = run_spopt(layers, rules)
            rows.append({"case": name, "compounds": n, **theirs})
            rows.append({"case": name, "compounds": n, "engine": "ratio ours/spopt",
                         **{k: ours[k] / theirs[k] if theirs[k] else float("nan")
                            for k in ("seconds", "grids", "within", "pp")}})
        else:
            print(f"(spopt skipped for {name}: {n} compounds > --spopt-max {args.spopt_max})")
        del layers
    pd.set_option("display.width", 200)
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
