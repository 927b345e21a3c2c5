"""A "foreign" city for the partition tests: messy but valid data nobody here drew.

Built unlike the Xinwu demo (gridmap/synth.py) and the lattices of partition_fixtures.py:
near 121.5°E 31.2°N (another Gauss–Krüger zone), district 310115, streets turned 30° off
north, and every defect a register made elsewhere has:

- buildings (楼栋) given as points only (optionally a few as small polygons), some at the
  same spot, some on their compound's outline, some a few tens of metres outside it in the
  street (never inside another compound: the importer refuses that);
- a community in two pieces (an exclave block beyond its neighbour);
- a community with a hole, the hole being another community (an enclave);
- compounds touching only at a corner, a compound with a courtyard hole;
- compounds over the grid maximum, to be split along their point buildings.

Everything comes from the ``numpy.random.Generator`` given, so a city is reproducible.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry import Point, box

LON0, LAT0 = 121.5, 31.2
DISTRICT, STREET = "310115", "310115007"
PITCH, ROAD = 170.0, 18.0  # block cell side (with half the roads around it), road width, m
TURN = math.radians(30.0)
_LOCAL = "+proj=tmerc +lon_0=121.5 +lat_0=31.2 +k=1 +x_0=0 +y_0=0 +ellps=GRS80 +units=m +no_defs"
_TO_GEO = Transformer.from_crs(_LOCAL, 4490, always_xy=True)
_NAMES = ["浦东", "金桥", "张江", "花木", "洋泾", "塘桥", "陆家", "潍坊"]


def to_geo(geoms: list) -> np.ndarray:
    """Local metres (streets turned ``TURN``) → EPSG:4490."""
    c, s = math.cos(TURN), math.sin(TURN)
    arr = shapely.transform(np.asarray(geoms, dtype=object), lambda p: p @ np.array([[c, s], [-s, c]]))
    return shapely.transform(arr, lambda p: np.column_stack(_TO_GEO.transform(p[:, 0], p[:, 1])))


def _cell(i: int, j: int) -> shapely.Polygon:
    return box(i * PITCH, j * PITCH, (i + 1) * PITCH, (j + 1) * PITCH)


def _blocks_of(nx: int, ny: int) -> dict[tuple[int, int], str]:
    """Community (its sequence as 3 digits) of each block: columns in pairs; the exclave block
    (0, top) belongs to the second community; the middle block of the third is a fourth."""
    owner = {}
    for i in range(nx):
        for j in range(ny):
            owner[(i, j)] = f"{min(i // 2, 2) + 1:03d}"
    if nx >= 3:
        owner[(0, ny - 1)] = "002"  # exclave of 002 beyond 001
    if nx >= 5 and ny >= 3:
        owner[(min(nx - 2, 5), ny // 2)] = "004"  # enclave: a hole in 003
    return owner


def _compounds_in(block: shapely.Polygon, rng: np.random.Generator, *, kind: str) -> list[shapely.Geometry]:
    """One block's compounds: a corner-touching pair, a courtyard, or 1-3 strips."""
    x0, y0, x1, y1 = block.bounds
    if kind == "corner":
        xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
        return [box(x0, y0, xm, ym), box(xm, ym, x1, y1)]  # they share one point only
    if kind == "courtyard":
        inner = box(x0 + 40, y0 + 40, x1 - 40, y1 - 40)
        return [block.difference(inner)]
    n = int(rng.integers(1, 4))
    cuts = np.sort(rng.uniform(0.25, 0.75, n - 1)) if n > 1 else np.zeros(0)
    edges = np.r_[0.0, cuts, 1.0]
    vertical = bool(rng.integers(0, 2))
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        if vertical:
            out.append(box(x0 + a * (x1 - x0) + 4, y0, x0 + b * (x1 - x0) - 4, y1))
        else:
            out.append(box(x0, y0 + a * (y1 - y0) + 4, x1, y0 + b * (y1 - y0) - 4))
    return out


