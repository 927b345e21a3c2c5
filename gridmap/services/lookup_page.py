"""The dispatcher's map page of a lookup (``/maps/lookup``, ``gridmap map lookup``), drawn from the one
coverage answer: found (the grid and its card), ambiguous (the grids to choose from) or outside (no grid).
"""

from __future__ import annotations

from dataclasses import dataclass

import folium

from gridmap.crs import to_cgcs2000
from gridmap.errors import AmbiguousLocation, NoCoveringGrid, OutsideServiceArea
from gridmap.maps.lookup import ambiguous_map, lookup_map, outside_map
from gridmap.services.coverage import Cached, OneShot, Query, lookup
from gridmap.storage.db import UNAVAILABLE
from gridmap.storage.mapdata import grid_shapes

#: What the page shows: one grid, several to choose from, or none.
STATES = ("found", "ambiguous", "outside")


@dataclass(frozen=True)
class LookupPage:
    """A rendered lookup map and what it shows."""

    map: folium.Map
    state: str
    codes: tuple[str, ...]


def lookup_page(source: Cached | OneShot, query: Query, *, role: str, tiles: str, edge_m: float) -> LookupPage:
    """Look the query up with :func:`~gridmap.services.coverage.lookup` and draw the result.

    The outlines come from one small query by the answer's codes; which grid, which people and which edge
    are the answer's. A point in no grid (or outside the service area) draws the point and the nearest
    grid's code; an unknown address raises AddressNotFound as the API does.
    """
    try:
        answer = lookup(source, query, role=role)
    except AmbiguousLocation as exc:
        codes = tuple(g["code"] for g in exc.choices["grids"])
        shapes = _shapes(source, exc.choices.get("plan"), codes)
        return LookupPage(ambiguous_map(exc.choices, shapes, detail=exc.detail, tiles=tiles, role=role),
                          "ambiguous", codes)
    except (NoCoveringGrid, OutsideServiceArea) as exc:
        if query.address is not None and getattr(exc, "point", None) is None:
            raise
        lon, lat = _point(query, exc)
        return LookupPage(outside_map(lon, lat, detail=exc.detail, nearest=getattr(exc, "nearest", None),
                                      tiles=tiles), "outside", ())
    codes = (answer["grid"]["code"], *(n["code"] for n in answer["neighbours"]))
    shapes = _shapes(source, answer["grid"]["plan"], codes)
    return LookupPage(lookup_map(answer, shapes, tiles=tiles, role=role, edge_m=edge_m), "found", codes[:1])


def _shapes(source: Cached | OneShot, plan: str | None, codes: tuple[str, ...]):
    """The outlines from the database; while it is away, from the cached index when it is that plan's."""
    try:
        with source.opener() as conn:
            return grid_shapes(conn, plan, list(codes))
    except UNAVAILABLE:
        index = source.cache.index if isinstance(source, Cached) else None
        if index is None or index.data.generation.get("plan") != plan:
            raise
        grids = index.grids
        cols = [c for c in ("code", "name", "community_code", "households", "geometry") if c in grids.columns]
        return grids.loc[grids["code"].astype(str).isin(codes), cols].sort_values("code").reset_index(drop=True)


def _point(query: Query, exc: NoCoveringGrid | OutsideServiceArea) -> tuple[float, float]:
    if query.address is None:
        x, y = to_cgcs2000(query.lon, query.lat, query.crs)
        return float(x), float(y)
    return getattr(exc, "point")
