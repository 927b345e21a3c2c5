"""Enforcement officers ↔ compounds (属地兜底): one officer of each agency per compound.

Each community's officers of an agency share its compounds (see
:mod:`gridmap.assign.allocate`). Communities with nobody of an agency are
pooled per street and shared by the street's officers of that agency (staff
with no community_code and that street_code); with none there either, the
compounds are reported uncovered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridmap.assign.allocate import Budget, Problem, allocate
from gridmap.assign.result import gap
from gridmap.assign.targets import Targets, Weights


@dataclass(frozen=True)
class Pool:
    """Compounds of one agency and the officers who share them."""

    agency: str
    compounds: pd.DataFrame
    officers: pd.DataFrame
    fallback: bool


def pools(compounds: pd.DataFrame, staff: pd.DataFrame, targets: Targets) -> tuple[list[Pool], list[dict]]:
    """The allocation pools, plus gaps for street fallbacks and uncovered compounds."""
    out: list[Pool] = []
    gaps: list[dict] = []
    for agency in targets.agencies:
        officers = staff[staff["agency"] == agency]
        orphans = []
        for community, comps in compounds.groupby("community_code", sort=True):
            mine = officers[officers["community_code"] == community]
            if len(mine):
                out.append(Pool(agency, comps, mine, fallback=False))
            else:
                orphans.append(comps)
        if orphans:
            pooled, more = _street_pools(agency, pd.concat(orphans), officers)
            out += pooled
            gaps += more
    return out, gaps


def _street_pools(agency: str, orphans: pd.DataFrame, officers: pd.DataFrame) -> tuple[list[Pool], list[dict]]:
    """Street pools for compounds whose community has no officer of ``agency``."""
    out, gaps = [], []
    street_staff = officers[officers["community_code"] == ""]
    for street, comps in orphans.groupby("street_code", sort=True):
        mine = street_staff[(street_staff["street_code"] == street) & (street != "")]
        for community, part in comps.groupby("community_code", sort=True):
            if len(mine):
                detail = (
                    f"community {community} has no {agency} officer; its {len(part)} compounds "
                    f"fall back to the {len(mine)} {agency} officers of street {street}"
                )
                gaps.append(gap("street_fallback", detail, community_code=community, street_code=street, agency=agency))
                continue
            for cid in part["id"]:
                detail = f"compound {cid} has no {agency} officer: none in community {community} nor street {street}"
                refs = {"community_code": community, "street_code": street, "compound_id": cid, "agency": agency}
                gaps.append(gap("uncovered_compound", detail, **refs))
        if len(mine):
            out.append(Pool(agency, comps, mine, fallback=True))
    return out, gaps


def link_officers(
    compounds: pd.DataFrame,
    staff: pd.DataFrame,
    *,
    targets: Targets,
    weights: Weights,
    current: pd.DataFrame | None,
    time_limit: float,
) -> tuple[list[dict], list[dict]]:
    """Officer links (staff_id, agency, compound_id, ...) and gaps."""
    todo, gaps = pools(compounds, staff, targets)
    budget = Budget(time_limit, len(todo))
    links: list[dict] = []
    for pool in todo:
        owner = allocate(_problem(pool, targets, current), weights=weights, time_limit=budget.take())
        new = _links(pool, owner)
        links += new
        gaps += _overloads(pool, new, targets)
    return links, gaps


def _problem(pool: Pool, targets: Targets, current: pd.DataFrame | None) -> Problem:
    """The allocation problem of one pool, with current links as stability hints."""
    comps, ids = pool.compounds, list(pool.officers["id"])
    now = np.full(len(comps), -1, dtype=int)
    if current is not None and len(current):
        held = current[current["agency"] == pool.agency].drop_duplicates("compound_id")
        holder = dict(zip(held["compound_id"].astype(str), held["staff_id"].astype(str)))
        index = {sid: i for i, sid in enumerate(ids)}
        now = np.array([index.get(holder.get(cid, ""), -1) for cid in comps["id"]], dtype=int)
    low, high = targets.compounds_per_officer
    return Problem(
        xy=comps[["x", "y"]].to_numpy(dtype=float),
        households=comps["households"].to_numpy(dtype=float),
        holders=len(ids),
        cap_min=low,
        cap_max=high,
        current=now,
    )


def _links(pool: Pool, owner: np.ndarray) -> list[dict]:
    ids = pool.officers["id"].to_numpy()
    return [
        {
            "staff_id": str(ids[h]),
            "agency": pool.agency,
            "compound_id": cid,
            "community_code": community,
            "street_fallback": pool.fallback,
        }
        for cid, community, h in zip(pool.compounds["id"], pool.compounds["community_code"], owner)
    ]


def _overloads(pool: Pool, links: list[dict], targets: Targets) -> list[dict]:
    """A gap per officer holding more compounds than the limit."""
    limit = targets.compounds_per_officer[1]
    counts = pd.Series([link["staff_id"] for link in links]).value_counts()
    out = []
    for sid, n in sorted(counts.items()):
        if n <= limit:
            continue
        officer = pool.officers.set_index("id").loc[sid]
        where = officer["community_code"] or f"street {officer['street_code']}"
        detail = (
            f"officer {sid} ({pool.agency}) has {n} compounds, limit {limit}: "
            f"{len(pool.officers)} {pool.agency} officers for {len(pool.compounds)} compounds in {where}"
        )
        out.append(
            gap(
                "officer_overloaded",
                detail,
                community_code=officer["community_code"] or None,
                street_code=officer["street_code"] or None,
                staff_id=sid,
                agency=pool.agency,
            )
        )
    return out
