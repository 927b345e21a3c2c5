"""Grids, members and reports of a partition, and the rules checked on them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from gridmap.partition.codes import assign_codes, grid_name
from gridmap.partition.geometry import dissolve_tiles
from gridmap.partition.membership import check_members
from gridmap.partition.job import CommunityJob, CommunityOutcome, Current, Locked, Solve
from gridmap.partition.rules import Reason
from gridmap.partition.solver import UnitGraph
from gridmap.partition.units import Unit
from gridmap.violations import Violation


def polsby_popper(geom: BaseGeometry) -> float:
    """4πA/P²: 1 for a disc, near 0 for a snake."""
    p = geom.length
    return float(4 * math.pi * geom.area / (p * p)) if p > 0 else 0.0


def check_grid(code: str, community_code: str, households: int, geom: BaseGeometry, *, lo: int, hi: int,
               locked: bool = False, why: Reason | None = None) -> list[Violation]:
    """The per-grid rules: household bounds, one contiguous polygon; ``why`` says why the
    bounds could not be met (its kind is the violation's, its text ends the detail)."""
    tag = " (locked grid, left as it is)" if locked else ""
    tag_hh = f"{tag}: {why.text}" if why else tag
    kind = why.kind if why else "locked" if locked else "unrecorded"
    ids = {"community_code": community_code, "grid_code": code}
    out = []
    if households < lo:
        out.append(Violation(rule="min_households", kind=kind, **ids,
                             detail=f"grid {code} has {households} households < min {lo}{tag_hh}"))
    if households > hi:
        out.append(Violation(rule="max_households", kind=kind, **ids,
                             detail=f"grid {code} has {households} households > max {hi}{tag_hh}"))
    parts = shapely.get_num_geometries(geom)
    if geom.is_empty or geom.area <= 0:
        out.append(Violation(rule="non_empty", kind="empty_grid", **ids,
                             detail=f"grid {code} has no area (a defect of the partition){tag}"))
    elif parts != 1:
        out.append(Violation(rule="contiguity", kind="multipart", **ids,
                             detail=f"grid {code} is {parts} separate polygons (exclave of the community or a "
                                    f"multi-part compound){tag}"))
    return out


def _regions(units: list[Unit], terr: np.ndarray, lab: np.ndarray) -> list[tuple[np.ndarray, BaseGeometry, int]]:
    """(unit indices, dissolved territory, households) per region label."""
    out = []
    for r in range(int(lab.max()) + 1 if len(lab) else 0):
        idx = np.flatnonzero(lab == r)
        if len(idx):
            geom = terr[idx[0]] if len(idx) == 1 else dissolve_tiles(terr[idx])
            out.append((idx, geom, int(sum(units[i].households for i in idx))))
    return out


def _crossings(g: UnitGraph | None, lab: np.ndarray, idx: np.ndarray) -> int:
    """Major-barrier edges inside one region."""
    if g is None:
        return 0
    inside = set(idx.tolist())
    return sum(1 for u in idx for v, (_, cross) in g.nbrs[u].items() if cross and v in inside and u < v)


def assemble(job: CommunityJob, solve: Solve, *, territories: np.ndarray, current: Current, locked: Locked,
             notes: Sequence[Violation] = ()) -> CommunityOutcome:
    """The grids, members and reports of one community from a solve: a grid per region (the
    union of its units' ``territories``), coded west→east (unchanged member sets keep their
    current codes), the locked grids as they are, and every rule that gave way (``notes``
    first: those found while building the units)."""
    out = CommunityOutcome(violations=[*notes, *solve.violations])
    units, g, lab, why = solve.units, solve.graph, solve.labels, solve.reasons
    container, cur_members = locked.container, current.members
    lo, hi = job.rules.min_households, job.rules.max_households
    regions = _regions(units, territories, lab)
    if not regions and not container.is_empty and container.area > 1.0:
        out.violations.append(Violation(
            rule="no_compounds", kind="no_compounds", community_code=job.code,
            detail=f"community {job.code} has no residential compounds outside locked grids; "
                   f"its area ({container.area:.0f} m2) forms one grid with 0 households"))
        regions = [(np.zeros(0, np.int64), container, 0)]
    by_members = {frozenset(v): c for c, v in cur_members.items() if c not in locked.codes}
    kept = [by_members.get(frozenset().union(*(units[i].keys for i in idx)) if len(idx) else None)
            for idx, _, _ in regions]
    used = set(cur_members) | set(locked.codes)
    if job.current is not None:
        used |= set(job.current["code"].astype(str))
    xy = _points(job.geometry, [geom for _, geom, _ in regions])
    width = float(np.sqrt(job.geometry.area / max(len(regions), 1)))
    codes = assign_codes(job.code, xy, kept, used, width=width)
    for (idx, geom, hh), code in zip(regions, codes):
        reason = why.get(int(lab[idx[0]])) if len(idx) else None
        if reason is None and hh < lo and not len(idx):
            reason = Reason("no_compounds", "the community has no compounds")
        if reason is None and (hh < lo or hh > hi):
            reason = Reason("unrecorded", "the solver left it out of bounds (no reason recorded)")
        _add_grid(out, job, code, geom, households=hh, crossings=_crossings(g, lab, idx), why=reason)
        for i in idx:
            u = units[i]
            if u.building_ids is None:
                out.members.append({"compound_id": u.compound_id, "building_id": None, "grid_code": code,
                                    "households": u.households})
            else:
                out.members.extend({"compound_id": u.compound_id, "building_id": b, "grid_code": code,
                                    "households": h} for b, h in zip(u.building_ids, u.building_households))
    _add_locked(out, job, locked.rows)
    out.violations.extend(check_members(out.members, {gr["code"]: gr["geometry"] for gr in out.grids},
                                        community=job.geometry, community_code=job.code, compounds=job.compounds,
                                        buildings=job.buildings, locked=set(locked.codes)))
    _close(out, job)
    return out


def _points(community: BaseGeometry, geoms: list[BaseGeometry]) -> np.ndarray:
    """A point on each grid's surface (x, y), one row per grid (an empty grid: the community's)."""
    if not geoms:
        return np.zeros((0, 2))
    fallback = shapely.point_on_surface(community)
    pts = [shapely.point_on_surface(g) if not g.is_empty else fallback for g in geoms]
    return shapely.get_coordinates(pts).reshape(-1, 2)


def _add_grid(out: CommunityOutcome, job: CommunityJob, code: str, geom: BaseGeometry, *, households: int,
              crossings: int, locked: bool = False, why: Reason | None = None) -> None:
    """Append one grid, its report row and its violations to ``out``."""
    v = check_grid(code, job.code, households, geom, lo=job.rules.min_households, hi=job.rules.max_households,
                   locked=locked, why=why)
    out.violations.extend(v)
    out.grids.append({"code": code, "name": grid_name(job.name, code), "community_code": job.code,
                      "households": int(households), "plan": job.plan, "geometry": geom})
    out.grid_report.append({"code": code, "households": int(households), "area_m2": float(geom.area),
                            "polsby_popper": polsby_popper(geom), "barrier_crossings": int(crossings),
                            "violations": [x.rule for x in v]})


def _add_locked(out: CommunityOutcome, job: CommunityJob, rows: pd.DataFrame | None) -> None:
    """Locked grids: geometry and members exactly as in the current plan."""
    if rows is None or rows.empty:
        return
    present = dict(zip(job.compounds["id"].astype(str), job.compounds["households"].astype(int)))
    cm = job.current_members
    for code, geom in zip(rows["code"].astype(str), rows.geometry):
        sub = cm[cm["grid_code"].astype(str) == code] if cm is not None else cm
        hh = 0
        for _, m in (sub.iterrows() if sub is not None else []):
            bid = m.get("building_id")
            whole = bid is None or pd.isna(bid)
            h = present.get(str(m["compound_id"]), 0) if whole else int(m.get("households", 0) or 0)
            hh += h
            out.members.append({"compound_id": str(m["compound_id"]), "building_id": None if whole else str(bid),
                                "grid_code": code, "households": int(h)})
        _add_grid(out, job, code, geom, households=hh, crossings=0, locked=True)


def _close(out: CommunityOutcome, job: CommunityJob) -> None:
    """Tiling measures and the community row."""
    geoms = [gr["geometry"] for gr in out.grids]
    if geoms:
        u = shapely.union_all(geoms)
        out.gaps_m2 = float(shapely.difference(job.geometry, u).area)
        out.overlaps_m2 = max(0.0, float(sum(x.area for x in geoms) - u.area))
    else:
        out.gaps_m2 = float(job.geometry.area)
    if out.gaps_m2 >= 1.0 or out.overlaps_m2 >= 1.0:
        out.violations.append(Violation(
            rule="tiling", kind="gaps_or_overlaps", community_code=job.code,
            detail=f"grids leave {out.gaps_m2:.1f} m2 uncovered and overlap by "
                   f"{out.overlaps_m2:.1f} m2 (tolerance 1 m2)"))
    hh = [gr["households"] for gr in out.grids]
    out.community_report = {
        "community_code": job.code, "grids": len(out.grids),
        "min_households": min(hh, default=0), "max_households": max(hh, default=0),
        "status": "relaxed" if out.violations else "ok",
        "reasons": [v.detail for v in out.violations],
    }


@dataclass
class PartitionResult:
    """Grids of a plan with members and rule reports (EPSG:4490 geometry)."""

    grids: gpd.GeoDataFrame
    members: pd.DataFrame
    grid_report: pd.DataFrame
    community_report: pd.DataFrame
    violations: list[Violation] = field(default_factory=list)
    gaps_m2: float = 0.0
    overlaps_m2: float = 0.0

    def summary(self) -> dict:
        """Headline figures: counts, share of grids within bounds, contiguity, splits, tiling, compactness."""
        n = len(self.grids)
        gr = self.grid_report
        bad = gr["violations"].map(lambda v: "min_households" in v or "max_households" in v) if n else []
        spread = self.members.groupby("compound_id")["grid_code"].nunique() if len(self.members) else pd.Series()
        return {
            "communities": int(len(self.community_report)),
            "grids": int(n),
            "share_within_bounds": float(1 - np.mean(bad)) if n else 0.0,
            "non_contiguous": int(gr["violations"].map(lambda v: "contiguity" in v).sum()) if n else 0,
            "compounds_split": int((spread > 1).sum()),
            "gaps_m2": float(self.gaps_m2),
            "overlaps_m2": float(self.overlaps_m2),
            "mean_polsby_popper": float(gr["polsby_popper"].mean()) if n else 0.0,
        }
