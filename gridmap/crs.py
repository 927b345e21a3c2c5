"""Coordinate systems (DESIGN.md §3): named CRSs, GCJ-02 / BD-09, storage in CGCS2000.

Every coordinate that enters gridmap names its CRS. Storage is CGCS2000
(EPSG:4490); WGS84 is treated as equal to it (they differ by about 1 m).
GCJ-02 (Amap, Tencent, WeChat) and BD-09 (Baidu) are the obfuscated systems
of Chinese web maps; they cannot be declared in a file, so they are always
named explicitly by the caller. Outside China both are the identity, by the
standard ``out_of_china`` rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import lru_cache

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from gridmap.errors import InvalidInput, OutOfRange, UnknownCRS

WGS84 = "wgs84"
CGCS2000 = "cgcs2000"
GCJ02 = "gcj02"
BD09 = "bd09"
NAMED_CRS = (WGS84, CGCS2000, GCJ02, BD09)

#: EPSG codes of the named CRSs that have one; GCJ-02 and BD-09 have none.
NAMED_EPSG = {WGS84: "EPSG:4326", CGCS2000: "EPSG:4490"}

_ALIASES = {
    "wgs84": WGS84,
    "4326": WGS84,
    "epsg4326": WGS84,
    "cgcs2000": CGCS2000,
    "4490": CGCS2000,
    "epsg4490": CGCS2000,
    "gcj02": GCJ02,
    "gcj": GCJ02,
    "amap": GCJ02,
    "gaode": GCJ02,
    "tencent": GCJ02,
    "bd09": BD09,
    "bd09ll": BD09,
    "baidu": BD09,
}
_ACCEPTED = (
    "wgs84 (EPSG:4326), cgcs2000 (EPSG:4490), gcj02 (gcj-02, amap), "
    "bd09 (bd-09, baidu), or any EPSG code as 'EPSG:<code>'"
)
_EPSG_RE = re.compile(r"(?:epsg)?(\d{4,6})")

# Krasovsky ellipsoid constants of the GCJ-02 algorithm, as published.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323
_BD_X_PI = math.pi * 3000.0 / 180.0
_INVERSE_TOL = 1e-10  # degrees; far below the 1e-7 the brief asks for
_INVERSE_MAX_ITER = 30

Coord = float | NDArray[np.float64]


# ---------------------------------------------------------------- naming


def parse_crs(value: str | int) -> str:
    """Canonical name of a CRS: 'wgs84', 'cgcs2000', 'gcj02', 'bd09' or 'EPSG:<code>'."""
    if isinstance(value, bool) or not isinstance(value, (str, int, np.integer)):
        raise UnknownCRS(f"unknown CRS {value!r}; accepted: {_ACCEPTED}")
    key = re.sub(r"[\s\-_:]", "", str(value)).lower()
    if key in _ALIASES:
        return _ALIASES[key]
    match = _EPSG_RE.fullmatch(key)
    if match and _epsg_known(int(match.group(1))):
        return f"EPSG:{int(match.group(1))}"
    raise UnknownCRS(f"unknown CRS {value!r}; accepted: {_ACCEPTED}")


@lru_cache(maxsize=512)
def _epsg_known(code: int) -> bool:
    try:
        CRS.from_epsg(code)
    except CRSError:
        return False
    return True


def crs_of(name: str) -> str | None:
    """The pyproj-usable CRS string of a canonical name; None for GCJ-02 / BD-09."""
    name = parse_crs(name)
    return NAMED_EPSG.get(name, None if name in (GCJ02, BD09) else name)


#: CGCS2000 3-degree Gauss–Krüger zones, central meridian only (no zone prefix in the
#: easting): EPSG:4534 is CM 75°E, ... EPSG:4554 is CM 135°E.
_GK_FIRST_EPSG, _GK_FIRST_CM, _GK_LAST_EPSG = 4534, 75.0, 4554


def metric_crs(lon: float) -> str:
    """The metric CRS for measures near ``lon``: the CGCS2000 3-degree Gauss–Krüger zone
    (EPSG:4534..4554) whose central meridian is nearest, the nearest end zone outside 75..135°E.

    The one zone rule of gridmap: partition, staffing, maps, walking coverage, the importer
    and the coverage index all measure in the zone this picks. Half-way between two central
    meridians (118.5°E) the eastern zone is taken (half-up, not Python's banker's rounding,
    so every zone edge falls the same way)."""
    if not math.isfinite(lon) or abs(lon) > 180:
        raise OutOfRange(f"longitude {lon!r} is not in -180..180")
    zone = math.floor((lon - _GK_FIRST_CM) / 3.0 + 0.5)
    return f"EPSG:{min(max(_GK_FIRST_EPSG + zone, _GK_FIRST_EPSG), _GK_LAST_EPSG)}"


def metric_crs_of(data: gpd.GeoDataFrame | gpd.GeoSeries) -> str:
    """:func:`metric_crs` of the centre of the data's bounds (taken in CGCS2000)."""
    if data.crs is None:
        raise InvalidInput("geometry has no CRS; set it explicitly (storage CRS is EPSG:4490)")
    geo = data if data.crs.to_epsg() == 4490 else data.to_crs(4490)
    west, _, east, _ = geo.total_bounds
    if not (math.isfinite(west) and math.isfinite(east)):
        raise InvalidInput("no geometry to choose a metric CRS from (the data is empty)")
    return metric_crs((west + east) / 2.0)


