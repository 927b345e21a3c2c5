"""Grids drawn elsewhere (QGIS, another system): membership from geometry, then the engine's checks.

A grids layer in an import file becomes a draft plan like a partition's. Membership is
derived from the polygons: a compound belongs to the grid its buildings lie in (point, or a
polygon's centroid); one whose buildings lie in several grids is split along them (households
shared as :func:`~gridmap.partition.units.building_households` shares them); one without
buildings belongs to the grid covering most of its area. Then every grid and community is
checked with the engine's own rules (:func:`~gridmap.partition.report.check_grid`, the tiling
check) into the same :class:`~gridmap.partition.report.PartitionResult` and report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from gridmap.crs import metric_crs_of
from gridmap.partition.community import _why
from gridmap.partition.job import CommunityJob, CommunityOutcome
from gridmap.partition.report import PartitionResult, _close, check_grid, polsby_popper
from gridmap.partition.rules import Reason, Rules, rules_for
from gridmap.partition.units import building_households
from gridmap.violations import Violation

#: Why a drawn grid's bounds gave way when counting does not show it unavoidable.
HAND_DRAWN = Reason("unrecorded", "drawn by hand: no reason recorded")
MEMBER_COLUMNS = ["compound_id", "building_id", "grid_code", "households"]


@dataclass
class Drawn:
    """The checked plan, and what the file said that the geometry did not bear out."""

    result: PartitionResult
    notes: list[str] = field(default_factory=list)


def check_drawn(communities: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None,
                grids: gpd.GeoDataFrame, *, rules: Rules | dict[str, Rules] | None = None) -> Drawn:
    """Members, households, rule violations and the report of ``grids`` (EPSG:4490 in and out).

    ``communities`` are those the grids lie in (code, name, kind); ``grids`` keep their codes,
    names and polygons; their ``households`` become what their members hold.
    """
    epsg = metric_crs_of(communities)
    comm, comp, grd = _metric(communities, epsg), _metric(compounds, epsg), _metric(grids, epsg)
    bld = buildings.to_crs(epsg) if buildings is not None and len(buildings) else None
    members, violations = derive_members(grd, comp, bld)
    held = members.groupby("grid_code")["households"].sum()
    households = grids["code"].map(held).fillna(0).astype("int64")
    notes = [f"grid {c}: the file says {int(f)} households, its members hold {int(h)}"
             for c, f, h in zip(grids["code"], grids.get("households", households), households)
             if pd.notna(f) and int(f) != int(h)]
    outcomes = []
    for row in comm.itertuples(index=False):
        mine = grd[grd["community_code"] == row.code]
        job = CommunityJob(code=str(row.code), name=str(row.name), geometry=row.geometry,
                           rules=rules_for(rules, getattr(row, "kind", "urban")),
                           compounds=comp[comp["community_code"] == row.code], buildings=None, barrier=None)
        outcomes.append(_check_community(job, mine, households.loc[mine.index],
                                         [v for v in violations if v.community_code == job.code]))
    out = grids.drop(columns=[c for c in ("plan",) if c in grids]).copy()
    out["households"] = households
    result = PartitionResult(
        grids=out, members=members,
        grid_report=pd.DataFrame([r for o in outcomes for r in o.grid_report],
                                 columns=["code", "households", "area_m2", "polsby_popper", "barrier_crossings",
                                          "violations"]),
        community_report=pd.DataFrame([o.community_report for o in outcomes],
                                      columns=["community_code", "grids", "min_households", "max_households",
                                               "status", "reasons"]),
        violations=[v for o in outcomes for v in o.violations],
        gaps_m2=float(sum(o.gaps_m2 for o in outcomes)), overlaps_m2=float(sum(o.overlaps_m2 for o in outcomes)))
    return Drawn(result, notes)


#: Edges are cut into pieces of at most this many degrees (~10 m) before projecting: a straight
#: edge in EPSG:4490 is a curve in the metric CRS, and a grid boundary with a vertex midway along
#: its community's edge would otherwise leave gaps or overlaps of m² along every km (6.9 m² on a
#: 950 m edge at 31.5°N); with 10 m pieces it is below 1e-5 m².
DENSIFY_DEG = 1e-4


def _metric(gdf: gpd.GeoDataFrame, epsg: str) -> gpd.GeoDataFrame:
    out = gdf.copy()
    out["geometry"] = shapely.segmentize(gdf.geometry.values, DENSIFY_DEG)
    return out.set_geometry("geometry").to_crs(epsg)


def _check_community(job: CommunityJob, grids: gpd.GeoDataFrame, households: pd.Series,
                     violations: list[Violation]) -> CommunityOutcome:
    """The engine's per-grid rules and tiling check on one community's drawn grids."""
    lo, hi = job.rules.min_households, job.rules.max_households
    out = CommunityOutcome(violations=list(violations))
    why = _bounds_reason(int(households.sum()), len(grids), lo, hi)
    for r, hh in zip(grids.itertuples(index=False), households):
        v = check_grid(str(r.code), job.code, int(hh), r.geometry, lo=lo, hi=hi,
                       why=why if not lo <= hh <= hi else None)
        out.violations.extend(v)
        out.grids.append({"code": str(r.code), "name": str(r.name), "community_code": job.code,
                          "households": int(hh), "geometry": r.geometry})
        # Barrier crossings are measured on the engine's unit graph, which drawn grids do not have.
        out.grid_report.append({"code": str(r.code), "households": int(hh), "area_m2": float(r.geometry.area),
                                "polsby_popper": polsby_popper(r.geometry), "barrier_crossings": None,
                                "violations": [x.rule for x in v]})
    _close(out, job)
    return out


def _bounds_reason(total: int, grids: int, lo: int, hi: int) -> Reason:
    """The engine's reason when counting alone shows the bounds cannot hold, else :data:`HAND_DRAWN`."""
    kmin = -(-total // hi) if hi else 0
    if (total < lo and grids == 1) or (total >= lo and kmin > total // lo):
        return _why(total, lo=lo, hi=hi, pieces=1, proved=False, n=0, seconds=0.0)
    return HAND_DRAWN


def derive_members(grids: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame,
                   buildings: gpd.GeoDataFrame | None) -> tuple[pd.DataFrame, list[Violation]]:
    """Members (compound_id, building_id, grid_code, households) from geometry (one metric CRS),
    and a ``membership`` violation for every compound that lies in no grid of its community."""
    codes = grids["code"].astype(str).to_numpy()
    home = grids["community_code"].astype(str).to_numpy()
    tree = STRtree(grids.geometry.values)
    by_area = _largest_overlap(tree, codes, home, compounds)
    in_grid = _building_grids(tree, codes, home, compounds, buildings)
    rows, violations = [], []
    for cid, community, hh in zip(compounds["id"].astype(str), compounds["community_code"].astype(str),
                                  compounds["households"].astype("int64")):
        mine = in_grid.get(cid)
        found = sorted({g for g in mine["grid_code"] if g}) if mine is not None else []
        if len(found) > 1:
            shares = building_households(int(hh), mine["households"].to_numpy())
            fallback = by_area.get(cid) or found[0]
            rows += [(cid, bid, g or fallback, int(h)) for bid, g, h in zip(mine["id"], mine["grid_code"], shares)]
            continue
        grid = found[0] if found else by_area.get(cid)
        if grid is None:
            violations.append(Violation(rule="membership", kind="no_grid", community_code=community,
                                        detail=f"compound {cid} ({int(hh)} households) lies in no grid of "
                                               f"community {community}"))
            continue
        rows.append((cid, None, grid, int(hh)))
    out = pd.DataFrame(rows, columns=MEMBER_COLUMNS).astype({"households": "int64"})
    out["building_id"] = out["building_id"].astype(object).where(out["building_id"].notna(), None)
    return out, violations


def _largest_overlap(tree: STRtree, codes: np.ndarray, home: np.ndarray, compounds: gpd.GeoDataFrame) -> dict:
    """Compound id -> the code of the grid of its own community covering most of its area."""
    geoms = compounds.geometry.values
    ci, gi = tree.query(geoms, predicate="intersects")
    community = compounds["community_code"].astype(str).to_numpy()
    same = community[ci] == home[gi]
    ci, gi = ci[same], gi[same]
    area = shapely.area(shapely.intersection(geoms[ci], tree.geometries[gi]))
    pairs = pd.DataFrame({"c": ci, "code": codes[gi], "area": area})
    pairs = pairs[pairs["area"] > 0].sort_values(["c", "area", "code"], ascending=[True, False, True])
    best = pairs.drop_duplicates("c")
    ids = compounds["id"].astype(str).to_numpy()
    return dict(zip(ids[best["c"].to_numpy()], best["code"]))


def _building_grids(tree: STRtree, codes: np.ndarray, home: np.ndarray, compounds: gpd.GeoDataFrame,
                    buildings: gpd.GeoDataFrame | None) -> dict[str, pd.DataFrame]:
    """Compound id -> its buildings (id, households, grid_code: the grid of the compound's
    community holding the building's point or centroid, '' when none; the lowest code on an edge)."""
    if buildings is None or buildings.empty:
        return {}
    owner = dict(zip(compounds["id"].astype(str), compounds["community_code"].astype(str)))
    b = buildings.assign(compound_id=buildings["compound_id"].astype(str), id=buildings["id"].astype(str))
    b = b[b["compound_id"].isin(owner)]
    points = shapely.centroid(b.geometry.values)
    bi, gi = tree.query(points, predicate="intersects")
    same = b["compound_id"].map(owner).to_numpy()[bi] == home[gi]
    hit = pd.DataFrame({"b": bi[same], "code": codes[gi[same]]}).sort_values(["b", "code"]).drop_duplicates("b")
    grid = np.full(len(b), "", dtype=object)
    grid[hit["b"].to_numpy()] = hit["code"].to_numpy()
    frame = pd.DataFrame({"id": b["id"].to_numpy(), "compound_id": b["compound_id"].to_numpy(),
                          "households": b["households"].to_numpy(), "grid_code": grid})
    return {cid: part for cid, part in frame.sort_values("id").groupby("compound_id", sort=False)}
