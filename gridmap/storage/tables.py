"""How each interchange layer maps onto its table, read off the schema (:mod:`gridmap.storage.schema`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, PrimaryKeyConstraint, Table, UniqueConstraint

from gridmap.storage.schema import metadata


@dataclass(frozen=True)
class TableMap:
    """Columns of one layer stored in ``table``; the rest go to ``attrs`` (jsonb)."""

    layer: str
    table: Table
    key: tuple[str, ...]  # what a re-import upserts on: the primary key or a unique constraint
    columns: tuple[str, ...]  # non-key, non-geometry columns, same names in layer and table

    @property
    def geometry(self) -> str | None:
        """The geometry type of ``geom`` (e.g. 'MULTIPOLYGON'), or None for a table without one."""
        geom = self.table.c.get("geom")
        return geom.type.geometry_type if geom is not None else None

    def column(self, name: str) -> Column:
        return self.table.c[name]


def _layer(layer: str, table: str, *, key: tuple[str, ...] | None = None,
           leave_out: tuple[str, ...] = ()) -> TableMap:
    """The map of ``layer``: every column of ``table`` but its geometry, attrs, a surrogate id
    (a primary key that is not the layer's key) and ``leave_out``."""
    t = metadata.tables[table]
    primary = tuple(c.name for c in t.primary_key.columns)
    key = key or primary
    uniques = [tuple(u.columns.keys()) for u in t.constraints
               if isinstance(u, (UniqueConstraint, PrimaryKeyConstraint))]
    if key not in uniques:
        raise ValueError(f"layer {layer}: {key} is neither the primary key nor unique in {table}")
    skip = {*key, "attrs", "geom", *leave_out, *(primary if key != primary else ())}
    columns = tuple(c.name for c in t.columns if c.name not in skip)
    return TableMap(layer, t, key, columns)


TABLE_MAPS: dict[str, TableMap] = {
    m.layer: m
    for m in (
        _layer("districts", "district"),
        _layer("streets", "street"),
        _layer("communities", "community"),
        _layer("compounds", "compound"),
        _layer("buildings", "building"),
        _layer("barriers", "barrier", key=("source_key",)),
        _layer("addresses", "address"),
        _layer("service_points", "service_point"),
        _layer("staff", "staff", leave_out=("version",)),
        # A building group's building_id is written by staffing; an imported party_orgs
        # layer keeps its building_id (if any) in attrs, as it always has.
        _layer("party_orgs", "party_org", leave_out=("building_id",)),
        _layer("grids", "grid", key=("plan", "code")),
    )
}
