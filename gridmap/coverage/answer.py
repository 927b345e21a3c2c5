"""The coverage answer (网格查询结果): grid, admin chain, party chain, staff, officers, service points.

Built from a :class:`CoverageIndex` hit; every phone number is included and
:func:`public_view` removes the private ones for callers who may not see them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gridmap.coverage.address import Resolved
from gridmap.coverage.index import AGENCIES, WORKER_ROLES, CoverageIndex, Hit


def answer(index: CoverageIndex, location: dict, hit: Hit, compound_id: str | None = None,
           building_id: str | None = None, service_points: int = 3) -> dict:
    """The full coverage answer for a located point (every phone included; see :func:`public_view`)."""
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
    return {agency: [_staff(s) for s in linked.get(agency, [])] for agency in AGENCIES}


def _staff(row: dict) -> dict:
    keys = ("id", "name", "role", "agency", "phone", "phone_public")
    return {k: row.get(k) for k in keys}


def public_view(value: Any) -> Any:
    """A copy of an answer with every private phone number removed (the public role)."""
    if isinstance(value, list):
        return [public_view(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: public_view(v) for k, v in value.items()}
    if "phone" in out and not out.get("phone_public"):
        out["phone"] = None
    return out


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
    """The full answer for a resolved address; candidates get the grid each falls in."""
    location = resolved.location
    out = answer(index, location, index.locate(location["lon"], location["lat"]),
                 resolved.compound_id, resolved.building_id)
    placed = [c for c in location["candidates"] if c["lon"] is not None]
    if placed:
        batch = index.locate_many([c["lon"] for c in placed], [c["lat"] for c in placed], edge=False)
        for k, cand in enumerate(placed):
            cand["grid_code"] = batch.code(k)
    return out