# ---------------------------------------------------------------- validation


def validate_lonlat(lon: ArrayLike, lat: ArrayLike) -> None:
    """Raise OutOfRange unless every lon is in -180..180 and lat in -90..90 (finite)."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    _check_axis(x, 180.0, "longitude", y, "latitude")
    _check_axis(y, 90.0, "latitude", x, "longitude")


def _check_axis(values: NDArray, limit: float, label: str, other: NDArray, other_label: str) -> None:
    bad = ~np.isfinite(values) | (np.abs(values) > limit)
    if not bad.any():
        return
    first = float(values.reshape(-1)[np.flatnonzero(bad.reshape(-1))[0]])
    hint = ""
    if label == "latitude" and np.all(np.abs(other) <= 90):
        hint = " (are longitude and latitude swapped?)"
    raise OutOfRange(f"{label} {first!r} is not a finite number in -{limit:g}..{limit:g}{hint}")


# ---------------------------------------------------------------- GCJ-02 / BD-09


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """The standard rectangle outside which GCJ-02 and BD-09 equal WGS84."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    return (x < 72.004) | (x > 137.8347) | (y < 0.8293) | (y > 55.8271)


def _gcj_offset(lon: NDArray, lat: NDArray) -> tuple[NDArray, NDArray]:
    """The published GCJ-02 offset (degrees) at a WGS84 point, ignoring the China test."""
    pi = math.pi
    x = lon - 105.0
    y = lat - 35.0
    waves = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += waves
    dlat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += waves
    dlon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1.0 - _GCJ_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (_GCJ_A / sqrtmagic * np.cos(radlat) * pi)
    return dlon, dlat


def _gcj_forward(lon: NDArray, lat: NDArray) -> tuple[NDArray, NDArray]:
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def _bd_forward(lon: NDArray, lat: NDArray) -> tuple[NDArray, NDArray]:
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _BD_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_backward_approx(lon: NDArray, lat: NDArray) -> tuple[NDArray, NDArray]:
    x = lon - 0.0065
    y = lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward: Callable[[NDArray, NDArray], tuple[NDArray, NDArray]],
    lon: NDArray,
    lat: NDArray,
    start: tuple[NDArray, NDArray],
) -> tuple[NDArray, NDArray]:
    """Solve forward(x, y) = (lon, lat) by fixed-point iteration (the offset is smooth and small)."""
    x, y = start
    for _ in range(_INVERSE_MAX_ITER):
        fx, fy = forward(x, y)
        ex, ey = fx - lon, fy - lat
        x, y = x - ex, y - ey
        if x.size == 0 or max(np.nanmax(np.abs(ex)), np.nanmax(np.abs(ey))) < _INVERSE_TOL:
            break
    return x, y


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Coord, Coord]:
    """WGS84 → GCJ-02 (identity outside China)."""
    x, y, scalar = _arrays(lon, lat)
    fx, fy = _gcj_forward(x, y)
    inside = ~out_of_china(x, y)
    return _pack(np.where(inside, fx, x), np.where(inside, fy, y), scalar)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Coord, Coord]:
    """GCJ-02 → WGS84 by iterating the forward transform (error < 1e-9 degree)."""
    x, y, scalar = _arrays(lon, lat)
    dx, dy = _gcj_offset(x, y)
    wx, wy = _invert(_gcj_forward, x, y, (x - dx, y - dy))
    inside = ~out_of_china(x, y)
    return _pack(np.where(inside, wx, x), np.where(inside, wy, y), scalar)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Coord, Coord]:
    """GCJ-02 → BD-09 (identity outside China)."""
    x, y, scalar = _arrays(lon, lat)
    bx, by = _bd_forward(x, y)
    inside = ~out_of_china(x, y)
    return _pack(np.where(inside, bx, x), np.where(inside, by, y), scalar)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Coord, Coord]:
    """BD-09 → GCJ-02, refined by iteration (identity outside China)."""
    x, y, scalar = _arrays(lon, lat)
    gx, gy = _invert(_bd_forward, x, y, _bd_backward_approx(x, y))
    inside = ~out_of_china(x, y)
    return _pack(np.where(inside, gx, x), np.where(inside, gy, y), scalar)


# ---------------------------------------------------------------- public transforms


def to_cgcs2000(lon: ArrayLike, lat: ArrayLike, crs: str | int) -> tuple[Coord, Coord]:
    """Convert coordinates in ``crs`` to CGCS2000 lon/lat; scalars in, floats out."""
    name = parse_crs(crs)
    x, y, scalar = _arrays(lon, lat)
    if name in NAMED_CRS:
        validate_lonlat(x, y)
    if name in (WGS84, CGCS2000):
        return _pack(x.copy(), y.copy(), scalar)
    if name == GCJ02:
        return _pack(*gcj02_to_wgs84(x, y), scalar)
    if name == BD09:
        return _pack(*gcj02_to_wgs84(*bd09_to_gcj02(x, y)), scalar)
    if CRS(name).is_geographic:
        validate_lonlat(x, y)
    ox, oy = _transformer(name, "EPSG:4490").transform(x, y)
    return _pack(*_checked(ox, oy, name), scalar)


