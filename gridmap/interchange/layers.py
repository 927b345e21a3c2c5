"""The interchange layers of DESIGN.md §4: names, geometry kinds, required columns.

This is a contract: the importer, the exporter, the demo builder and the
tests all read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LayerSpec:
    """One interchange layer."""

    name: str
    geometry: tuple[str, ...]  # allowed geometry types; () = no geometry
    required: tuple[str, ...]
    key: str | None  # column that identifies a feature (re-import upserts on it)


LAYERS: dict[str, LayerSpec] = {
    spec.name: spec
    for spec in (
        LayerSpec("districts", ("Polygon", "MultiPolygon"), ("code", "name"), "code"),
        LayerSpec("streets", ("Polygon", "MultiPolygon"), ("code", "name", "district_code"), "code"),
        LayerSpec(
            "communities",
            ("Polygon", "MultiPolygon"),
            ("code", "name", "street_code", "kind"),
            "code",
        ),
        LayerSpec(
            "compounds",
            ("Polygon", "MultiPolygon"),
            ("id", "name", "community_code", "households"),
            "id",
        ),
        LayerSpec("buildings", ("Polygon", "Point"), ("id", "compound_id", "households"), "id"),
        LayerSpec(
            "barriers",
            ("LineString", "MultiLineString", "Polygon", "MultiPolygon"),
            ("kind", "class"),
            None,
        ),
        LayerSpec("addresses", ("Point",), ("id", "address", "compound_id", "building_id"), "id"),
        LayerSpec("service_points", ("Point",), ("id", "name", "kind", "hours"), "id"),
        LayerSpec(
            "staff",
            (),
            ("id", "name", "role", "agency", "phone", "phone_public", "community_code"),
            "id",
        ),
        LayerSpec(
            "grids",
            ("Polygon", "MultiPolygon"),
            ("code", "name", "community_code", "households", "plan"),
            None,
        ),
    )
}

#: Order in which layers are written so that references resolve.
IMPORT_ORDER = (
    "districts",
    "streets",
    "communities",
    "compounds",
    "buildings",
    "barriers",
    "addresses",
    "service_points",
    "staff",
    "grids",
)
