"""``partition()``: validate, project, cut into per-community jobs, run, assemble."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from gridmap.crs import metric_crs_of
from gridmap.domain import STORAGE_EPSG
from gridmap.errors import InvalidInput, PartitionFailed
from gridmap.partition.community import run_community
from gridmap.partition.job import CommunityJob, CommunityOutcome
from gridmap.partition.report import PartitionResult
from gridmap.partition.rules import Rules, rules_for

log = logging.getLogger(__name__)

REQUIRED = {
    "communities": ("code", "name", "geometry"),
    "compounds": ("id", "community_code", "households", "geometry"),
    "buildings": ("id", "compound_id", "households", "geometry"),
    "barriers": ("kind", "class", "geometry"),
    "current": ("code", "community_code", "geometry"),
    "current_members": ("compound_id", "grid_code"),
}


def _check(name: str, df: pd.DataFrame | None, *, geo: bool = True) -> None:
    """Raise InvalidInput naming missing columns or a missing CRS."""
    if df is None:
        return
    missing = [c for c in REQUIRED[name] if c not in df.columns]
    if missing:
        raise InvalidInput(f"{name} lacks column(s) {missing}; required: {list(REQUIRED[name])}")
    if geo and getattr(df, "crs", None) is None:
        raise InvalidInput(f"{name} has no CRS; expected EPSG:{STORAGE_EPSG}")


def _major(barriers: gpd.GeoDataFrame | None, rules: Rules) -> gpd.GeoSeries | None:
    """Barrier geometries a grid should not straddle under ``rules``."""
    if barriers is None or barriers.empty:
        return None
    kind = barriers["kind"].astype(str)
    major = (kind == "road") & barriers["class"].astype(str).isin(rules.major_road_classes)
    major |= kind.isin([k for k in rules.barrier_kinds if k != "water" or rules.penalise_water])
    return barriers.geometry[major]


def _jobs(communities: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None,
          barriers: gpd.GeoDataFrame | None, *, rules: Rules | dict | None, current: gpd.GeoDataFrame | None,
          current_members: pd.DataFrame | None, locked: frozenset[str], plan: str, seeds: np.ndarray,
          time_limit: float) -> Iterator[CommunityJob]:
    """One job per community, with its slice of every layer (metric CRS)."""
    comp_by = dict(list(compounds.groupby("community_code", sort=False)))
    bld_by = {}
    if buildings is not None and not buildings.empty:
        owner = dict(zip(compounds["id"].astype(str), compounds["community_code"]))
        key = buildings["compound_id"].astype(str).map(owner)
        bld_by = dict(list(buildings.groupby(key, sort=False)))
    cur_by = dict(list(current.groupby("community_code", sort=False))) if current is not None else {}
    mem_by = {}
    if current_members is not None and current is not None:
        cc = dict(zip(current["code"].astype(str), current["community_code"]))
        mem_by = dict(list(current_members.groupby(current_members["grid_code"].astype(str).map(cc), sort=False)))
    bar_cache: dict[int, tuple] = {}
    empty = compounds.iloc[:0]
    for i, row in enumerate(communities.itertuples(index=False)):
        r = rules_for(rules, getattr(row, "kind", "urban"))
        if id(r) not in bar_cache:
            geoms = _major(barriers, r)
            bar_cache[id(r)] = (geoms.values, STRtree(geoms.values)) if geoms is not None and len(geoms) else None
        yield CommunityJob(
            code=str(row.code), name=str(row.name), geometry=row.geometry, rules=r,
            compounds=comp_by.get(row.code, empty), buildings=bld_by.get(row.code),
            barrier=_clip_barrier(bar_cache[id(r)], row.geometry), current=cur_by.get(row.code),
            current_members=mem_by.get(row.code), locked=locked, plan=plan, seed=int(seeds[i]),
            time_limit=time_limit)


def _clip_barrier(cache: tuple | None, geom: shapely.Geometry) -> shapely.Geometry | None:
    """Union of the major barriers near one community."""
    if cache is None:
        return None
    geoms, tree = cache
    hit = tree.query(shapely.buffer(shapely.envelope(geom), 50))
    return shapely.union_all(geoms[hit]) if len(hit) else None


def run_named(job: CommunityJob) -> CommunityOutcome:
    """:func:`run_community`, its failure re-raised as :class:`PartitionFailed` naming the community
    (in a worker too: the error pickles with its fields)."""
    try:
        return run_community(job)
    except PartitionFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of one community stops the run, named
        cause = f"{type(exc).__name__}: {exc}"
        log.exception("community %s (%s) failed", job.code, job.name)
        raise PartitionFailed(f"社区 {job.code} {job.name} 划分失败，未写入任何网格 (community {job.code} {job.name} "
                              f"could not be partitioned; nothing was written): {cause}",
                              job.code, job.name, cause) from exc


def _run(jobs: Iterator[CommunityJob], *, workers: int,
         progress: Callable[[int], None] | None) -> list[CommunityOutcome]:
    """Run jobs in this process or in a pool, in input order."""
    if workers <= 1:
        out = []
        for job in jobs:
            out.append(run_named(job))
            if progress:
                progress(1)
        return out
    jobs = list(jobs)
    # largest communities first, so that no big one is left to run alone at the end
    order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i].compounds))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {i: pool.submit(run_named, jobs[i]) for i in order}
        out = []
        try:
            for i in range(len(jobs)):
                out.append(futures[i].result())
                if progress:
                    progress(1)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # one community failed: the run stops
            raise
        return out


def _to_multi(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Every geometry as a MultiPolygon."""
    out = [shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g for g in geoms.values]
    return gpd.GeoSeries(out, crs=geoms.crs, index=geoms.index)