def _points(compound: shapely.Geometry, n: int, rng: np.random.Generator, *, others: shapely.Geometry,
            community: shapely.Geometry, off: float) -> list[Point]:
    """``n`` building points of a compound: inside, on the outline, at the same spot as the one
    before, or ``off`` of them up to 45 m outside (in the street, inside the community)."""
    x0, y0, x1, y1 = compound.bounds
    out: list[Point] = []
    while len(out) < n:
        roll = rng.random()
        if out and roll < 0.08:
            out.append(out[-1])  # the register gives two buildings one point
            continue
        if roll < 0.15:
            out.append(compound.exterior.interpolate(rng.random(), normalized=True)
                       if compound.geom_type == "Polygon" else compound.representative_point())
            continue
        if roll < 0.15 + off:
            edge = compound.exterior.interpolate(rng.random(), normalized=True)
            centre = compound.centroid
            d = np.array([edge.x - centre.x, edge.y - centre.y])
            d /= max(np.linalg.norm(d), 1e-9)
            p = Point(edge.x + d[0] * rng.uniform(5, 45), edge.y + d[1] * rng.uniform(5, 45))
            if community.contains(p) and not others.intersects(p.buffer(2.0)) and not compound.contains(p):
                out.append(p)
            continue
        p = Point(rng.uniform(x0, x1), rng.uniform(y0, y1))
        if compound.contains(p):
            out.append(p)
    return out


def foreign_city(rng: np.random.Generator, *, nx: int = 7, ny: int = 3, polygons: float = 0.0,
                 off: float = 0.1, big: float = 0.3) -> dict[str, gpd.GeoDataFrame]:
    """The layers (districts, streets, communities, compounds, buildings; EPSG:4490) of a street
    of ``nx`` × ``ny`` blocks. ``polygons``: share of buildings drawn as small squares rather than
    points; ``off``: chance that a building point is placed outside its compound; ``big``:
    share of compounds over the grid maximum (500 households)."""
    owner = _blocks_of(nx, ny)
    cells: dict[str, list] = {}
    for ij, code in owner.items():
        cells.setdefault(code, []).append(_cell(*ij))
    comm_geom = {code: shapely.union_all(v) for code, v in sorted(cells.items())}
    kinds = {(1, 0): "corner", (nx - 1, 0): "courtyard"}
    comp_rows: list[dict] = []
    blocks = sorted(owner.items())
    for (i, j), code in blocks:
        inner = _cell(i, j).buffer(-ROAD / 2, join_style="mitre")
        for k, geom in enumerate(_compounds_in(inner, rng, kind=kinds.get((i, j), "strips"))):
            hh = int(rng.integers(520, 1400)) if rng.random() < big else int(rng.integers(40, 480))
            comp_rows.append({"id": f"X{i}{j}{k}", "name": f"{_NAMES[(i + j + k) % 8]}{i}{j}{k}苑",
                              "community_code": DISTRICT + STREET[6:] + code, "households": hh,
                              "geometry": geom})
    all_compounds = shapely.union_all([r["geometry"] for r in comp_rows])
    bld_rows: list[dict] = []
    for r in comp_rows:
        geom, hh = r["geometry"], r["households"]
        n = int(max(2 if hh > 500 else 1, round(hh / float(rng.uniform(40, 90)))))
        community = comm_geom[r["community_code"][9:]]
        pts = _points(geom, n, rng, others=all_compounds.difference(geom.buffer(0.5)), community=community, off=off)
        share = rng.dirichlet(np.ones(n))
        counts = np.floor(share * hh).astype(int)
        counts[: hh - counts.sum()] += 1
        for b, (p, c) in enumerate(zip(pts, counts)):
            g = p.buffer(6, cap_style="square") if rng.random() < polygons and geom.contains(p.buffer(6)) else p
            bld_rows.append({"id": f"{r['id']}-{b + 1}", "compound_id": r["id"], "households": int(c),
                             "geometry": g})
    gdf = lambda rows: gpd.GeoDataFrame(rows, geometry="geometry", crs=4490)  # noqa: E731
    whole = shapely.union_all(list(comm_geom.values()))
    communities = [{"code": DISTRICT + STREET[6:] + code, "name": f"{_NAMES[int(code) % 8]}社区",
                    "street_code": STREET, "kind": "urban", "geometry": g} for code, g in comm_geom.items()]
    for row in communities:
        row["geometry"] = to_geo([row["geometry"]])[0]
    for row in comp_rows + bld_rows:
        row["geometry"] = to_geo([row["geometry"]])[0]
    return {
        "districts": gdf([{"code": DISTRICT, "name": "浦东新区", "geometry": to_geo([whole])[0]}]),
        "streets": gdf([{"code": STREET, "name": "花木街道", "district_code": DISTRICT,
                         "geometry": to_geo([whole])[0]}]),
        "communities": gdf(communities),
        "compounds": gdf([{**r, "provenance": "synthetic: foreign city"} for r in comp_rows]),
        "buildings": gdf(bld_rows),
    }


def layers_for_partition(city: dict[str, gpd.GeoDataFrame]) -> dict[str, pd.DataFrame]:
    """The layers ``gridmap.partition.partition`` takes, by its argument names."""
    return {"communities": city["communities"], "compounds": city["compounds"], "buildings": city["buildings"]}
