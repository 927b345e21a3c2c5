"""Addresses resolved to points through the gazetteer (标准地址库), for the coverage answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gridmap.errors import NoCoveringGrid

#: How an answer's location was found: a coordinate, or an address matched at some level.
METHODS = {"coordinate": "coordinate", "exact": "exact_address", "structured": "parsed_address",
           "fuzzy": "fuzzy_match", "compound": "compound_name"}

@dataclass
class AddressBook:
    """The gazetteer (标准地址库) and where each standard address and compound lies (EPSG:4490)."""

    gazetteer: Any  # gridmap.address.Gazetteer
    rows: dict[str, tuple[float, float, str | None, str | None]]  # id → lon, lat, compound, building
    compounds: dict[str, tuple[float, float]] = field(default_factory=dict)  # id → a point inside


@dataclass(frozen=True)
class Resolved:
    """An address resolved to a point, with the compound and building when known."""

    location: dict
    compound_id: str | None
    building_id: str | None


def resolve_address(book: AddressBook, text: str) -> Resolved:
    """Match free text against the gazetteer (exact → parsed → fuzzy → compound) and place it."""
    match = book.gazetteer.match(text)
    candidates = [_candidate(book, str(cid), label, score) for cid, label, score in match.candidates]
    chosen = str(match.address_id) if match.address_id is not None else None
    if chosen is None and candidates:
        chosen = candidates[0]["address_id"]
    if chosen is not None and chosen in book.rows:
        lon, lat, compound_id, building_id = book.rows[chosen]
    elif match.compound_id is not None and str(match.compound_id) in book.compounds:
        lon, lat = book.compounds[str(match.compound_id)]
        compound_id, building_id = str(match.compound_id), None
    else:
        raise NoCoveringGrid(f"address {text!r} matched {match.address or match.compound_id!r}, "
                             "which has no location")
    location = {
        "lon": round(lon, 7), "lat": round(lat, 7), "crs": "EPSG:4490",
        "method": METHODS[match.level], "confidence": float(match.confidence), "input": {"address": text},
        "address": match.address if match.address_id is not None else
        (candidates[0]["address"] if candidates else None),
        "address_id": chosen, "candidates": candidates,
    }
    building = str(match.building_id) if match.building_id is not None else building_id
    return Resolved(location, compound_id, building if not candidates else building_id)


def _candidate(book: AddressBook, address_id: str, label: str, score: float) -> dict:
    lon, lat, _, _ = book.rows.get(address_id, (None, None, None, None))
    return {"address_id": address_id, "address": label, "score": float(score), "lon": lon, "lat": lat,
            "grid_code": None}
