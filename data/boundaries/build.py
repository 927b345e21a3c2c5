"""Build the demo interchange GeoPackages of gridmap from the raw data in ../shared/data.

Run from anywhere::

    python data/boundaries/build.py                   # -> data/boundaries/xinwu.gpkg
    python data/boundaries/build.py --district tunxi  # -> data/boundaries/tunxi.gpkg

Xinwu (江苏省无锡市新吴区) is built from real data: the OSM-derived district
outline, OSM roads and water, EULUC-China residential parcels (one compound
per parcel) and the official street/community codes. Street and community
polygons are *derived*; households, buildings, addresses, service points,
staff and party organisations are *synthetic*. Tunxi (安徽省黄山市屯溪区) is a
sparser synthetic city laid inside the real (coarse) outline with the real
street and community names and codes.

Every feature carries a ``provenance`` text ('real: ...', 'derived: ...' or
'synthetic: ...'); see README.md in this folder for the layer and column
reference. The build is deterministic: every random draw comes from a
``numpy.random.Generator`` seeded from SEED and the name of the stage.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from scipy.optimize import linear_sum_assignment
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon, box
from tqdm import tqdm

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent.parent
if str(PROJECT_ROOT) not in sys.path:  # run as a script: the vocabulary comes from the package beside it
    sys.path.insert(0, str(PROJECT_ROOT))

from gridmap.domain import ROLE_ZH, STORAGE_EPSG  # noqa: E402
from gridmap.interchange.layers import IMPORT_ORDER  # noqa: E402

SEED = 20240611
GRID = 1e-4  # snapping grid (metres) of all overlay operations in the metric CRS

#: Persons per household assumed to turn census residents into households.
PERSONS_PER_HOUSEHOLD = 2.5

#: Density assumptions (before calibration): gross floor-area ratio of a
#: residential parcel and gross floor area per dwelling (m², incl. common parts).
FAR = {"urban": 1.2, "rural": 0.5}
DWELLING_M2 = {"urban": 95.0, "rural": 140.0}
HOUSEHOLDS_PER_BUILDING = 90  # target; buildings get 60-120 households where space allows
HOUSEHOLDS_PER_GRID = 400  # used to size the staff roster

#: OSM highway classes dropped from the barriers layer (minor, keep the file small).
MINOR_HIGHWAYS = ("footway", "path", "steps", "cycleway", "service", "track")
#: Road classes and water area that cut the district into blocks for the streets.
STREET_CUT_HIGHWAYS = ("motorway", "trunk", "primary", "secondary")
STREET_CUT_WATER_M2 = 20_000


@dataclass(frozen=True)
class DistrictConfig:
    """What differs between the demo districts."""

    key: str
    code: str
    name: str
    folder: str
    outline_file: str
    outline_source: str
    metric_epsg: int
    residents: int  # census residents used to calibrate households
    area_code: str  # telephone area code for synthetic office numbers
    phone_block: str  # 7-digit prefix of the synthetic mobile numbers
    #: statistical units that are not streets (功能区) -> hosting street code
    virtual_hosts: dict[str, str] = field(default_factory=dict)
    real_parcels: bool = True
    #: if set, 街道 cells are capped at this distance from their seed and the rest goes to
    #: the 镇 (towns), so that urban streets stay urban-sized (used for the synthetic city)
    urban_street_radius_m: float | None = None


DISTRICTS = {
    "xinwu": DistrictConfig(
        key="xinwu",
        code="320214",
        name="新吴区",
        folder="xinwu",
        outline_file="district_outline_osm_derived_wgs84.geojson",
        outline_source="OSM-derived district outline (ODbL, © OpenStreetMap contributors)",
        metric_epsg=4549,
        residents=760_000,
        area_code="0510",
        phone_block="1990000",
        virtual_hosts={
            "320214450": "320214050",  # 无锡新加坡工业园 -> 旺庄街道
            "320214451": "320214052",  # 无锡高新技术产业开发区 -> 江溪街道
            "320214452": "320214051",  # 无锡高新区综合保税区 -> 硕放街道 (airport)
            "320214453": "320214053",  # 无锡太湖国际科技园 -> 新安街道
        },
    ),
    "tunxi": DistrictConfig(
        key="tunxi",
        code="341002",
        name="屯溪区",
        folder="tunxi",
        outline_file="district_boundary_tianditu_cgcs2000.geojson",
        outline_source="天地图 official district outline (coarse)",
        metric_epsg=4548,
        residents=250_000,
        area_code="0559",
        phone_block="1990001",
        real_parcels=False,
        urban_street_radius_m=2200.0,
    ),
}


def rng_for(stage: str) -> np.random.Generator:
    """An independent, reproducible generator for one stage of the build."""
    return np.random.default_rng([SEED, zlib.crc32(stage.encode("utf-8"))])


# --------------------------------------------------------------------------
# geometry helpers
# --------------------------------------------------------------------------


def polygonal(geom) -> MultiPolygon:
    """The polygonal part of ``geom`` as a MultiPolygon (possibly empty)."""
    if geom is None or geom.is_empty:
        return MultiPolygon()
    if geom.geom_type == "Polygon":
        return MultiPolygon([geom])
    if geom.geom_type == "MultiPolygon":
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return polygonal(shapely.union_all(parts, grid_size=GRID)) if parts else MultiPolygon()


def union(geoms) -> MultiPolygon:
    """Snapped union of polygons."""
    geoms = [g for g in geoms if g is not None and not g.is_empty]
    return polygonal(shapely.union_all(geoms, grid_size=GRID)) if geoms else MultiPolygon()


def inter(a, b) -> MultiPolygon:
    return polygonal(shapely.intersection(a, b, grid_size=GRID))


def diff(a, b) -> MultiPolygon:
    if b is None or b.is_empty:
        return polygonal(a)
    return polygonal(shapely.difference(a, b, grid_size=GRID))


def shared_length(a, b) -> float:
    """Length of the common boundary of two polygons."""
    return shapely.intersection(a.boundary, b.boundary, grid_size=GRID).length


def voronoi_cells(points: np.ndarray, extent) -> list:
    """Voronoi cells of ``points`` (n×2, unique) in input order, covering ``extent``."""
    vor = shapely.voronoi_polygons(MultiPoint(points), extend_to=extent, ordered=True)
    return list(vor.geoms)


def fix_contiguity(geoms: list, weight, label: str) -> list:
    """Make every tile one contiguous polygon, keeping the tiling exact.

    Detached parts of a tile (all but the part with the highest ``weight(i,
    part)``) are merged into the neighbouring tile with which they share the
    longest boundary. Returns the new list of MultiPolygons.
    """
    geoms = [polygonal(g) for g in geoms]
    for _ in range(100):
        moved = 0
        tree = shapely.STRtree(geoms)
        for i in range(len(geoms)):
            parts = list(shapely.get_parts(geoms[i]))
            if len(parts) <= 1:
                continue
            main = max(range(len(parts)), key=lambda k: (weight(i, parts[k]), parts[k].area))
            keep = [parts[main]]
            for k, part in enumerate(parts):
                if k == main:
                    continue
                best, best_len = None, 0.0
                for j in tree.query(part, predicate="intersects"):
                    if j != i:
                        length = shared_length(part, geoms[j])
                        if length > best_len:
                            best, best_len = int(j), length
                if best is None:
                    keep.append(part)  # isolated (no neighbour): cannot move
                    continue
                geoms[best] = union([geoms[best], part])
                moved += 1
            geoms[i] = MultiPolygon(keep)
        if moved == 0:
            break
    bad = [i for i, g in enumerate(geoms) if len(shapely.get_parts(g)) > 1]
    if bad:
        print(f"  warning: {label}: {len(bad)} tiles still in several parts", file=sys.stderr)
    return geoms


def exact_partition(container, groups: list) -> list:
    """Clip ``groups`` (possibly overlapping polygons) into an exact tiling of ``container``.

    Each group takes what earlier groups left; the last takes the remainder.
    """
    out, taken = [], MultiPolygon()
    for g in groups[:-1]:
        piece = diff(inter(g, container), taken)
        out.append(piece)
        taken = union([taken, piece])
    out.append(diff(container, taken))
    return out


def kmeans(xy: np.ndarray, w: np.ndarray, k: int, rng: np.random.Generator, n_init: int = 6) -> np.ndarray:
    """Weighted Lloyd's k-means with k-means++ seeding; every cluster is non-empty."""
    n = len(xy)
    if k >= n:
        return np.arange(n) % k
    p0 = w / w.sum()
    best, best_cost = None, np.inf
    for _ in range(n_init):
        centres = [xy[rng.choice(n, p=p0)]]
        for _ in range(1, k):
            d2 = np.min(((xy[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
            p = w * d2
            centres.append(xy[rng.choice(n, p=p / p.sum())] if p.sum() > 0 else xy[rng.choice(n)])
        c = np.array(centres, dtype=float)
        for _ in range(100):
            d2 = ((xy[:, None, :] - c[None]) ** 2).sum(-1)
            lab = d2.argmin(1)
            new = c.copy()
            for j in range(k):
                m = lab == j
                if m.any():
                    new[j] = np.average(xy[m], axis=0, weights=w[m])
            if np.allclose(new, c):
                break
            c = new
        cost = float((w * d2[np.arange(n), lab]).sum())
        if cost < best_cost:
            best, best_cost = lab.copy(), cost
    lab = best
    for _ in range(k):  # give empty clusters the point farthest from its centre
        counts = np.bincount(lab, minlength=k)
        empty = np.flatnonzero(counts == 0)
        if not len(empty):
            break
        big = int(counts.argmax())
        members = np.flatnonzero(lab == big)
        centre = xy[members].mean(0)
        far = members[((xy[members] - centre) ** 2).sum(1).argmax()]
        lab[far] = empty[0]
    return lab


def rebalance(xy: np.ndarray, w: np.ndarray, lab: np.ndarray, k: int, floor: float = 0.4) -> np.ndarray:
    """Grow clusters lighter than ``floor`` × the mean weight by taking the nearest parcels of
    heavier clusters (which keep at least one parcel and stay above the floor)."""
    lab = lab.copy()
    target = w.sum() / k
    for _ in range(len(xy)):
        load = np.bincount(lab, weights=w, minlength=k)
        counts = np.bincount(lab, minlength=k)
        j = int(load.argmin())
        if load[j] >= floor * target:
            break
        centre = np.average(xy[lab == j], axis=0, weights=w[lab == j])
        ok = (lab != j) & (counts[lab] > 1) & (load[lab] - w > floor * target)
        if not ok.any():
            break
        cand = np.flatnonzero(ok)
        lab[cand[((xy[cand] - centre) ** 2).sum(1).argmin()]] = j
    return lab


# --------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------


@dataclass
class Sources:
    """Raw inputs of one district, geometry in the metric CRS."""

    cfg: DistrictConfig
    admin: pd.DataFrame
    outline: MultiPolygon
    seeds: gpd.GeoDataFrame  # street_code, geometry
    roads: gpd.GeoDataFrame | None
    water: gpd.GeoDataFrame | None
    parcels: gpd.GeoDataFrame | None  # residential parcels: parcel_id, geometry
    others: gpd.GeoDataFrame | None  # non-residential land-use parcels: cls, geometry


def read_wgs84(path: Path, epsg: int) -> gpd.GeoDataFrame:
    """Read a file; WGS84 input is taken as CGCS2000 (within ~1 m), then projected."""
    gdf = gpd.read_file(path)
    gdf = gdf.set_crs(STORAGE_EPSG, allow_override=True)
    return gdf.to_crs(epsg)


def load_sources(src: Path, cfg: DistrictConfig) -> Sources:
    """Load and project the raw files of ``cfg``."""
    folder = src / cfg.folder
    admin = pd.read_csv(folder / "admin_streets_communities_stats2023.csv", dtype=str)
    outline_gdf = read_wgs84(folder / cfg.outline_file, cfg.metric_epsg)
    outline = polygonal(shapely.set_precision(outline_gdf.union_all(), GRID))
    seeds = read_wgs84(folder / "township_seed_points_osmchina.geojson", cfg.metric_epsg)
    names = admin.drop_duplicates("street_code").set_index("street_name")["street_code"]
    seeds["street_code"] = seeds["addr_4"].map(names)
    if seeds["street_code"].isna().any():
        raise SystemExit(f"seed points without a street in the csv: {list(seeds.addr_4[seeds.street_code.isna()])}")
    seeds = seeds[["street_code", "geometry"]].sort_values("street_code").reset_index(drop=True)
    roads = water = parcels = others = None
    if cfg.real_parcels:
        roads = read_wgs84(folder / "osm_road_centerlines_wgs84.geojson", cfg.metric_epsg)
        water = read_wgs84(folder / "osm_water_wgs84.geojson", cfg.metric_epsg)
        land = read_wgs84(folder / "euluc_land_use_wgs84.geojson", cfg.metric_epsg)
        land["geometry"] = [inter(shapely.set_precision(g, GRID), outline) for g in land.geometry]
        land = land[~land.geometry.is_empty]
        res = land[land["Class"].astype(int) == 0].copy()
        res["parcel_id"] = res.index.astype(int)
        parcels = res[["parcel_id", "geometry"]].reset_index(drop=True)
        others = land[land["Class"].astype(int) != 0].rename(columns={"Class": "cls"})[["cls", "geometry"]]
        others = others.reset_index(drop=True)
    return Sources(cfg, admin, outline, seeds, roads, water, parcels, others)


# --------------------------------------------------------------------------
# streets
# --------------------------------------------------------------------------


def street_cuts(s: Sources):
    """Lines along which street boundaries may run: major roads and large water."""
    lines = []
    if s.roads is not None:
        major = s.roads[s.roads["highway"].isin(STREET_CUT_HIGHWAYS)]
        lines += list(major.geometry)
    if s.water is not None:
        big = s.water[s.water.area > STREET_CUT_WATER_M2]
        lines += [g.boundary for g in big.geometry]
    return lines


def build_streets(s: Sources) -> list:
    """Street polygons (aligned with s.seeds) that tile the outline exactly.

    Voronoi cells of the seed points, snapped to blocks cut by major roads and
    water: each block goes whole to the cell that covers most of it.
    """
    seeds_xy = np.array([[p.x, p.y] for p in s.seeds.geometry])
    cells = voronoi_cells(seeds_xy, s.outline.envelope.buffer(5000))
    cells = [inter(c, s.outline) for c in cells]
    if s.cfg.urban_street_radius_m:
        cells = cap_urban_streets(s, cells, seeds_xy)
    lines = street_cuts(s)
    if lines:
        clip = s.outline.buffer(1)
        lines = [shapely.intersection(g, clip) for g in lines]
        net = shapely.union_all([s.outline.boundary, *lines], grid_size=GRID)
        faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(net)))
        faces = faces[shapely.area(faces) > 0]
        faces = faces[shapely.contains(s.outline, shapely.point_on_surface(faces))]
        share = np.column_stack([shapely.area(shapely.intersection(faces, c)) for c in cells])
        label = share.argmax(1)
        groups = [union(faces[label == i]) for i in range(len(cells))]
    else:
        groups = cells
    streets = exact_partition(s.outline, groups)
    seeds = list(s.seeds.geometry)
    return fix_contiguity(streets, lambda i, part: float(part.contains(seeds[i])), "streets")


def cap_urban_streets(s: Sources, cells: list, seeds_xy: np.ndarray) -> list:
    """Cap 街道 cells at urban_street_radius_m from their seed; towns (镇) share the rest."""
    names = s.seeds["street_code"].map(s.admin.drop_duplicates("street_code").set_index("street_code")["street_name"])
    town = names.str.endswith("镇").to_numpy()
    if town.all() or not town.any():
        return cells
    capped = [c if town[i] else inter(c, Point(seeds_xy[i]).buffer(s.cfg.urban_street_radius_m))
              for i, c in enumerate(cells)]
    rest = diff(s.outline, union(capped))
    town_idx = np.flatnonzero(town)
    town_cells = voronoi_cells(seeds_xy[town_idx], s.outline.envelope.buffer(5000))
    for i, tc in zip(town_idx, town_cells):
        capped[i] = union([capped[i], inter(rest, tc)])
    return capped


def settle_parcels(streets: list, parcels: gpd.GeoDataFrame) -> tuple[list, np.ndarray]:
    """Give each residential parcel wholly to the street holding most of it.

    Returns the adjusted streets (still an exact tiling) and the street index
    of every parcel.
    """
    geoms = np.array(parcels.geometry)
    share = np.column_stack([shapely.area(shapely.intersection(geoms, st)) for st in streets])
    label = share.argmax(1)
    all_parcels = union(geoms)
    out = [union([diff(st, all_parcels), *geoms[label == i]]) for i, st in enumerate(streets)]
    res_area = lambda i, part: float(shapely.area(shapely.intersection(geoms[label == i], part)).sum())
    out = fix_contiguity(out, res_area, "streets")
    share = np.column_stack([shapely.area(shapely.intersection(geoms, st)) for st in out])
    return out, share.argmax(1)


# --------------------------------------------------------------------------
# synthetic city (districts without land-use data)
# --------------------------------------------------------------------------

BLOCK_PITCH = 300.0  # m between road centre lines of the generated lattice
NONRES_CLASSES = (1, 2, 3, 6, 7, 9, 10)  # EULUC-style classes of generated non-residential blocks


def lattice_blocks(centre: np.ndarray, radius: float, rng: np.random.Generator, pitch: float = BLOCK_PITCH):
    """Blocks and road lines of a lattice city of ``radius`` around ``centre``.

    Returns (blocks, distance share 0..1 of each block, road lines with their class).
    """
    n = int(radius // pitch) + 1
    edge = radius * (1 + 0.15 * np.sin(np.linspace(0, 6 * np.pi, 64) + rng.uniform(0, 6.3)))
    ang = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    area = Polygon(np.column_stack([centre[0] + edge * np.cos(ang), centre[1] + edge * np.sin(ang)]))
    blocks, dist = [], []
    for i in range(-n, n):
        for j in range(-n, n):
            x0, y0 = centre[0] + i * pitch, centre[1] + j * pitch
            major = (i % 3 == 0, (i + 1) % 3 == 0, j % 3 == 0, (j + 1) % 3 == 0)
            half = [12 if m else 6 for m in major]
            b = box(x0 + half[0], y0 + half[2], x0 + pitch - half[1], y0 + pitch - half[3])
            if area.contains(b.centroid):
                blocks.append(b)
                dist.append(float(np.hypot(*(np.array(b.centroid.coords[0]) - centre))) / radius)
    lines = []
    for i in range(-n, n + 1):
        for vertical in (True, False):
            c = centre[0 if vertical else 1] + i * pitch
            seg = ([(c, centre[1] - radius * 1.3), (c, centre[1] + radius * 1.3)] if vertical
                   else [(centre[0] - radius * 1.3, c), (centre[0] + radius * 1.3, c)])
            line = shapely.intersection(shapely.LineString(seg), area)
            if not line.is_empty:
                lines.append((line, "secondary" if i % 3 == 0 else "residential"))
    return blocks, np.array(dist), lines


def guillotine(rect, pieces: int, rng: np.random.Generator) -> list:
    """Cut a block into ``pieces`` parcels with 10 m internal lanes."""
    out = [rect]
    while len(out) < pieces:
        out.sort(key=lambda r: r.area)
        x0, y0, x1, y1 = out.pop().bounds
        t = rng.uniform(0.35, 0.65)
        if x1 - x0 >= y1 - y0:
            xm = x0 + t * (x1 - x0)
            out += [box(x0, y0, xm - 5, y1), box(xm + 5, y0, x1, y1)]
        else:
            ym = y0 + t * (y1 - y0)
            out += [box(x0, y0, x1, ym - 5), box(x0, ym + 5, x1, y1)]
    return out


def village_parcels(centre: np.ndarray, rng: np.random.Generator) -> list:
    """3-7 irregular hamlet parcels (10,000-40,000 m²) within ~500 m of a village centre."""
    out = []
    for _ in range(int(rng.integers(3, 8))):
        c = centre + rng.normal(0, 250, 2)
        r = math.sqrt(rng.uniform(10_000, 40_000) / math.pi)
        ang = np.sort(rng.uniform(0, 2 * np.pi, 9))
        rad = r * rng.uniform(0.75, 1.25, 9)
        out.append(Polygon(np.column_stack([c[0] + rad * np.cos(ang), c[1] + rad * np.sin(ang)])).convex_hull)
    return out


def city_lattices(s: Sources, centres: list, keep_out, rng: np.random.Generator):
    """Residential parcels, other blocks and roads of the lattice core and town centres."""
    res, oth, roads = [], [], []
    core = centres[0][0]
    for centre, radius in centres:
        blocks, dist, lines = lattice_blocks(centre, radius, rng)
        roads += lines
        for b, d in zip(blocks, dist):
            b = diff(inter(b, s.outline), keep_out)
            if b.area < 8_000:
                continue
            if rng.random() < 0.8 - 0.4 * d:  # denser housing near the centre
                res += guillotine(b.envelope, int(rng.integers(1, 4)), rng)
            else:
                oth.append((int(rng.choice(NONRES_CLASSES)), b))
        roads.append((shapely.LineString([centre, core]), "primary"))
    return res, oth, roads


def city_villages(s: Sources, streets: list, comms: pd.DataFrame, core: np.ndarray, rng: np.random.Generator):
    """One hamlet cluster per village (村) inside its town, away from the core, with a road."""
    res, roads = [], []
    seeds = np.array([[p.x, p.y] for p in s.seeds.geometry])
    for code, geom, centre in zip(s.seeds["street_code"], streets, seeds):
        n = int(((comms["street_code"] == code) & (comms["kind"] == "rural")).sum())
        inner, placed = geom.buffer(-400), []
        for _ in range(n):
            for _ in range(500):
                x0, y0, x1, y1 = geom.bounds
                p = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
                if (inner.contains(Point(p)) and np.hypot(*(p - core)) > 3500
                        and all(np.hypot(*(p - q)) > 1200 for q in placed)):
                    break
            placed.append(p)
            res += village_parcels(p, rng)
            roads.append((shapely.LineString([p, centre]), "tertiary"))
    return res, roads


def synthesize_city(s: Sources, streets: list, comms: pd.DataFrame, rng: np.random.Generator) -> None:
    """Fill s.parcels/others/roads/water with a generated city inside the real outline.

    A lattice core around the 街道 seeds, small lattice centres at the 镇
    seeds, one hamlet cluster per village (村) in its town, a schematic
    river and connecting roads. Everything here is synthetic.
    """
    names = s.admin.drop_duplicates("street_code").set_index("street_code")["street_name"]
    seeds = np.array([[p.x, p.y] for p in s.seeds.geometry])
    is_town = s.seeds["street_code"].map(names).str.endswith("镇").to_numpy()
    core = seeds[~is_town].mean(0)
    xs = np.linspace(s.outline.bounds[0] - 1000, s.outline.bounds[2] + 1000, 200)
    river_line = shapely.LineString(np.column_stack([xs, core[1] - 900 + 350 * np.sin((xs - core[0]) / 1800)]))
    river = inter(river_line.buffer(75), s.outline)
    keep_out = river.buffer(30)
    centres = [(core, 2600.0)] + [(c, 800.0) for c in seeds[is_town]]
    res, oth, roads = city_lattices(s, centres, keep_out, rng)
    hamlets, village_roads = city_villages(s, streets, comms, core, rng)
    res = [g for g in (diff(inter(r, s.outline), keep_out) for r in res + hamlets) if g.area > 1_000]
    res = [diff(g, union(res[:i])) for i, g in enumerate(res)]  # hamlets may overlap
    res = [g for g in res if g.area > 1_000]
    crs = s.cfg.metric_epsg
    s.parcels = gpd.GeoDataFrame({"parcel_id": range(1, len(res) + 1)}, geometry=res, crs=crs)
    s.others = gpd.GeoDataFrame({"cls": [c for c, _ in oth]}, geometry=[g for _, g in oth], crs=crs)
    lines = [(inter_line(g, s.outline), h) for g, h in roads + village_roads]
    lines = [(g, h) for g, h in lines if not g.is_empty]
    s.roads = gpd.GeoDataFrame({"highway": [h for _, h in lines], "osm_id": None},
                               geometry=[g for g, _ in lines], crs=crs)
    s.water = gpd.GeoDataFrame({"water": ["river"], "waterway": [None], "name": ["新安江"]},
                               geometry=[river], crs=crs)


def inter_line(line, area):
    """Part of a line inside ``area`` (as a LineString or MultiLineString)."""
    g = shapely.intersection(line, area)
    parts = [p for p in shapely.get_parts(g) if p.geom_type == "LineString" and p.length > 0]
    return shapely.line_merge(shapely.MultiLineString(parts)) if parts else shapely.LineString()


# --------------------------------------------------------------------------
# communities
# --------------------------------------------------------------------------

RURAL_MARKERS = ("村民委员会", "村委会")
INDUSTRIAL_MARKERS = ("工业", "园区", "科创城", "工博园", "发展园", "开发区", "虚拟社区", "保税区", "科技园")


def community_kind(name: str) -> str:
    """'rural' for a village committee (村民委员会/村委会 or a name ending in 村), else 'urban'."""
    return "rural" if any(m in name for m in RURAL_MARKERS) or name.endswith("村") else "urban"


def short_name(name: str) -> str:
    """新光社区居民委员会 -> 新光社区; 梅村村民委员会 -> 梅村; 永新村民委员会 -> 永新村."""
    for suffix in ("村民委员会", "村委会"):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            return base if base.endswith("村") else base + "村"
    for suffix in ("居民委员会", "居委会"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def community_role(code: str, name: str) -> str:
    """'rural', 'industrial' (park/virtual communities) or 'urban', used to place clusters."""
    if community_kind(name) == "rural":
        return "rural"
    if code[9:] >= "400" or any(m in name for m in INDUSTRIAL_MARKERS):
        return "industrial"
    return "urban"


def split_parcel(geom, rng: np.random.Generator) -> list:
    """Cut a parcel in two across its longest axis (used only when a street has too few parcels)."""
    rect = geom.minimum_rotated_rectangle
    xy = np.asarray(rect.exterior.coords)[:4]
    e1, e2 = xy[1] - xy[0], xy[2] - xy[1]
    axis = e1 if np.hypot(*e1) >= np.hypot(*e2) else e2
    c = np.asarray(geom.centroid.coords[0]) + axis * rng.uniform(-0.1, 0.1)
    normal = np.array([-axis[1], axis[0]]) / np.hypot(*axis)
    big = 10 * np.hypot(*axis)
    d = axis / np.hypot(*axis) * big
    half = Polygon([c + normal * big - d, c + normal * big + d, c + d, c - d])
    a, b = inter(geom, half), diff(geom, half)
    return [p for p in (a, b) if not p.is_empty]


def ensure_parcels(parcels: gpd.GeoDataFrame, k: int, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Split the largest parcels until there are at least ``k`` of them."""
    rows = list(parcels[["parcel_id", "geometry"]].itertuples(index=False, name=None))
    rows = [(pid, g, False) for pid, g in rows]
    while len(rows) < k:
        i = max(range(len(rows)), key=lambda r: rows[r][1].area)
        pid, g, _ = rows.pop(i)
        rows += [(pid, piece, True) for piece in split_parcel(g, rng)]
    return gpd.GeoDataFrame(rows, columns=["parcel_id", "geometry", "split"], geometry="geometry",
                            crs=parcels.crs)


def sample_boundary(geoms, labels: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``spacing`` m along polygon boundaries, with the label of their polygon."""
    pts, labs = [], []
    for g, lab in zip(geoms, labels):
        xy = shapely.get_coordinates(shapely.segmentize(g.boundary, spacing))
        pts.append(xy)
        labs.append(np.full(len(xy), lab))
    xy, lab = np.vstack(pts), np.concatenate(labs)
    _, first = np.unique(np.round(xy, 2), axis=0, return_index=True)
    first = np.sort(first)
    return xy[first], lab[first]


def cluster_regions(street, parcels: gpd.GeoDataFrame, labels: np.ndarray, k: int) -> list:
    """Voronoi regions of the clusters: every point of the street goes to the nearest parcel edge."""
    perimeter = float(parcels.geometry.length.sum())
    spacing = max(10.0, perimeter / 12_000)
    xy, lab = sample_boundary(parcels.geometry, labels, spacing)
    cells = np.array(voronoi_cells(xy, street.envelope.buffer(2000)), dtype=object)
    return [inter(union(cells[lab == j]), street) for j in range(k)]


def match_clusters(comms: pd.DataFrame, feats: pd.DataFrame) -> np.ndarray:
    """Which cluster each community gets (Hungarian assignment on plausibility costs).

    Villages prefer peripheral, sparse clusters; park/virtual communities the
    most industrial ones; urban communities follow a walk through the clusters
    in code order, so numbered siblings (春潮园第一/第二社区 ...) are neighbours.
    """
    k = len(comms)
    rank = lambda v: (pd.Series(v).rank(method="first").to_numpy() - 1) / max(k - 1, 1)
    far, sparse, ind = rank(feats["dist"]), 1 - rank(feats["density"]), rank(feats["industrial"])
    walk = rank(feats["walk"])
    cost = np.zeros((k, k))
    for c, role in enumerate(comms["role"]):
        if role == "rural":
            cost[c] = 10 * (2 - far - sparse)
        elif role == "industrial":
            cost[c] = 10 * (1 - ind)
        else:
            cost[c] = np.abs(c / max(k - 1, 1) - walk) + 3 * ind
    rows, cols = linear_sum_assignment(cost)
    out = np.empty(k, dtype=int)
    out[rows] = cols
    return out


def cluster_features(parcels, labels, regions, others, seed_xy) -> pd.DataFrame:
    """Distance to the street seed, residential density and industrial share of each cluster."""
    k = len(regions)
    cent = np.array([p.coords[0] for p in parcels.geometry.centroid])
    w = parcels.geometry.area.to_numpy()
    rows = []
    for j in range(k):
        m = labels == j
        c = np.average(cent[m], axis=0, weights=w[m])
        area = max(regions[j].area, 1.0)
        ind = 0.0
        if others is not None and len(others):
            ind_geoms = others.geometry[others["cls"].astype(int).isin([3, 4, 5])].to_numpy()
            ind = float(shapely.area(shapely.intersection(ind_geoms, regions[j])).sum()) / area
        rows.append({"x": c[0], "y": c[1], "dist": float(np.hypot(*(c - seed_xy))),
                     "density": w[m].sum() / area, "industrial": ind})
    feats = pd.DataFrame(rows)
    # greedy walk from the cluster nearest the seed
    order, left = [int(feats["dist"].idxmin())], set(range(k))
    left.discard(order[0])
    while left:
        last = feats.loc[order[-1], ["x", "y"]].to_numpy(dtype=float)
        nxt = min(left, key=lambda j: float(np.hypot(*(feats.loc[j, ["x", "y"]].to_numpy(dtype=float) - last))))
        order.append(nxt)
        left.discard(nxt)
    feats["walk"] = pd.Series(range(k), index=order).sort_index()
    return feats


def street_communities(street, parcels: gpd.GeoDataFrame, others: gpd.GeoDataFrame | None,
                       comms: pd.DataFrame, seed: Point, rng: np.random.Generator):
    """Community polygons of one street (aligned with ``comms``) and each parcel's community.

    Residential parcels are clustered (area-weighted k-means) into as many
    groups as the street has communities; non-residential parcels and the
    open space between parcels go to the nearest cluster (Voronoi of points
    on the parcel edges), so no parcel is ever cut.
    """
    k = len(comms)
    parcels = ensure_parcels(parcels, k, rng).reset_index(drop=True)
    xy = np.array([p.coords[0] for p in parcels.geometry.representative_point()])
    area = parcels.geometry.area.to_numpy()
    labels = rebalance(xy, area, kmeans(xy, area, k, rng), k)
    regions = cluster_regions(street, parcels, labels, k)
    oth = None
    if others is not None:
        cand = others.iloc[others.sindex.query(street, predicate="intersects")]
        geoms = [inter(g, street) for g in cand.geometry]
        oth = gpd.GeoDataFrame({"cls": cand["cls"].to_numpy()}, geometry=geoms, crs=others.crs)
        oth = oth[oth.area > 100].reset_index(drop=True)
        share = np.column_stack([shapely.area(shapely.intersection(oth.geometry.values, r)) for r in regions])
        oth["cluster"] = share.argmax(1)
    feats = cluster_features(parcels, labels, regions, oth, np.array(seed.coords[0]))
    match = match_clusters(comms, feats)
    units = list(parcels.geometry) + ([] if oth is None else list(oth.geometry))
    free = diff(street, union(units))
    groups = []
    for j in match:
        members = list(parcels.geometry[labels == j])
        if oth is not None:
            members += list(oth.geometry[oth["cluster"] == j])
        groups.append(union([*members, inter(regions[j], free)]))
    geoms = exact_partition(street, groups)
    res = parcels.geometry.to_numpy()
    weight = lambda i, part: float(shapely.area(shapely.intersection(res, part)).sum())
    geoms = fix_contiguity(geoms, weight, f"communities of {comms['street_code'].iloc[0]}")
    share = np.column_stack([shapely.area(shapely.intersection(res, g)) for g in geoms])
    parcels["community"] = share.argmax(1)
    return geoms, parcels


def build_communities(s: Sources, streets: list, street_of_parcel: np.ndarray, comms: pd.DataFrame):
    """Community polygons for every street, and the residential parcels with their community code."""
    geoms = {}
    out_parcels = []
    codes = list(s.seeds["street_code"])
    for i, code in enumerate(tqdm(codes, desc="communities", unit="street")):
        cs = comms[comms["street_code"] == code].reset_index(drop=True)
        ps = s.parcels[street_of_parcel == i]
        g, ps = street_communities(streets[i], ps, s.others, cs, s.seeds.geometry[i], rng_for(f"communities-{code}"))
        for c, geom in zip(cs["code"], g):
            geoms[c] = geom
        ps["community_code"] = cs["code"].to_numpy()[ps["community"].to_numpy()]
        out_parcels.append(ps.drop(columns="community"))
    parcels = pd.concat(out_parcels, ignore_index=True)
    return geoms, gpd.GeoDataFrame(parcels, geometry="geometry", crs=s.parcels.crs)


def admin_tables(s: Sources) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Streets (those with a seed point) and communities; virtual units move to their host street."""
    a = s.admin.copy()
    a["stat_unit_code"] = None
    a["stat_unit_name"] = None
    for unit, host in s.cfg.virtual_hosts.items():
        m = a["street_code"] == unit
        a.loc[m, "stat_unit_code"] = unit
        a.loc[m, "stat_unit_name"] = a.loc[m, "street_name"]
        a.loc[m, "street_code"] = host
    streets = a.drop_duplicates("street_code")
    streets = streets[streets["street_code"].isin(s.seeds["street_code"])]
    a["street_name"] = a["street_code"].map(streets.set_index("street_code")["street_name"])
    missing = set(a["street_code"]) - set(streets["street_code"])
    if missing:
        raise SystemExit(f"communities in streets without a seed point: {sorted(missing)}")
    comms = a.rename(columns={"community_code": "code", "community_name": "name"})
    comms["short_name"] = comms["name"].map(short_name)
    comms["kind"] = comms["name"].map(community_kind)
    comms["role"] = [community_role(c, n) for c, n in zip(comms["code"], comms["name"])]
    comms = comms.sort_values("code").reset_index(drop=True)
    return streets.reset_index(drop=True), comms


# --------------------------------------------------------------------------
# compounds and households
# --------------------------------------------------------------------------

NAME_HEADS = list("春锦华金银翠碧瑞嘉和景新丽御香枫桂梅兰竹云湖溪泰鸿星明阳安康福盛祥润雅馨怡悦东南西北")
NAME_TAILS = list("苑城庭园府轩里湾邸居庄林汇都岸郡洲舍")
NAME_SUFFIXES = ["花园", "家园", "新村", "苑", "公寓", "佳苑", "雅苑", "嘉园", "名邸", "小区", "华庭", "新城"]
VILLAGE_SUFFIXES = list("巷桥宅浜湾埭头坝")
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢钱顾秦华陆施浦")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华文建国志红玉兰春梅海燕鹏飞宇晨浩然欣怡子涵雨轩佳琪俊杰晓东宏斌")


def named_compound(short: str) -> str | None:
    """春潮园第一社区 -> 春潮园一期, 长欣公寓社区 -> 长欣公寓; None if the community is not named after a compound."""
    m = re.fullmatch(r"(.+?(?:园|苑|公寓|花园|家园))(?:第([一二三四五六七八九十]+))?社区", short)
    if not m:
        return None
    return m.group(1) + (f"{m.group(2)}期" if m.group(2) else "")


def compound_names(compounds: pd.DataFrame, comms: pd.DataFrame, rng: np.random.Generator) -> list[str]:
    """Synthetic names, unique in the district; the largest compound of a community named
    after a compound takes that name; village compounds get natural-village names."""
    short = comms.set_index("code")["short_name"]
    role = comms.set_index("code")["role"]
    names = [""] * len(compounds)
    taken = set()
    for code, grp in compounds.groupby("community_code", sort=True):
        special = named_compound(short[code]) if role[code] != "industrial" else None
        if special and special not in taken:
            i = compounds.index.get_loc(grp["area_m2"].idxmax())
            names[i] = special
            taken.add(special)
    for i, kind in enumerate(compounds["kind"]):
        if names[i]:
            continue
        while True:
            if kind == "rural":
                name = f"{rng.choice(SURNAMES)}家{rng.choice(VILLAGE_SUFFIXES)}"
            else:
                name = f"{rng.choice(NAME_HEADS)}{rng.choice(NAME_TAILS)}{rng.choice(NAME_SUFFIXES)}"
            if name not in taken:
                break
        names[i] = name
        taken.add(name)
    return names


def households_for(area: np.ndarray, kind: np.ndarray, target: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Households from parcel area and density, scaled so the district total is ``target``.

    raw = area × FAR[kind] / DWELLING_M2[kind] × lognormal(0, 0.25) noise; the
    calibration factor is returned.
    """
    far = np.where(kind == "rural", FAR["rural"], FAR["urban"])
    dwelling = np.where(kind == "rural", DWELLING_M2["rural"], DWELLING_M2["urban"])
    raw = area * far / dwelling * rng.lognormal(0.0, 0.25, len(area))
    factor = target / raw.sum()
    return np.maximum(1, np.round(raw * factor)).astype(int), float(factor)


def build_compounds(parcels: gpd.GeoDataFrame, comm_geoms: dict, comms: pd.DataFrame,
                    cfg: DistrictConfig, source: str) -> tuple[gpd.GeoDataFrame, float]:
    """One compound per residential parcel, clipped to its community, with households and a name."""
    geoms = [inter(g, comm_geoms[c]) for g, c in zip(parcels.geometry, parcels["community_code"])]
    df = gpd.GeoDataFrame(parcels.drop(columns="geometry"), geometry=geoms, crs=parcels.crs)
    df = df[df.area > 0].copy()
    rep = df.geometry.representative_point()
    df["_x"], df["_y"] = rep.x.round(0), rep.y.round(0)
    df = df.sort_values(["community_code", "_x", "_y"]).reset_index(drop=True)
    df["id"] = [f"C{i + 1:04d}" for i in range(len(df))]
    df["kind"] = df["community_code"].map(comms.set_index("code")["kind"])
    df["area_m2"] = df.area.round(1)
    target = round(cfg.residents / PERSONS_PER_HOUSEHOLD)
    df["households"], factor = households_for(df["area_m2"].to_numpy(), df["kind"].to_numpy(), target,
                                              rng_for("households"))
    df["name"] = compound_names(df, comms, rng_for("compound-names"))
    split = df["split"].fillna(False).astype(bool) if "split" in df else pd.Series(False, index=df.index)
    df["source_parcel"] = df["parcel_id"].astype("Int64")
    df["provenance"] = [
        (f"derived: part of {source} #{pid} (parcel split in two)" if sp
         else f"{'real' if cfg.real_parcels else 'synthetic'}: {source} #{pid}")
        + "; name, households synthetic"
        for pid, sp in zip(df["parcel_id"], split)
    ]
    cols = ["id", "name", "community_code", "households", "kind", "area_m2", "source_parcel", "provenance"]
    return df[cols + ["geometry"]], factor


# --------------------------------------------------------------------------
# buildings
# --------------------------------------------------------------------------

#: Footprint options (length E-W, depth N-S, gap E-W, gap N-S) in metres, tried in order:
#: slab blocks (板楼), short slabs, point towers (点式), small houses.
FOOTPRINTS = [(50, 12, 15, 28), (30, 12, 10, 24), (16, 16, 12, 20), (10, 8, 6, 8), (6, 6, 3, 3)]


def lattice_boxes(inner, dims, scale: float, rng: np.random.Generator) -> list:
    """Axis-aligned footprints on a regular lattice (pitch × scale), those fully inside ``inner``."""
    w, h, gx, gy = dims
    px, py = (w + gx) * scale, (h + gy) * scale
    minx, miny, maxx, maxy = inner.bounds
    ox, oy = rng.uniform(0, px), rng.uniform(0, py)
    xs = np.arange(minx + ox - px, maxx + px, px)
    ys = np.arange(miny + oy - py, maxy + py, py)
    if len(xs) * len(ys) > 200_000:
        return []
    cx, cy = np.meshgrid(xs, ys)
    cx, cy = cx.ravel(), cy.ravel()
    boxes = shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    shapely.prepare(inner)
    return list(boxes[shapely.contains_properly(inner, boxes)])


def building_order(boxes: list) -> list:
    """Numbering order: rows north→south, west→east within a row."""
    c = np.array([b.centroid.coords[0] for b in boxes])
    return [boxes[i] for i in np.lexsort((c[:, 0], -np.round(c[:, 1], 1)))]


def layout_buildings(geom, households: int, rng: np.random.Generator) -> list:
    """Footprints for a compound: about one per HOUSEHOLDS_PER_BUILDING households, all inside."""
    n = max(1, round(households / HOUSEHOLDS_PER_BUILDING))
    inner = geom.buffer(-3)
    if inner.is_empty:
        inner = geom.buffer(-0.2)
    best: list = []
    for dims in FOOTPRINTS:
        if inner.is_empty:
            break
        w, h, gx, gy = dims
        scale = max(1.0, math.sqrt(inner.area / (n * (w + gx) * (h + gy))))
        while True:
            boxes = max((lattice_boxes(inner, dims, scale, rng) for _ in range(3)), key=len)
            if len(boxes) >= n:
                idx = np.round(np.linspace(0, len(boxes) - 1, n)).astype(int)
                return building_order([building_order(boxes)[i] for i in idx])
            if len(boxes) > len(best):
                best = boxes
            if scale <= 1.0:
                break
            scale = max(1.0, scale * 0.8)
        if best and len(best) >= n / 2:
            return building_order(best)
    if best:
        return building_order(best)
    centre = shapely.maximum_inscribed_circle(geom, 0.1)
    c = np.asarray(centre.coords[0])
    side = min(12.0, centre.length * 1.3)
    return [box(c[0] - side / 2, c[1] - side / 2, c[0] + side / 2, c[1] + side / 2)]


def split_households(total: int, n: int) -> np.ndarray:
    """``total`` households over ``n`` buildings as evenly as possible (sums exactly)."""
    base = np.full(n, total // n)
    base[: total % n] += 1
    return base


def build_buildings(compounds: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Synthetic building footprints with households, units and floors."""
    rows = []
    rng = rng_for("buildings")
    for cid, geom, hh in tqdm(list(zip(compounds["id"], compounds.geometry, compounds["households"])),
                              desc="buildings", unit="compound"):
        boxes = layout_buildings(geom, int(hh), rng)
        shares = split_households(int(hh), len(boxes))
        width = max(3, len(str(len(boxes))))
        for no, (b, h) in enumerate(zip(boxes, shares), start=1):
            units = int(np.clip(math.ceil(h / 36), 1, 4))
            floors = max(1, math.ceil(h / (units * 2)))
            rows.append({"id": f"{cid}-B{no:0{width}d}", "compound_id": cid, "building_no": no,
                         "households": int(h), "units": units, "floors": floors, "geometry": b})
    df = gpd.GeoDataFrame(rows, geometry="geometry", crs=compounds.crs)
    df["provenance"] = "synthetic: lattice footprint"
    return df


# --------------------------------------------------------------------------
# addresses
# --------------------------------------------------------------------------

ROAD_STEMS = ["长江", "黄河", "珠江", "湘江", "汉江", "淮河", "太湖", "黄山", "泰山", "华山", "嵩山", "衡山",
              "新华", "和平", "人民", "建设", "解放", "中山", "春晖", "锦绣", "金城", "菱湖", "清源", "梁溪",
              "蠡湖", "锡梅", "昌盛", "兴业", "创新", "科技", "振兴", "文化", "青年", "友谊", "团结", "复兴",
              "光明", "幸福", "迎宾", "朝阳", "东风", "红星", "富强", "民主", "育才", "学府", "滨河", "运河",
              "望湖", "观澜", "揽月", "星湖", "晴川", "沁园", "丰收", "枫林", "桂花", "玉兰", "紫藤", "银杏"]
ROAD_SUFFIXES = ["路", "路", "路", "大道", "街", "东路", "西路", "南路", "北路"]


def road_groups(compounds: gpd.GeoDataFrame, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Cluster compounds into groups sharing a synthetic address road; return group and road names."""
    rep = compounds.geometry.representative_point()
    xy = np.column_stack([rep.x, rep.y])
    k = int(np.clip(round(len(compounds) / 16), 4, len(ROAD_STEMS)))
    groups = kmeans(xy, np.ones(len(xy)), k, rng, n_init=3)
    stems = rng.permutation(ROAD_STEMS)[:k]
    roads = [f"{stem}{rng.choice(ROAD_SUFFIXES)}" for stem in stems]
    return groups, roads


def door_numbers(xy: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Door numbers increasing along each road's main axis, unique per road."""
    doors = np.zeros(len(xy), dtype=int)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        pts = xy[idx] - xy[idx].mean(0)
        axis = np.linalg.svd(pts, full_matrices=False)[2][0] if len(idx) > 1 else np.array([1.0, 0.0])
        order = idx[np.argsort(pts @ axis)]
        n = int(rng.integers(1, 20))
        for i in order:
            doors[i] = n
            n += int(rng.choice([2, 4, 6, 8, 10, 12]))
    return doors


def unit_points(b: Polygon, units: int) -> list[Point]:
    """One point per unit (单元), spread along the building's long axis."""
    minx, miny, maxx, maxy = b.bounds
    y = (miny + maxy) / 2
    return [Point(minx + (u + 0.5) / units * (maxx - minx), y) for u in range(units)]


def build_addresses(compounds, buildings, comms, streets, prefix: str):
    """Standard addresses: one per compound gate and one per building unit (all synthetic)."""
    groups, roads = road_groups(compounds, rng_for("roads"))
    rep = compounds.geometry.representative_point()
    doors = door_numbers(np.column_stack([rep.x, rep.y]), groups, rng_for("doors"))
    street_of = comms.set_index("code")["street_code"]
    street_name = streets.set_index("street_code")["street_name"]
    by_compound = buildings.groupby("compound_id")
    rows = []
    for i, c in enumerate(compounds.itertuples()):
        road, door = roads[groups[i]], int(doors[i])
        scode = street_of[c.community_code]
        base = f"{prefix}{street_name[scode]}{road}{door}号{c.name}"
        common = {"compound_id": c.id, "road": road, "door_number": door, "compound_name": c.name,
                  "community_code": c.community_code, "street_code": scode}
        rows.append({**common, "address": base, "building_id": None, "building_no": None, "unit": None,
                     "geometry": rep.iloc[i]})
        if c.id not in by_compound.groups:
            continue
        for b in by_compound.get_group(c.id).itertuples():
            for u, pt in enumerate(unit_points(b.geometry, b.units), start=1):
                rows.append({**common, "address": f"{base}{b.building_no}栋{u}单元", "building_id": b.id,
                             "building_no": b.building_no, "unit": u, "geometry": pt})
    df = gpd.GeoDataFrame(rows, geometry="geometry", crs=compounds.crs)
    df.insert(0, "id", [f"A{i + 1:06d}" for i in range(len(df))])
    df["building_no"] = df["building_no"].astype("Int64")
    df["unit"] = df["unit"].astype("Int64")
    df["provenance"] = "synthetic: invented road and door"
    return df, pd.DataFrame({"road": roads})


# --------------------------------------------------------------------------
# service points
# --------------------------------------------------------------------------

SERVICE_INFO = {
    "party_service_centre": ("党群服务中心", "党员教育,组织关系转接,志愿服务,政策咨询,社会救助,老年活动,儿童之家"),
    "red_station": ("红色驿站", "休息饮水,手机充电,应急药箱,微波加热,图书阅览,党员志愿服务"),
    "grid_service_station": ("网格党群服务站", "民情收集,矛盾调解,代办服务,政策宣传"),
    "convenience_centre": ("便民服务中心", "社保医保,户籍证明,民政救助,残疾人服务,退役军人服务,公共法律服务"),
}
HOURS = {
    "street_centre": "周一至周日 8:30-17:30",
    "community_centre": "周一至周六 8:30-17:30",
    "red_station": "周一至周日 7:00-21:00",
    "convenience_centre": "周一至周五 9:00-12:00,13:30-17:00",
}


def point_in(geom, rng: np.random.Generator) -> Point:
    """A random point inside ``geom`` (rejection sampling, representative point as fallback)."""
    minx, miny, maxx, maxy = geom.bounds
    for _ in range(200):
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if geom.contains(p):
            return p
    return geom.representative_point()


class OfficePhones:
    """Synthetic public office numbers '<area>-8999xxxx', unique within the district."""

    def __init__(self, area_code: str, rng: np.random.Generator):
        self.area_code = area_code
        self.pool = iter(rng.permutation(10_000))

    def next(self) -> str:
        return f"{self.area_code}-8999{next(self.pool):04d}"


def build_service_points(compounds, comms, streets, street_geoms, seeds, phones: OfficePhones):
    """Party service centres (street and community), red stations and convenience centres."""
    rng = rng_for("service-points")
    rows = []

    def add(kind, name, hours, pt, comm, street, phone):
        rows.append({"name": name, "kind": kind, "hours": hours, "services": SERVICE_INFO[kind][1],
                     "community_code": comm, "street_code": street, "phone": phone, "geometry": pt})

    cent = compounds.geometry.representative_point()
    office = {}  # community or street code -> public office number
    for (code, name), geom, seed in zip(streets[["street_code", "street_name"]].itertuples(index=False),
                                        street_geoms, seeds.geometry):
        comm_codes = comms.loc[comms["street_code"] == code, "code"]
        inside = compounds[compounds["community_code"].isin(comm_codes)]
        host = inside.geometry.iloc[int(cent[inside.index].distance(seed).argmin())]
        office[code] = phones.next()
        add("party_service_centre", f"{name}党群服务中心", HOURS["street_centre"], point_in(host, rng),
            None, code, office[code])
        add("convenience_centre", f"{name}便民服务中心", HOURS["convenience_centre"], point_in(host, rng),
            None, code, phones.next())
    for c in comms.itertuples():
        inside = compounds[compounds["community_code"] == c.code]
        centre = inside.geometry.union_all().centroid
        host = inside.geometry.iloc[int(cent[inside.index].distance(centre).argmin())]
        office[c.code] = phones.next()
        add("party_service_centre", f"{c.short_name}党群服务中心", HOURS["community_centre"], point_in(host, rng),
            c.code, c.street_code, office[c.code])
        if c.kind == "rural":
            add("convenience_centre", f"{c.short_name}便民服务中心", HOURS["convenience_centre"],
                point_in(host, rng), c.code, c.street_code, office[c.code])
    for c in comms.iloc[np.sort(rng.permutation(len(comms))[: math.ceil(len(comms) / 3)])].itertuples():
        inside = compounds[compounds["community_code"] == c.code]
        host = inside.geometry.iloc[int(rng.integers(len(inside)))]
        add("red_station", f"{c.short_name}红色驿站", HOURS["red_station"], point_in(host, rng),
            c.code, c.street_code, phones.next())
    df = gpd.GeoDataFrame(rows, geometry="geometry", crs=compounds.crs)
    df.insert(0, "id", [f"SP{i + 1:04d}" for i in range(len(df))])
    df["provenance"] = "synthetic: invented position inside a compound"
    return df, office


# --------------------------------------------------------------------------
# staff and party organisations
# --------------------------------------------------------------------------

AGENCY = {"grid_head": "community", "grid_worker": "community", "community_worker": "community",
          "party_secretary": "party", "community_police": "police", "urban_management": "urban_management",
          "market_regulation": "market_regulation", "sanitation": "sanitation", "volunteer": "volunteer"}
ENFORCEMENT_ROLES = ("community_police", "urban_management", "market_regulation")
#: Deliberately short-staffed communities (one per rule, in the first streets by code): the
#: partitioner must fall back to the street pool or report overloads.
SHORT_STAFFING = [
    ("no market_regulation officer", {"market_regulation": 0}),
    ("no urban_management officer", {"urban_management": 0}),
    ("one officer per agency only", {"community_police": 1, "urban_management": 1, "market_regulation": 1}),
]


def person_name(rng: np.random.Generator) -> str:
    given = "".join(rng.choice(GIVEN, size=int(rng.choice([1, 2], p=[0.3, 0.7]))))
    return f"{rng.choice(SURNAMES)}{given}"


def short_staffed(comms: pd.DataFrame, compounds: pd.DataFrame) -> dict[str, tuple[str, dict]]:
    """Pick the urban community with most compounds in each of the first streets for SHORT_STAFFING."""
    n = compounds.groupby("community_code").size()
    urban = comms[comms["role"] == "urban"].assign(n=lambda d: d["code"].map(n).fillna(0))
    out = {}
    for (note, override), street in zip(SHORT_STAFFING, sorted(urban["street_code"].unique())):
        pick = urban[urban["street_code"] == street].sort_values(["n", "code"], ascending=[False, True]).iloc[0]
        out[pick["code"]] = (note, override)
    return out


def roster(households: int, n_compounds: int, rng: np.random.Generator) -> dict[str, int]:
    """How many people of each role a community has (about one grid per 400 households)."""
    n_grids = max(1, round(households / HOUSEHOLDS_PER_GRID))
    counts = {"party_secretary": 1, "grid_head": n_grids, "grid_worker": n_grids,
              "community_worker": max(4, math.ceil(households / 500))}
    for role in ENFORCEMENT_ROLES:
        counts[role] = int(rng.integers(3, 5))
    counts["sanitation"] = int(np.clip(math.ceil(n_compounds / 4), 1, 4))
    counts["volunteer"] = int(rng.integers(2, 6))
    return counts


def build_staff(comms, compounds, streets, office, cfg: DistrictConfig):
    """Synthetic staff roster (community rosters plus a street-level pool per street)."""
    rng = rng_for("staff")
    mobiles = iter(rng.permutation(10_000))
    hh = compounds.groupby("community_code")["households"].sum()
    nc = compounds.groupby("community_code").size()
    special = short_staffed(comms, compounds)
    rows = []

    def add(role, comm, street):
        public = role == "party_secretary"
        phone = office[comm or street] if public else f"{cfg.phone_block}{next(mobiles):04d}"
        rows.append({"name": person_name(rng), "role": role, "role_zh": ROLE_ZH[role], "agency": AGENCY[role],
                     "phone": phone, "phone_public": public, "community_code": comm, "street_code": street})

    for s in streets["street_code"]:
        add("party_secretary", None, s)
        for role in ENFORCEMENT_ROLES:
            for _ in range(int(rng.integers(2, 4))):
                add(role, None, s)
    for c in comms.itertuples():
        counts = roster(int(hh.get(c.code, 0)), int(nc.get(c.code, 0)), rng)
        counts.update(special.get(c.code, ("", {}))[1])
        for role, n in counts.items():
            for _ in range(n):
                add(role, c.code, c.street_code)
    df = pd.DataFrame(rows)
    df.insert(0, "id", [f"ST{i + 1:05d}" for i in range(len(df))])
    df["provenance"] = "synthetic: invented person"
    notes = {code: note for code, (note, _) in special.items()}
    return df, notes


def build_party_orgs(comms, streets, staff):
    """One 大工委 per street and one 大党委 per community, with their secretary."""
    sec = staff[staff["role"] == "party_secretary"]
    street_sec = sec[sec["community_code"].isna()].set_index("street_code")["id"]
    comm_sec = sec[sec["community_code"].notna()].set_index("community_code")["id"]
    rows = []
    for s in streets.itertuples():
        rows.append({"id": f"PO{s.street_code}", "name": f"{s.street_name}大工委", "level": "street_committee",
                     "parent_id": None, "street_code": s.street_code, "community_code": None,
                     "secretary_staff_id": street_sec[s.street_code]})
    for c in comms.itertuples():
        rows.append({"id": f"PO{c.code}", "name": f"{c.short_name}大党委", "level": "community_committee",
                     "parent_id": f"PO{c.street_code}", "street_code": c.street_code, "community_code": c.code,
                     "secretary_staff_id": comm_sec[c.code]})
    df = pd.DataFrame(rows)
    df["provenance"] = "synthetic: one committee per street/community (names follow the 大工委/大党委 convention)"
    return df


# --------------------------------------------------------------------------
# barriers
# --------------------------------------------------------------------------


def build_barriers(s: Sources) -> gpd.GeoDataFrame:
    """Real OSM roads (minor classes dropped) and water polygons."""
    real = s.cfg.real_parcels
    roads = s.roads[~s.roads["highway"].isin(MINOR_HIGHWAYS)].copy()
    roads = gpd.GeoDataFrame({
        "kind": "road", "class": roads["highway"].to_numpy(), "name": None,
        "osm_id": roads["osm_id"].map(lambda v: None if v is None or pd.isna(v) else str(v)).to_numpy(),
        "provenance": "real: OpenStreetMap road" if real else "synthetic: generated road"},
        geometry=roads.geometry.to_numpy(), crs=roads.crs)
    w = s.water
    cls = w["water"].where(w["water"].notna(), w["waterway"]).fillna("water")
    water = gpd.GeoDataFrame({
        "kind": "water", "class": cls.to_numpy(), "name": w["name"].where(w["name"].notna(), None).to_numpy(),
        "osm_id": None,
        "provenance": "real: OpenStreetMap water" if real else "synthetic: schematic river course"},
        geometry=w.geometry.to_numpy(), crs=w.crs)
    df = pd.concat([roads, water], ignore_index=True)
    prefix = "osm-" if real else "synthetic-"
    key = pd.Series(np.where(df["osm_id"].notna(), "osm-road:" + df["osm_id"].fillna(""),
                             prefix + df["kind"] + ":" + df.index.astype(str)))
    nth = key.groupby(key).cumcount() + 1
    df["source_key"] = np.where(key.duplicated(keep=False), key + "#" + nth.astype(str), key)
    return gpd.GeoDataFrame(df, geometry="geometry", crs=s.roads.crs)


# --------------------------------------------------------------------------
# assembly
# --------------------------------------------------------------------------

STREET_METHOD = ("derived: Voronoi cells of the OSM street label points, snapped to blocks cut by major "
                 "roads and large water, clipped to the district outline; residential parcels kept whole")
COMMUNITY_METHOD = ("derived: area-weighted k-means of the street's residential parcels (one cluster per "
                    "community), open space to the nearest parcel edge (Voronoi), parcels never cut")


def admin_layers(s: Sources, streets: pd.DataFrame, street_geoms: list, comms: pd.DataFrame,
                 comm_geoms: dict, compounds: gpd.GeoDataFrame, notes: dict):
    """districts, streets and communities layers (metric CRS)."""
    crs = s.cfg.metric_epsg
    district = gpd.GeoDataFrame({
        "code": [s.cfg.code], "name": [s.cfg.name], "full_name": [s.admin["district_name"].iloc[0]],
        "area_km2": [round(s.outline.area / 1e6, 3)], "provenance": [f"real: {s.cfg.outline_source}"]},
        geometry=[s.outline], crs=crs)
    hh = compounds.groupby("community_code")["households"].sum()
    nc = compounds.groupby("community_code").size()
    comm = gpd.GeoDataFrame(comms[["code", "name", "short_name", "street_code", "kind"]].copy(),
                            geometry=[comm_geoms[c] for c in comms["code"]], crs=crs)
    comm["households"] = comm["code"].map(hh).fillna(0).astype(int)
    comm["n_compounds"] = comm["code"].map(nc).fillna(0).astype(int)
    comm["area_km2"] = (comm.area / 1e6).round(4)
    comm["stat_unit_code"] = comms["stat_unit_code"].to_numpy()
    comm["stat_unit_name"] = comms["stat_unit_name"].to_numpy()
    comm["staffing_note"] = comm["code"].map(notes)
    comm["provenance"] = COMMUNITY_METHOD
    street = gpd.GeoDataFrame({
        "code": streets["street_code"].to_numpy(), "name": streets["street_name"].to_numpy(),
        "district_code": s.cfg.code}, geometry=street_geoms, crs=crs)
    street["households"] = street["code"].map(comm.groupby("street_code")["households"].sum()).astype(int)
    street["n_communities"] = street["code"].map(comm.groupby("street_code").size()).astype(int)
    street["area_km2"] = (street.area / 1e6).round(3)
    street["provenance"] = STREET_METHOD
    return district, street, comm


MULTIPOLYGON_LAYERS = ("districts", "streets", "communities", "compounds")


def to_storage(name: str, gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Reproject to EPSG:4490; area layers are stored as MultiPolygons."""
    out = gdf.to_crs(STORAGE_EPSG)
    if name in MULTIPOLYGON_LAYERS:
        out["geometry"] = [polygonal(g) for g in out.geometry]
    return out


def build(cfg: DistrictConfig, src: Path) -> tuple[dict, dict]:
    """All layers of one district (EPSG:4490) and some facts for the summary."""
    t0 = time.time()
    s = load_sources(src, cfg)
    streets, comms = admin_tables(s)
    street_geoms = build_streets(s)
    if not cfg.real_parcels:
        synthesize_city(s, street_geoms, comms, rng_for("city"))
    street_geoms, street_of_parcel = settle_parcels(street_geoms, s.parcels)
    comm_geoms, parcels = build_communities(s, street_geoms, street_of_parcel, comms)
    source = "EULUC-China residential parcel" if cfg.real_parcels else "generated residential parcel"
    compounds, factor = build_compounds(parcels, comm_geoms, comms, cfg, source)
    buildings = build_buildings(compounds)
    prefix = s.admin["district_name"].iloc[0]
    addresses, roads = build_addresses(compounds, buildings, comms, streets, prefix)
    phones = OfficePhones(cfg.area_code, rng_for("office-phones"))
    service, office = build_service_points(compounds, comms, streets, street_geoms, s.seeds, phones)
    staff, notes = build_staff(comms, compounds, streets, office, cfg)
    party = build_party_orgs(comms, streets, staff)
    district, street, comm = admin_layers(s, streets, street_geoms, comms, comm_geoms, compounds, notes)
    layers = {"districts": district, "streets": street, "communities": comm, "compounds": compounds,
              "buildings": buildings, "barriers": build_barriers(s), "addresses": addresses,
              "service_points": service}
    layers = {k: to_storage(k, v) for k, v in layers.items()}
    layers["staff"], layers["party_orgs"] = staff, party
    facts = {"calibration_factor": factor, "address_roads": len(roads), "short_staffed": notes,
             "seconds": time.time() - t0, "n_admin_communities": len(s.admin)}
    return layers, facts


# --------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------


def tiling_error(container, tiles) -> tuple[float, float]:
    """(gap area, overlap area) in m² of ``tiles`` against ``container`` (exact, unsnapped ops)."""
    tiles = [t for t in tiles]
    u = shapely.union_all(tiles)
    gap = shapely.difference(container, u).area + shapely.difference(u, container).area
    tree = shapely.STRtree(tiles)
    a, b = tree.query(tiles, predicate="intersects")
    m = a < b
    overlap = float(shapely.area(shapely.intersection(np.array(tiles)[a[m]], np.array(tiles)[b[m]])).sum())
    return gap, overlap


def validate(layers: dict, cfg: DistrictConfig, n_admin: int) -> list[str]:
    """Assert the invariants of the demo data; return the lines of the report."""
    report = []
    metric = {k: v.to_crs(cfg.metric_epsg) for k, v in layers.items() if isinstance(v, gpd.GeoDataFrame)}
    for name, gdf in layers.items():
        assert "provenance" in gdf and gdf["provenance"].str.match(r"^(real|derived|synthetic): ").all(), name
        if isinstance(gdf, gpd.GeoDataFrame):
            assert gdf.crs.to_epsg() == STORAGE_EPSG, name
            assert gdf.is_valid.all() and not gdf.geometry.is_empty.any(), f"{name}: invalid/empty geometry"
    report.append("all geometries valid, non-empty, EPSG:4490; provenance on every feature")
    for name, key in [("districts", "code"), ("streets", "code"), ("communities", "code"), ("compounds", "id"),
                      ("buildings", "id"), ("addresses", "id"), ("service_points", "id"), ("staff", "id"),
                      ("party_orgs", "id"), ("barriers", "source_key")]:
        assert layers[name][key].is_unique, f"{name}.{key} not unique"
    report.append("ids unique in every layer")
    d, st, cm = metric["districts"], metric["streets"], metric["communities"]
    gap, ov = tiling_error(d.geometry.iloc[0], list(st.geometry))
    assert gap < 1 and ov < 1, f"streets do not tile the district: gap {gap:.3f} m², overlap {ov:.3f} m²"
    report.append(f"streets tile the district: gap {gap:.4f} m², overlap {ov:.4f} m²")
    worst = (0.0, 0.0)
    for code, geom in zip(st["code"], st.geometry):
        g, o = tiling_error(geom, list(cm.geometry[cm["street_code"] == code]))
        assert g < 1 and o < 1, f"communities do not tile street {code}: gap {g:.3f} m², overlap {o:.3f} m²"
        worst = (max(worst[0], g), max(worst[1], o))
    report.append(f"communities tile their streets: worst gap {worst[0]:.4f} m², worst overlap {worst[1]:.4f} m²")
    assert len(cm) == n_admin and cm["code"].str.fullmatch(r"\d{12}").all()
    assert (shapely.get_num_geometries(cm.geometry.values) == 1).all(), "a community is not one polygon"
    assert set(metric["compounds"]["community_code"]) == set(cm["code"]), "a community has no compound"
    report.append(f"all {len(cm)} communities present, each one contiguous polygon with >= 1 compound")
    return report + validate_contents(layers, metric)


def validate_contents(layers: dict, metric: dict) -> list[str]:
    """Compounds, buildings, addresses, service points, staff and party organisations."""
    report = []
    d, cm, comp = metric["districts"], metric["communities"], metric["compounds"]
    host = cm.set_index("code").geometry.loc[comp["community_code"]].values
    outside = shapely.area(shapely.difference(comp.geometry.values, host))
    assert outside.max() < 1, f"compound {comp['id'].iloc[outside.argmax()]} sticks out of its community"
    report.append(f"compounds inside their community: max area outside {outside.max():.4f} m²")
    b = metric["buildings"]
    hh = b.groupby("compound_id")["households"].sum()
    assert (comp.set_index("id")["households"] == hh.reindex(comp["id"]).to_numpy()).all()
    chost = comp.set_index("id").geometry.loc[b["compound_id"]].values
    assert shapely.within(b.geometry.values, chost).all(), "a building is not inside its compound"
    report.append("buildings inside their compound; building households sum to compound households")
    a = metric["addresses"]
    ab = a[a["building_id"].notna()]
    assert shapely.within(ab.geometry.values, b.set_index("id").geometry.loc[ab["building_id"]].values).all()
    ac = a[a["building_id"].isna()]
    assert shapely.within(ac.geometry.values, comp.set_index("id").geometry.loc[ac["compound_id"]].values).all()
    assert a["address"].is_unique
    assert a.groupby("road")["door_number"].apply(lambda s: s[a.loc[s.index, "building_id"].isna()].is_unique).all()
    report.append("address points inside their building/compound; full addresses unique; doors unique per road")
    sp = metric["service_points"]
    assert shapely.within(sp.geometry.values, d.geometry.iloc[0]).all()
    staff, party = layers["staff"], layers["party_orgs"]
    st = metric["streets"]
    assert staff["community_code"].dropna().isin(cm["code"]).all() and staff["street_code"].isin(st["code"]).all()
    assert party["secretary_staff_id"].isin(staff["id"]).all()
    report.append("service points inside the district; staff and party references resolve")
    return report


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------

#: The interchange layers in import order (the grids are the partition's output, not demo input),
#: then the party organisations.
LAYER_ORDER = (*(name for name in IMPORT_ORDER if name != "grids"), "party_orgs")


def write_gpkg(layers: dict, path: Path) -> None:
    """Write all layers to ``path`` (atomically: a temporary file is renamed at the end)."""
    tmp = path.with_suffix(".tmp.gpkg")
    if tmp.exists():
        tmp.unlink()
    # a fixed timestamp in gpkg_contents makes rebuilds byte-identical
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2024-01-01T00:00:00.000Z"})
    for name in LAYER_ORDER:
        df = layers[name]
        pyogrio.write_dataframe(df, tmp, layer=name, driver="GPKG")
    tmp.replace(path)


def summary(layers: dict, facts: dict, path: Path, report: list[str]) -> str:
    """Human-readable summary of the build."""
    hh = int(layers["compounds"]["households"].sum())
    lines = [f"{path.name}: {path.stat().st_size / 1e6:.2f} MB, built in {facts['seconds']:.0f} s"]
    lines += [f"  {name:15s} {len(layers[name]):7d}" for name in LAYER_ORDER]
    b = layers["buildings"]["households"]
    lines += [
        f"  households      {hh:7d}  (calibration factor {facts['calibration_factor']:.3f})",
        f"  households per building: median {b.median():.0f}, 5-95% {b.quantile(0.05):.0f}-{b.quantile(0.95):.0f}",
        f"  synthetic address roads: {facts['address_roads']}",
        "  short-staffed communities: " + "; ".join(f"{c} ({n})" for c, n in facts["short_staffed"].items()),
        "validation:",
    ]
    lines += [f"  ok  {r}" for r in report]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--district", choices=sorted(DISTRICTS), default="xinwu")
    parser.add_argument("--source", type=Path, default=None,
                        help="raw data folder (default: ../shared/data relative to the project root)")
    parser.add_argument("--output", type=Path, default=None,
                        help="output GeoPackage (default data/boundaries/<district>.gpkg)")
    args = parser.parse_args(argv)
    src = (PROJECT_ROOT / "../shared/data").resolve() if args.source is None else args.source.resolve()
    if not (src / DISTRICTS[args.district].folder).is_dir():
        parser.error(f"no folder {DISTRICTS[args.district].folder!r} in {src}")
    out = args.output or HERE / f"{args.district}.gpkg"
    cfg = DISTRICTS[args.district]
    layers, facts = build(cfg, src)
    report = validate(layers, cfg, facts["n_admin_communities"])
    write_gpkg(layers, out)
    print(summary(layers, facts, out, report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
