"""How each interchange layer maps onto its table (see migrations/versions/0001)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableMap:
    """Columns of one layer stored in ``table``; the rest go to ``attrs`` (jsonb)."""

    layer: str
    table: str
    key: tuple[str, ...]
    columns: tuple[str, ...]  # non-key, non-geometry columns, same names in layer and table
    geometry: str | None  # PostGIS cast, e.g. "MultiPolygon", or None for no geometry


TABLE_MAPS: dict[str, TableMap] = {
    m.layer: m
    for m in (
        TableMap("districts", "district", ("code",), ("name",), "MultiPolygon"),
        TableMap("streets", "street", ("code",), ("name", "district_code"), "MultiPolygon"),
        TableMap("communities", "community", ("code",), ("name", "street_code", "kind"), "MultiPolygon"),
        TableMap("compounds", "compound", ("id",), ("name", "community_code", "households"), "MultiPolygon"),
        TableMap("buildings", "building", ("id",), ("compound_id", "households"), "Geometry"),
        TableMap("barriers", "barrier", ("source_key",), ("kind", "class", "name"), "Geometry"),
        TableMap("addresses", "address", ("id",), ("address", "compound_id", "building_id"), "Point"),
        TableMap("service_points", "service_point", ("id",), ("name", "kind", "hours", "community_code"),
                 "Point"),
        TableMap("staff", "staff", ("id",),
                 ("name", "role", "agency", "phone", "phone_public", "community_code", "street_code"), None),
        TableMap("party_orgs", "party_org", ("id",),
                 ("name", "level", "parent_id", "street_code", "community_code", "plan", "grid_code",
                  "secretary_staff_id"), None),
        TableMap("grids", "grid", ("plan", "code"), ("name", "community_code", "households"),
                 "MultiPolygon"),
    )
}

PARTY_LEVELS = ("street_committee", "community_committee", "grid_branch", "building_group",
                "member_household")
