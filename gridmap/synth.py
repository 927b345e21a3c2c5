"""Synthetic cities for tests and benchmarks (合成城市).

A lattice of blocks separated by roads (every fourth line a major road, one
line a river), each block cut into irregular residential compounds
(小区); blocks grouped into communities (社区) of roughly 20-150 compounds
and communities into streets (街道). Compounds that are large get buildings
(楼栋) so that the partitioner's splitting is exercised. Everything is drawn
from the explicit ``numpy.random.Generator`` passed in, so a city is
reproducible; the output is in EPSG:4490 with the columns of
:mod:`gridmap.layers`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import LineString, Polygon, box

from gridmap.domain import STORAGE_EPSG

ORIGIN = (120.4, 31.5)  # lon, lat: near Wuxi 新吴区
DISTRICT_CODE = "320214"
_M_PER_DEG_LAT = 110_540.0
_SYLLABLES = "新光华明春阳和平安康泰兴隆福寿祥瑞丰盛嘉禾美景清溪梅园湖滨云林金城锦绣"


@dataclass(frozen=True)
class Lattice:
    """Geometry of the block lattice in local metres."""

    nx: int
    ny: int
    pitch: float = 220.0  # distance between road centre lines
    road_minor: float = 14.0
    road_major: float = 32.0
    major_every: int = 4
    river_row: int | None = None

    def line_width(self, i: int, vertical: bool) -> float:
        """Width of the road on lattice line ``i``."""
        if not vertical and i == self.river_row:
            return 40.0
        return self.road_major if i % self.major_every == 0 else self.road_minor

    def block(self, i: int, j: int) -> Polygon:
        """Buildable block (inside the roads) of cell column ``i``, row ``j``."""
        x0 = i * self.pitch + self.line_width(i, True) / 2
        x1 = (i + 1) * self.pitch - self.line_width(i + 1, True) / 2
        y0 = j * self.pitch + self.line_width(j, False) / 2
        y1 = (j + 1) * self.pitch - self.line_width(j + 1, False) / 2
        return box(x0, y0, x1, y1)


def _to_lonlat(geoms: np.ndarray) -> np.ndarray:
    """Local metres around ORIGIN -> lon/lat (equirectangular; fine for a few km)."""
    lon0, lat0 = ORIGIN
    kx = 1.0 / (_M_PER_DEG_LAT * 1.00178 * math.cos(math.radians(lat0)))
    return shapely.transform(geoms, lambda c: np.column_stack([lon0 + c[:, 0] * kx, lat0 + c[:, 1] / _M_PER_DEG_LAT]))


def _cut(rect: tuple[float, float, float, float], pieces: int, *, rng: np.random.Generator) -> list[tuple]:
    """Guillotine-cut a rectangle into ``pieces`` rectangles of uneven size."""
    out = [rect]
    while len(out) < pieces:
        out.sort(key=lambda r: (r[2] - r[0]) * (r[3] - r[1]))
        x0, y0, x1, y1 = out.pop()
        t = rng.uniform(0.35, 0.65)
        if x1 - x0 >= y1 - y0:
            xm = x0 + t * (x1 - x0)
            out += [(x0, y0, xm, y1), (xm, y0, x1, y1)]
        else:
            ym = y0 + t * (y1 - y0)
            out += [(x0, y0, x1, ym), (x0, ym, x1, y1)]
    return out


def _compound_shape(rect: tuple, rng: np.random.Generator) -> Polygon:
    """An irregular polygon inside ``rect``: inset, jittered corners, maybe a cut corner."""
    x0, y0, x1, y1 = rect
    inset = rng.uniform(2.0, 7.0)
    x0, y0, x1, y1 = x0 + inset, y0 + inset, x1 - inset, y1 - inset
    j = min(x1 - x0, y1 - y0) * 0.08
    pts = [(x0 + rng.uniform(0, j), y0 + rng.uniform(0, j)), (x1 - rng.uniform(0, j), y0 + rng.uniform(0, j)),
           (x1 - rng.uniform(0, j), y1 - rng.uniform(0, j)), (x0 + rng.uniform(0, j), y1 - rng.uniform(0, j))]
    if rng.random() < 0.4:  # cut one corner to make an L-ish pentagon
        k = int(rng.integers(4))
        a, b, c = pts[k - 1], pts[k], pts[(k + 1) % 4]
        f = rng.uniform(0.2, 0.4)
        pts[k:k + 1] = [(b[0] + f * (a[0] - b[0]), b[1] + f * (a[1] - b[1])),
                        (b[0] + f * (c[0] - b[0]), b[1] + f * (c[1] - b[1]))]
    return Polygon(pts)


def _households(n: int, *, rng: np.random.Generator) -> np.ndarray:
    """Households per compound: log-normal, median ~180, most 100-800, ~5 % over 500."""
    h = rng.lognormal(mean=math.log(180), sigma=0.6, size=n)
    return np.clip(np.round(h), 20, 2400).astype(np.int64)


def _buildings(poly: Polygon, households: int, *, rng: np.random.Generator) -> tuple[list[Polygon], list[int]]:
    """Rows of slab buildings inside ``poly`` sharing its households."""
    n = max(2, int(math.ceil(households / rng.uniform(60, 110))))
    x0, y0, x1, y1 = poly.bounds
    cols = max(1, int(round(math.sqrt(n * (x1 - x0) / max(y1 - y0, 1.0)))))
    rows = int(math.ceil(n / cols))
    dx, dy = (x1 - x0) / cols, (y1 - y0) / rows
    geoms: list[Polygon] = []
    for r in range(rows):
        for c in range(cols):
            if len(geoms) == n:
                break
            cx, cy = x0 + (c + 0.5) * dx, y0 + (r + 0.5) * dy
            b = box(cx - 0.35 * dx, cy - 0.25 * dy, cx + 0.35 * dx, cy + 0.25 * dy).intersection(poly)
            if not b.is_empty and b.area > 1.0:
                geoms.append(b if b.geom_type == "Polygon" else max(b.geoms, key=lambda g: g.area))
    share = rng.dirichlet(np.full(len(geoms), 8.0))
    hh = np.floor(share * households).astype(int)
    hh[: households - hh.sum()] += 1
    return geoms, hh.tolist()


def _communities(nx: int, ny: int, blocks_per: int, *,
                 rng: np.random.Generator) -> list[tuple[int, int, int, int]]:
    """Split the block index lattice into rectangles of about ``blocks_per`` blocks."""
    out, todo = [], [(0, 0, nx, ny)]
    while todo:
        i0, j0, i1, j1 = todo.pop()
        size = (i1 - i0) * (j1 - j0)
        if size <= blocks_per * rng.uniform(0.6, 1.5) or (i1 - i0 == 1 and j1 - j0 == 1):
            out.append((i0, j0, i1, j1))
            continue
        if i1 - i0 >= j1 - j0:
            m = i0 + max(1, int(round((i1 - i0) * rng.uniform(0.35, 0.65))))
            todo += [(i0, j0, m, j1), (m, j0, i1, j1)]
        else:
            m = j0 + max(1, int(round((j1 - j0) * rng.uniform(0.35, 0.65))))
            todo += [(i0, j0, i1, m), (i0, m, i1, j1)]
    return out


def _name(rng: np.random.Generator, suffix: str) -> str:
    return "".join(rng.choice(list(_SYLLABLES), size=2)) + suffix


def synth_city(
    n_compounds: int,
    *,
    rng: np.random.Generator,
    compounds_per_community: int = 60,
    rural_share: float = 0.0,
    building_threshold: int = 400,
) -> dict[str, gpd.GeoDataFrame]:
    """Generate a synthetic city of about ``n_compounds`` compounds.

    Returns layers 'districts', 'streets', 'communities', 'compounds',
    'buildings' and 'barriers' in EPSG:4490. Compounds with more than
    ``building_threshold`` households get buildings. ``rural_share`` of the
    communities are marked 'rural'.
    """
    per_block = 4.0
    n_blocks = max(1, int(math.ceil(n_compounds / per_block)))
    nx = max(1, int(round(math.sqrt(n_blocks))))
    ny = max(1, int(math.ceil(n_blocks / nx)))
    lat = Lattice(nx, ny, river_row=ny // 2 if ny >= 3 else None)
    comm_rects = _communities(nx, ny, max(1, int(round(compounds_per_community / per_block))), rng=rng)
    comm_rects.sort(key=lambda r: (r[0], -r[1]))
    comm_of_block = {}
    for c, (i0, j0, i1, j1) in enumerate(comm_rects):
        for i in range(i0, i1):
            for j in range(j0, j1):
                comm_of_block[(i, j)] = c
    # compounds
    cgeom, ccomm = [], []
    for (i, j), c in sorted(comm_of_block.items()):
        x0, y0, x1, y1 = lat.block(i, j).bounds
        for rect in _cut((x0, y0, x1, y1), int(rng.integers(2, 7)), rng=rng):
            cgeom.append(_compound_shape(rect, rng))
            ccomm.append(c)
    cgeom_arr = np.array(cgeom, dtype=object)
    hh = _households(len(cgeom), rng=rng)
    return _assemble(lat, comm_rects, cgeom_arr, np.array(ccomm), hh, rng=rng, rural_share=rural_share,
                     building_threshold=building_threshold)


def _assemble(lat: Lattice, comm_rects: list, cgeom: np.ndarray, ccomm: np.ndarray, hh: np.ndarray, *,
              rng: np.random.Generator, rural_share: float, building_threshold: int) -> dict[str, gpd.GeoDataFrame]:
    """Turn the metric lattice (communities, compound shapes, their community and households)
    into the interchange layers."""
    p = lat.pitch
    n_comm = len(comm_rects)
    streets_of = np.minimum(np.arange(n_comm) // 12, 998)
    ccodes = [f"{DISTRICT_CODE}{s + 1:03d}{(c % 12) + 1 + 100 * (c // (12 * 999)):03d}" for c, s in enumerate(streets_of)]
    cpolys = np.array([box(i0 * p, j0 * p, i1 * p, j1 * p) for i0, j0, i1, j1 in comm_rects], dtype=object)
    kinds = np.where(rng.random(n_comm) < rural_share, "rural", "urban")
    communities = gpd.GeoDataFrame(
        {"code": ccodes, "name": [_name(rng, "社区") for _ in range(n_comm)],
         "street_code": [c[:9] for c in ccodes], "kind": kinds},
        geometry=_to_lonlat(cpolys), crs=STORAGE_EPSG)
    streets = communities.dissolve(by="street_code", as_index=False)[["street_code", "geometry"]]
    streets = streets.rename(columns={"street_code": "code"})
    streets["name"] = [_name(rng, "街道") for _ in range(len(streets))]
    streets["district_code"] = DISTRICT_CODE
    districts = gpd.GeoDataFrame({"code": [DISTRICT_CODE], "name": ["新吴区"]},
                                 geometry=[shapely.union_all(communities.geometry.values)], crs=STORAGE_EPSG)
    ids = [f"C{k:07d}" for k in range(len(cgeom))]
    compounds = gpd.GeoDataFrame(
        {"id": ids, "name": [_name(rng, "苑") for _ in ids], "community_code": [ccodes[c] for c in ccomm],
         "households": hh}, geometry=_to_lonlat(cgeom), crs=STORAGE_EPSG)
    bid, bcomp, bhh, bgeom = [], [], [], []
    for k in np.flatnonzero(hh > building_threshold):
        geoms, share = _buildings(cgeom[k], int(hh[k]), rng=rng)
        for m, (g, h) in enumerate(zip(geoms, share)):
            bid.append(f"{ids[k]}-B{m + 1:02d}")
            bcomp.append(ids[k])
            bhh.append(h)
            bgeom.append(g)
    buildings = gpd.GeoDataFrame({"id": bid, "compound_id": bcomp, "households": np.array(bhh, dtype=np.int64)},
                                 geometry=_to_lonlat(np.array(bgeom, dtype=object)), crs=STORAGE_EPSG)
    return {"districts": districts, "streets": streets, "communities": communities, "compounds": compounds,
            "buildings": buildings, "barriers": _barriers(lat)}


def _barriers(lat: Lattice) -> gpd.GeoDataFrame:
    """Road centre lines on the lattice lines and one river (water polygon)."""
    p, w, h = lat.pitch, lat.nx * lat.pitch, lat.ny * lat.pitch
    kind, cls, geoms = [], [], []
    for i in range(lat.nx + 1):
        kind.append("road")
        cls.append("primary" if i % lat.major_every == 0 else "residential")
        geoms.append(LineString([(i * p, 0), (i * p, h)]))
    for j in range(lat.ny + 1):
        if j == lat.river_row:
            kind.append("water")
            cls.append("river")
            geoms.append(box(0, j * p - 15, w, j * p + 15))
            continue
        kind.append("road")
        cls.append("secondary" if j % lat.major_every == 0 else "tertiary")
        geoms.append(LineString([(0, j * p), (w, j * p)]))
    return gpd.GeoDataFrame({"kind": kind, "class": cls}, geometry=_to_lonlat(np.array(geoms, dtype=object)),
                            crs=STORAGE_EPSG)