#: Parts of a repaired grid smaller than this (m², roughly, at 31°N) are slivers and dropped.
SLIVER_DEG2 = 1e-10


def _valid(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Repair grids that reprojection or overlay noise left self-intersecting.

    make_valid('structure') keeps the area (changes ~1e-7 relative here); a repair
    that splits off a sliver keeps the main part, so a grid stays one polygon.
    """
    bad = ~geoms.is_valid.to_numpy()
    if not bad.any():
        return geoms
    fixed = shapely.make_valid(geoms.values[bad], method="structure", keep_collapsed=False)
    out = geoms.copy()
    out.iloc[np.flatnonzero(bad)] = [_drop_slivers(g) for g in fixed]
    log.info("repaired %d self-intersecting grid polygons", int(bad.sum()))
    return out


def _drop_slivers(geom: shapely.Geometry) -> shapely.Geometry:
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon"]
    kept = [p for p in parts if p.area > SLIVER_DEG2] or parts[:1]
    return kept[0] if len(kept) == 1 else shapely.MultiPolygon(kept)


def _result(outcomes: list[CommunityOutcome], *, epsg: str, kept: gpd.GeoSeries | None = None) -> PartitionResult:
    """Concatenate per-community outcomes and return to EPSG:4490; ``kept`` (code -> geometry
    in EPSG:4490) restores locked grids bit for bit."""
    rows = [g for o in outcomes for g in o.grids]
    cols = ["code", "name", "community_code", "households", "plan", "geometry"]
    grids = gpd.GeoDataFrame(rows, columns=cols, geometry="geometry", crs=epsg) if rows else \
        gpd.GeoDataFrame(columns=cols, geometry="geometry", crs=epsg)
    grids = grids.to_crs(STORAGE_EPSG)
    if kept is not None and len(kept):
        hit = grids["code"].isin(kept.index)
        grids.loc[hit, "geometry"] = kept.loc[grids.loc[hit, "code"]].to_numpy()
    grids["geometry"] = _to_multi(_valid(grids.geometry))
    grids["households"] = grids["households"].astype("int64")
    members = pd.DataFrame([m for o in outcomes for m in o.members],
                           columns=["compound_id", "building_id", "grid_code", "households"])
    members["building_id"] = members["building_id"].astype(object).where(members["building_id"].notna(), None)
    grid_report = pd.DataFrame([r for o in outcomes for r in o.grid_report],
                               columns=["code", "households", "area_m2", "polsby_popper", "barrier_crossings",
                                        "violations"])
    community_report = pd.DataFrame([o.community_report for o in outcomes],
                                    columns=["community_code", "grids", "min_households", "max_households",
                                             "status", "reasons"])
    return PartitionResult(grids, members, grid_report, community_report,
                           [v for o in outcomes for v in o.violations],
                           float(sum(o.gaps_m2 for o in outcomes)), float(sum(o.overlaps_m2 for o in outcomes)))


def _prepare(df: gpd.GeoDataFrame | None, *, epsg: str, ids: tuple[str, ...] = ()) -> gpd.GeoDataFrame | None:
    """Project to the metric CRS, repair invalid geometry, make id columns str."""
    if df is None:
        return None
    df = df.to_crs(epsg)
    bad = ~df.geometry.is_valid
    if bad.any():
        df = df.copy()
        df.loc[bad, "geometry"] = shapely.make_valid(df.geometry[bad].values)
    for c in ids:
        df[c] = df[c].astype(str)
    if "households" in df:
        df["households"] = pd.to_numeric(df["households"], errors="coerce").fillna(0).astype("int64")
    return df


def partition(
    communities: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None = None,
    barriers: gpd.GeoDataFrame | None = None,
    *,
    rules: Rules | dict[str, Rules] | None = None,
    current: gpd.GeoDataFrame | None = None,
    current_members: pd.DataFrame | None = None,
    locked: frozenset[str] = frozenset(),
    plan: str = "draft",
    workers: int = 1,
    time_limit: float = 5.0,
    rng: np.random.Generator | None = None,
    progress: Callable[[int], None] | None = None,
) -> PartitionResult:
    """Divide each community into grids (网格) under ``rules``.

    Grids tile their community, hold whole compounds (a compound over the
    maximum is split along its buildings) and are contiguous; where a rule
    cannot be met the result still tiles the community and reports the rule
    that gave way. With ``current``/``current_members`` the current plan is
    repaired rather than redrawn; ``locked`` grids are left as they are.
    """
    for name, df in (("communities", communities), ("compounds", compounds), ("buildings", buildings),
                     ("barriers", barriers), ("current", current)):
        _check(name, df)
    _check("current_members", current_members, geo=False)
    if workers < 1:
        raise InvalidInput(f"workers must be >= 1, got {workers}")
    rng = rng if rng is not None else np.random.default_rng(0)
    epsg = metric_crs_of(communities)
    comm = _prepare(communities, epsg=epsg, ids=("code",))
    comp = _prepare(compounds, epsg=epsg, ids=("id", "community_code"))
    unknown = set(comp["community_code"]) - set(comm["code"])
    if unknown:
        log.warning("%d compound(s) name unknown communities, e.g. %s; they are ignored",
                    int(comp["community_code"].isin(unknown).sum()), sorted(unknown)[:3])
    cm = None
    if current_members is not None:
        cm = current_members.copy()
        cm["grid_code"] = cm["grid_code"].astype(str)
        cm["compound_id"] = cm["compound_id"].astype(str)
    seeds = rng.integers(0, 2**31 - 1, size=len(comm))
    jobs = _jobs(comm, comp, _prepare(buildings, epsg=epsg, ids=("id", "compound_id")), _prepare(barriers, epsg=epsg),
                 rules=rules, current=_prepare(current, epsg=epsg, ids=("code", "community_code")),
                 current_members=cm, locked=frozenset(locked), plan=plan, seeds=seeds, time_limit=time_limit)
    kept = None
    if current is not None and locked:
        cur = current.to_crs(STORAGE_EPSG)
        kept = cur.set_index(cur["code"].astype(str)).geometry
        kept = kept[kept.index.isin(locked)]
    return _result(_run(jobs, workers=workers, progress=progress), epsg=epsg, kept=kept)
