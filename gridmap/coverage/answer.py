"""The coverage answer (网格查询结果): grid, admin chain, party chain, staff, officers, service points.

Built from a :class:`CoverageIndex` hit with every phone number in it;
:func:`present` is the last step before any caller sees it: it removes the
phones the caller's role may not see (:mod:`gridmap.coverage.privacy`) and
leaves plain JSON values only (never NaN).

An address resolves to one grid, or to several (:func:`place`): a compound
named alone that the plan splits over grids, or ambiguous text whose
candidates lie in different grids. Then :class:`AmbiguousLocation` carries
the choices (:func:`choices`) instead of an answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from gridmap.coverage import privacy
from gridmap.coverage.address import Resolved
from gridmap.coverage.index import CoverageIndex, Hit, Share
from gridmap.domain import ENFORCEMENT_AGENCIES, WORKER_ROLES
from gridmap.errors import AmbiguousLocation


def answer(index: CoverageIndex, location: dict, hit: Hit, *, compound_id: str | None = None,
           building_id: str | None = None, service_points: int = 3) -> dict:
    """The full coverage answer for a located point (every phone included; see :func:`present`)."""
    lon, lat = location["lon"], location["lat"]
    code = str(index.codes[hit.grid])
    card = index.data.cards.get(code, {})
    compound_id = compound_id or index.compound_at(lon, lat)
    building_id = building_id or index.building_at(lon, lat)
    g = hit.grid
    gen = index.data.generation
    return {
        "location": location,
        "grid": {"code": code, "name": index.names[g], "households": index.households[g],
                 "community_code": index.communities[g], "plan": gen.get("plan"),
                 "generation": gen},
        "community": card.get("community"),
        "street": card.get("street"),
        "district": card.get("district"),
        "compound": {"id": compound_id, "name": index.compound_name(compound_id)} if compound_id else None,
        "building_id": building_id,
        "party": card.get("party") or {"grid_branch": None, "community_committee": None, "street_committee": None},
        "staff": staff_groups(card.get("posts", []), building_id),
        "officers": officers_for(index.data.officers, compound_id),
        "service_points": index.nearest_service_points(lon, lat, service_points),
        "edge": hit.edge,
        "boundary_distance_m": round(hit.boundary_m, 1),
        "neighbours": [{"code": str(index.codes[n]), "name": index.names[n],
                        "distance_m": round(d, 1)} for n, d in hit.neighbours],
    }


def staff_groups(posts: Sequence[dict], building_id: str | None) -> dict:
    """Posts of a grid as 1+5+N: the grid head, workers by role, volunteers, the building chief."""
    def pick(role: str) -> list[dict]:
        return [_staff(p) for p in posts if p.get("role") == role]

    heads = pick("grid_head")
    chiefs = [_staff(p) for p in posts if p.get("role") == "building_chief"
              and building_id is not None and str(p.get("building_id")) == str(building_id)]
    return {
        "grid_head": heads[0] if heads else None,
        "workers": {role: pick(role) for role in WORKER_ROLES},
        "volunteers": pick("volunteer"),
        "building_chief": chiefs[0] if chiefs else None,
    }


def officers_for(officers: dict[str, dict[str, list[dict]]], compound_id: str | None) -> dict[str, list[dict]]:
    """Enforcement officers of a compound per agency (police, 城管, market regulation)."""
    linked = officers.get(str(compound_id), {}) if compound_id else {}
    return {agency: [_staff(s) for s in linked.get(agency, [])] for agency in ENFORCEMENT_AGENCIES}


def _staff(row: dict) -> dict:
    keys = ("id", "name", "role", "agency", "phone", "phone_public")
    return {k: row.get(k) for k in keys}


def present(value: Any, role: str) -> Any:
    """A copy of an answer (or choices, or batch row) as a caller of ``role`` may see it.

    Every person's phone is kept only where :func:`privacy.may_see_phone`
    allows it; numpy scalars become Python values and NaN/∞ become None, so
    what comes out always serialises as strict JSON.
    """
    kind = type(value)
    if kind is dict:
        out = {k: present(v, role) for k, v in value.items()}
        if "phone" in out and not privacy.may_see_phone(out, role):
            out["phone"] = None
        return out
    if kind in _PLAIN:  # the common case first: an answer is mostly text and numbers
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is list or kind is tuple:
        return [present(v, role) for v in value]
    if isinstance(value, dict):
        return present(dict(value), role)
    if isinstance(value, np.generic):
        return present(value.item(), role)
    if isinstance(value, float):
        return present(float(value), role)
    if value is pd.NA or value is pd.NaT:
        return None
    return value


_PLAIN = frozenset({str, int, bool, type(None)})


def coordinate_location(lon: float, lat: float, input_lon: float, input_lat: float, crs: str) -> dict:
    """The location block of an answer found from a coordinate."""
    return {"lon": round(lon, 7), "lat": round(lat, 7), "crs": "EPSG:4490", "method": "coordinate",
            "confidence": 1.0, "input": {"lon": input_lon, "lat": input_lat, "crs": crs},
            "address": None, "address_id": None, "candidates": []}


# ---------------------------------------------------------------- one-shot answers


def point_answer(index: CoverageIndex, lon: float, lat: float, crs: str) -> dict:
    """The full answer for a coordinate named in ``crs`` (wgs84, cgcs2000, gcj02, bd09, EPSG:n)."""
    from gridmap.crs import parse_crs, to_cgcs2000

    name = parse_crs(crs)
    x, y = to_cgcs2000(lon, lat, name)
    return answer(index, coordinate_location(x, y, lon, lat, name), index.locate(x, y))


def address_answer(index: CoverageIndex, resolved: Resolved) -> dict:
    """The full answer for a resolved address (see :func:`place`); AmbiguousLocation when it names no one grid."""
    placed = place(index, resolved)
    location = placed.location
    return answer(index, location, index.locate(location["lon"], location["lat"]),
                  compound_id=placed.compound_id, building_id=placed.building_id)


def place(index: CoverageIndex, resolved: Resolved) -> Resolved:
    """The resolved address with its point in the one grid it belongs to.

    Candidates (ambiguous text) get the grid each lies in; when they lie in
    different grids, AmbiguousLocation. A compound named alone (no building)
    belongs to the grids the plan's membership gives it: several raise
    AmbiguousLocation; one is where the answer's point goes. Without
    membership, the grid holding the compound's inner point (ST_PointOnSurface)
    is the compound's, as for staffing.
    """
    location = resolved.location
    placed = [c for c in location["candidates"] if c["lon"] is not None]
    if placed:
        batch = index.locate_many([c["lon"] for c in placed], [c["lat"] for c in placed], edge=False)
        for k, cand in enumerate(placed):
            cand["grid_code"] = batch.code(k)
        grids = sorted({int(g) for g in batch.grid if g >= 0})
        if len(grids) > 1:
            shares = [Share(g, None, ()) for g in grids]
            raise AmbiguousLocation(_ambiguity(index, resolved, grids), choices(index, resolved, shares))
        return resolved
    if resolved.building_id is not None or resolved.compound_id is None:
        return resolved
    shares = index.compound_shares(resolved.compound_id)
    if len({s.grid for s in shares}) > 1:
        raise AmbiguousLocation(_ambiguity(index, resolved, [s.grid for s in shares]),
                                choices(index, resolved, shares))
    target = shares[0].grid if shares else index.grid_at_inner_point(resolved.compound_id)
    if target is None or index.covers(target, location["lon"], location["lat"]):
        return resolved
    point = index.point_in(resolved.compound_id, target)
    if point is None:
        return resolved
    return replace(resolved, location={**location, "lon": round(point[0], 7), "lat": round(point[1], 7)})


def choices(index: CoverageIndex, resolved: Resolved, shares: Sequence[Share]) -> dict:
    """What a caller chooses from when an address names several grids: each grid with its code, name,
    households, grid head and the compound's part in it; the compound, its officers and the location."""
    compound_id = resolved.compound_id
    grids = []
    for share in sorted(shares, key=lambda s: str(index.codes[s.grid])):
        code = str(index.codes[share.grid])
        card = index.data.cards.get(code, {})
        heads = [p for p in card.get("posts", []) if p.get("role") == "grid_head"]
        grids.append({"code": code, "name": index.names[share.grid], "households": index.households[share.grid],
                      "community_code": index.communities[share.grid],
                      "compound_households": share.households,
                      "buildings": list(share.buildings), "grid_head": _staff(heads[0]) if heads else None})
    return {
        "location": resolved.location,
        "plan": index.data.generation.get("plan"),
        "compound": {"id": compound_id, "name": index.compound_name(compound_id)} if compound_id else None,
        "grids": grids,
        "officers": officers_for(index.data.officers, compound_id) if compound_id else None,
    }


def _ambiguity(index: CoverageIndex, resolved: Resolved, grids: Sequence[int]) -> str:
    codes = "、".join(str(index.codes[g]) for g in sorted(set(grids)))
    n = len(set(grids))
    text = resolved.location["input"].get("address")
    if resolved.location["candidates"]:
        return (f"地址 {text!r} 有多个候选，分属 {n} 个网格：{codes}；请补充路名门牌或小区名 — "
                f"address {text!r} has candidates in {n} grids; give more of the address")
    name = index.compound_name(resolved.compound_id) or resolved.compound_id
    return (f"小区 {name}（{resolved.compound_id}）分属 {n} 个网格：{codes}；请补充楼栋号 — "
            f"compound {resolved.compound_id} is split over {n} grids; give the building (栋) to get one")