def from_cgcs2000(lon: ArrayLike, lat: ArrayLike, crs: str | int) -> tuple[Coord, Coord]:
    """Convert CGCS2000 lon/lat to ``crs`` (e.g. GCJ-02 for an overlay on Amap tiles)."""
    name = parse_crs(crs)
    x, y, scalar = _arrays(lon, lat)
    validate_lonlat(x, y)
    if name in (WGS84, CGCS2000):
        return _pack(x.copy(), y.copy(), scalar)
    if name == GCJ02:
        return _pack(*wgs84_to_gcj02(x, y), scalar)
    if name == BD09:
        return _pack(*gcj02_to_bd09(*wgs84_to_gcj02(x, y)), scalar)
    ox, oy = _transformer("EPSG:4490", name).transform(x, y)
    return _pack(*_checked(ox, oy, name), scalar)


@lru_cache(maxsize=64)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def _checked(x: NDArray, y: NDArray, name: str) -> tuple[NDArray, NDArray]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise OutOfRange(f"coordinates outside the area of use of {name}")
    return x, y


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray, bool]:
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    if x.shape != y.shape:
        raise InvalidInput(f"lon and lat have different shapes {x.shape} and {y.shape}")
    return x, y, x.ndim == 0


def _pack(x: NDArray, y: NDArray, scalar: bool) -> tuple[Coord, Coord]:
    if scalar:
        return float(x), float(y)
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


# ---------------------------------------------------------------- geometries


def transform_geometries(
    geoms: gpd.GeoSeries | ArrayLike, src: str | int, dst: str | int
) -> gpd.GeoSeries | NDArray[np.object_]:
    """Transform shapely geometries between any two accepted CRSs (2D; Z is dropped).

    A GeoSeries comes back as a GeoSeries with the same index and the
    destination CRS (None for GCJ-02 / BD-09, which no file format can name).
    """
    source, target = parse_crs(src), parse_crs(dst)
    if isinstance(geoms, gpd.GeoSeries):
        _check_declared(geoms.crs, source)
        values = np.asarray(geoms.values, dtype=object)
    else:
        values = np.asarray(geoms, dtype=object)

    def move(coords: NDArray) -> NDArray:
        lon, lat = to_cgcs2000(coords[:, 0], coords[:, 1], source)
        lon, lat = from_cgcs2000(lon, lat, target)
        return np.column_stack([lon, lat])

    moved = shapely.transform(values, move) if source != target else values.copy()
    if isinstance(geoms, gpd.GeoSeries):
        return gpd.GeoSeries(moved, index=geoms.index, crs=crs_of(target), name=geoms.name)
    return moved


def _check_declared(declared: CRS | None, source: str) -> None:
    """A declared CRS must agree with the named source (WGS84 ≈ CGCS2000; GCJ/BD cannot be declared)."""
    if declared is None or source in (GCJ02, BD09):
        return
    geographic_equal = {"EPSG:4326", "EPSG:4490"}
    epsg = declared.to_epsg()
    declared_name = f"EPSG:{epsg}" if epsg else declared.to_string()
    wanted = crs_of(source)
    if declared_name == wanted or {declared_name, wanted} <= geographic_equal:
        return
    raise InvalidInput(f"geometries declare {declared_name} but were named {source}")


def to_storage(gdf: gpd.GeoDataFrame, crs: str | int | None = None, name: str = "layer") -> gpd.GeoDataFrame:
    """A copy of ``gdf`` in EPSG:4490; ``crs`` overrides the declared CRS (needed for GCJ-02/BD-09)."""
    if crs is not None:
        source: str | CRS = parse_crs(crs)
    elif gdf.crs is not None:
        source = _name_of(gdf.crs)
    else:
        raise UnknownCRS(f"{name} has no CRS; pass --crs (one of {_ACCEPTED})")
    out = gdf.copy()
    geom_col = out.geometry.name
    if source in (WGS84, CGCS2000):
        coords = shapely.get_coordinates(np.asarray(out.geometry.values, dtype=object))
        validate_lonlat(coords[:, 0], coords[:, 1])
        return out.set_crs("EPSG:4490", allow_override=True)
    if source in (GCJ02, BD09):
        moved = transform_geometries(np.asarray(out.geometry.values, dtype=object), source, CGCS2000)
        out[geom_col] = gpd.GeoSeries(moved, index=out.index, crs="EPSG:4490")
        return out.set_crs("EPSG:4490", allow_override=True)
    return out.set_crs(source, allow_override=True).to_crs("EPSG:4490")


def _name_of(declared: CRS) -> str | CRS:
    """Canonical name of a declared CRS, or the CRS itself when it has no EPSG code."""
    epsg = CRS.from_user_input(declared).to_epsg()
    return parse_crs(epsg) if epsg else CRS.from_user_input(declared)
