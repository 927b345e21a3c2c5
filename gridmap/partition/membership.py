"""Membership agrees with geometry: every compound and building lies in the polygon of the grid
it is a member of (metric CRS, per community).

A whole compound's members are the compound and all its buildings; a split compound's are its
buildings, each in its own grid. A compound is measured within its community (the part outside,
refused by the importer beyond a tolerance, belongs to no grid of it). A failure is a violation of
rule ``member_in_grid``: of kind ``building_off_compound`` when the building lies outside its own
compound where no grid of that compound can reach it (inside another compound, or outside the
community), ``overlapping_compounds`` when the part left out lies in another compound, ``locked``
in a locked grid; otherwise ``outside_grid``, a defect.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from gridmap.partition.buildings import ON_M, reach
from gridmap.violations import Violation

RULE = "member_in_grid"
#: Area of a member that may lie outside its grid (the tiling tolerance), m².
TOLERANCE_M2 = 1.0


def _left_out(geom: BaseGeometry, grid: BaseGeometry) -> float:
    """How far a member sticks out of its grid: m² for polygons, m for points."""
    if shapely.get_dimensions(geom) == 0:
        return float(shapely.distance(grid, geom))
    return float(shapely.area(shapely.difference(geom, grid)))


def _fails(geom: BaseGeometry, grid: BaseGeometry) -> bool:
    left = _left_out(geom, grid)
    return left > (ON_M if shapely.get_dimensions(geom) == 0 else TOLERANCE_M2)


def check_members(members: list[dict], grids: dict[str, BaseGeometry], *, community: BaseGeometry,
                  community_code: str, compounds: pd.DataFrame, buildings: pd.DataFrame | None,
                  locked: frozenset[str] | set[str] = frozenset()) -> list[Violation]:
    """The ``member_in_grid`` violations of one community's members (see the module)."""
    comp = dict(zip(compounds["id"].astype(str), compounds.geometry.to_numpy()))
    others = shapely.union_all(compounds.geometry.to_numpy()) if len(compounds) else shapely.Polygon()
    by_compound: dict[str, list[tuple[str, BaseGeometry]]] = {}
    bgeom: dict[str, BaseGeometry] = {}
    if buildings is not None and len(buildings):
        for bid, cid, g in zip(buildings["id"].astype(str), buildings["compound_id"].astype(str),
                               buildings.geometry.to_numpy()):
            by_compound.setdefault(cid, []).append((bid, g))
            bgeom[bid] = g
    shapely.prepare(community)
    out: list[Violation] = []
    for m in members:
        code, cid, bid = m["grid_code"], str(m["compound_id"]), m["building_id"]
        grid = grids.get(code)
        if grid is None or cid not in comp:
            continue
        own = comp[cid]
        todo: list[tuple[str, BaseGeometry]] = []
        if bid is None:
            todo.append((f"compound {cid}", shapely.intersection(own, community)))
            todo.extend((f"building {b} of compound {cid}", g) for b, g in by_compound.get(cid, ()))
        elif str(bid) in bgeom:
            todo.append((f"building {bid} of compound {cid}", bgeom[str(bid)]))
        for name, geom in todo:
            if geom.is_empty or not _fails(geom, grid):
                continue
            out.append(_violation(name, geom, grid, own=own, others=others, community=community, code=code,
                                  community_code=community_code, locked=code in locked))
    return out


def _violation(name: str, geom: BaseGeometry, grid: BaseGeometry, *, own: BaseGeometry, others: BaseGeometry,
               community: BaseGeometry, code: str, community_code: str, locked: bool) -> Violation:
    left = _left_out(geom, grid)
    unit = "m" if shapely.get_dimensions(geom) == 0 else "m2"
    head = f"{name} is a member of grid {code} but lies {left:.1f} {unit} outside its polygon"
    ids = {"rule": RULE, "community_code": community_code, "grid_code": code}
    if locked:
        return Violation(kind="locked", detail=f"{head} (locked grid, left as it is)", **ids)
    rest = shapely.difference(geom, grid)
    off_own = shapely.difference(rest, own)
    is_building = name.startswith("building")
    if is_building and not off_own.is_empty:
        blocked = shapely.difference(others, own)
        where = ("outside the community" if not community.covers(off_own) else
                 "inside another compound" if shapely.intersects(blocked, off_own) else
                 "behind another compound" if _fails(geom, reach(own, np.array([geom], dtype=object),
                                                                 others=blocked, container=community)) else "")
        if where:
            return Violation(kind="building_off_compound", **ids,
                             detail=f"{head}: it lies outside its own compound, {where}, where no grid of its "
                                    f"compound can reach it without taking in what the compound does not hold")
    if not is_building and shapely.area(shapely.difference(rest, shapely.difference(others, own))) <= TOLERANCE_M2:
        return Violation(kind="overlapping_compounds", **ids,
                         detail=f"{head}: the part left out is drawn inside another compound as well")
    return Violation(kind="outside_grid", detail=f"{head} (a defect of the partition)", **ids)

