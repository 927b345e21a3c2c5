"""Load the standard-address table (标准地址库) into a :class:`gridmap.address.Gazetteer`."""

from __future__ import annotations

import pandas as pd
from geoalchemy2 import functions as gfunc
from sqlalchemy import Connection, select, union

from gridmap.address import Gazetteer
from gridmap.coverage.address import AddressBook
from gridmap.storage.query import read_frame
from gridmap.storage.schema import address, community, compound, district, street

#: Optional structured parts an address row may carry in ``attrs`` (the gazetteer uses them if present).
_PARTS = ("road", "door_number", "building_no", "unit")


def read_addresses(conn: Connection) -> pd.DataFrame:
    """Every address with its point, compound name and any structured parts kept in attrs."""
    a = address.c
    query = (select(a.id, a.address, a.compound_id, a.building_id, compound.c.name.label("compound_name"),
                    *(a.attrs[p].astext.label(p) for p in _PARTS),
                    gfunc.ST_X(a.geom).label("lon"), gfunc.ST_Y(a.geom).label("lat"))
             .join_from(address, compound, compound.c.id == a.compound_id, isouter=True).order_by(a.id))
    return read_frame(conn, query)


def admin_names(conn: Connection) -> list[str]:
    """District, street and community names: prefixes the gazetteer strips from typed addresses."""
    names = union(select(district.c.name), select(street.c.name), select(community.c.name))
    return [r for (r,) in conn.execute(names)]


def compound_points(conn: Connection) -> dict[str, tuple[float, float]]:
    """A point inside every compound, for answers matched only by compound name."""
    inner = select(compound.c.id, gfunc.ST_PointOnSurface(compound.c.geom).label("p")).subquery()
    query = select(inner.c.id, gfunc.ST_X(inner.c.p).label("lon"), gfunc.ST_Y(inner.c.p).label("lat"))
    return {r.id: (float(r.lon), float(r.lat)) for r in conn.execute(query)}


def load_address_book(conn: Connection) -> AddressBook:
    """The gazetteer over all stored addresses, with their points."""
    df = read_addresses(conn)
    for col in _PARTS:
        if df[col].isna().all():
            df = df.drop(columns=col)
    gazetteer = Gazetteer(df, prefixes=admin_names(conn))
    rows = {str(r.id): (float(r.lon), float(r.lat), _id(r.compound_id), _id(r.building_id))
            for r in df.itertuples(index=False)}
    return AddressBook(gazetteer=gazetteer, rows=rows, compounds=compound_points(conn))


def _id(value: object) -> str | None:
    """An id cell as text; pandas reads a missing one as NaN, which must never reach an answer."""
    return None if value is None or pd.isna(value) else str(value)
