"""Load the standard-address table (标准地址库) into a :class:`gridmap.address.Gazetteer`."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, text

from gridmap.address import Gazetteer
from gridmap.coverage.address import AddressBook

#: Optional structured parts an address row may carry in ``attrs`` (the gazetteer uses them if present).
_PARTS = ("road", "door_number", "building_no", "unit")


def read_addresses(conn: Connection) -> pd.DataFrame:
    """Every address with its point, compound name and any structured parts kept in attrs."""
    parts = ", ".join(f"a.attrs ->> '{p}' AS {p}" for p in _PARTS)
    sql = f"""SELECT a.id, a.address, a.compound_id, a.building_id, c.name AS compound_name, {parts},
                     ST_X(a.geom) AS lon, ST_Y(a.geom) AS lat
              FROM address a LEFT JOIN compound c ON c.id = a.compound_id ORDER BY a.id"""
    return pd.read_sql(text(sql), conn)


def admin_names(conn: Connection) -> list[str]:
    """District, street and community names: prefixes the gazetteer strips from typed addresses."""
    sql = "SELECT name FROM district UNION SELECT name FROM street UNION SELECT name FROM community"
    return [r for (r,) in conn.execute(text(sql))]


def compound_points(conn: Connection) -> dict[str, tuple[float, float]]:
    """A point inside every compound, for answers matched only by compound name."""
    sql = "SELECT id, ST_X(p) AS lon, ST_Y(p) AS lat FROM (SELECT id, ST_PointOnSurface(geom) AS p FROM compound) x"
    return {r.id: (float(r.lon), float(r.lat)) for r in conn.execute(text(sql))}


def load_address_book(conn: Connection) -> AddressBook:
    """The gazetteer over all stored addresses, with their points."""
    df = read_addresses(conn)
    for col in _PARTS:
        if df[col].isna().all():
            df = df.drop(columns=col)
    gazetteer = Gazetteer(df, prefixes=admin_names(conn))
    rows = {str(r.id): (float(r.lon), float(r.lat), r.compound_id, r.building_id)
            for r in df.itertuples(index=False)}
    return AddressBook(gazetteer=gazetteer, rows=rows, compounds=compound_points(conn))
