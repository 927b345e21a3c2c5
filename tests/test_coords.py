"""Coordinate systems: named CRSs, GCJ-02 / BD-09 round trips, storage conversion."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import Point, Polygon

from gridmap.crs import (
    from_cgcs2000,
    metric_crs,
    parse_crs,
    to_cgcs2000,
    to_storage,
    transform_geometries,
    validate_lonlat,
)
from gridmap.errors import InvalidInput, OutOfRange, UnknownCRS

GEOD = Geod(ellps="WGS84")
TIANANMEN_WGS84 = (116.397428, 39.90923)
TIANANMEN_GCJ02 = (116.40367, 39.91064)  # as Amap shows it, to 5 decimals

# Well inside the out_of_china rectangle so that a point and its offset image are both "in China".
china_lon = st.floats(min_value=73.5, max_value=135.0, allow_nan=False)
china_lat = st.floats(min_value=18.0, max_value=53.5, allow_nan=False)


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return GEOD.inv(a[0], a[1], b[0], b[1])[2]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("wgs84", "wgs84"),
        ("WGS84", "wgs84"),
        ("EPSG:4326", "wgs84"),
        (4326, "wgs84"),
        ("4326", "wgs84"),
        ("cgcs2000", "cgcs2000"),
        ("EPSG:4490", "cgcs2000"),
        (4490, "cgcs2000"),
        ("gcj02", "gcj02"),
        ("gcj-02", "gcj02"),
        ("GCJ-02", "gcj02"),
        ("amap", "gcj02"),
        ("bd09", "bd09"),
        ("bd-09", "bd09"),
        ("baidu", "bd09"),
        ("EPSG:4549", "EPSG:4549"),
        ("epsg:3857", "EPSG:3857"),
        (4549, "EPSG:4549"),
        (np.int64(4549), "EPSG:4549"),
    ],
)
def test_parse_crs_accepts_names_and_codes(value: str | int, expected: str) -> None:
    assert parse_crs(value) == expected


@pytest.mark.parametrize("value", ["mars", "EPSG:999999", 12, "", "EPSG:", True, 4326.0])
def test_parse_crs_unknown_names_value_and_accepted(value: object) -> None:
    with pytest.raises(UnknownCRS) as err:
        parse_crs(value)  # type: ignore[arg-type]
    assert repr(value) in str(err.value)
    for name in ("wgs84", "cgcs2000", "gcj02", "bd09", "EPSG:<code>"):
        assert name in str(err.value)


def test_tiananmen_known_pair_and_round_trip() -> None:
    gcj = from_cgcs2000(*TIANANMEN_WGS84, "gcj02")
    assert metres(gcj, TIANANMEN_GCJ02) < 5.0  # published pair is rounded to 1e-5 degree
    assert metres(gcj, TIANANMEN_WGS84) > 500.0  # the offset is real: several hundred metres
    back = to_cgcs2000(*gcj, "gcj02")
    assert metres(back, TIANANMEN_WGS84) < 0.5
    assert metres(back, TIANANMEN_WGS84) < 1e-3  # the iterative inverse is far better than 0.5 m


def test_published_gcj_point_converts_to_within_a_few_metres() -> None:
    wgs = to_cgcs2000(*TIANANMEN_GCJ02, "amap")
    assert metres(wgs, TIANANMEN_WGS84) < 5.0


def test_scalars_give_floats_and_arrays_give_arrays() -> None:
    lon, lat = to_cgcs2000(120.3, 31.5, "gcj02")
    assert isinstance(lon, float) and isinstance(lat, float)
    lons, lats = to_cgcs2000(np.array([120.3, 120.4]), np.array([31.5, 31.6]), "gcj02")
    assert isinstance(lons, np.ndarray) and lons.shape == (2,) and lats.shape == (2,)
    assert lons[0] == pytest.approx(lon, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(china_lon, china_lat)
def test_gcj02_round_trip_inside_china(lon: float, lat: float) -> None:
    glon, glat = from_cgcs2000(lon, lat, "gcj02")
    assert (glon, glat) != (lon, lat)
    blon, blat = to_cgcs2000(glon, glat, "gcj02")
    assert abs(blon - lon) < 1e-6 and abs(blat - lat) < 1e-6


@settings(max_examples=300, deadline=None)
@given(china_lon, china_lat)
def test_bd09_round_trip_inside_china(lon: float, lat: float) -> None:
    blon, blat = from_cgcs2000(lon, lat, "bd09")
    wlon, wlat = to_cgcs2000(blon, blat, "baidu")
    assert abs(wlon - lon) < 1e-6 and abs(wlat - lat) < 1e-6


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(china_lon, china_lat), min_size=1, max_size=50))
def test_vectorised_equals_scalar(points: list[tuple[float, float]]) -> None:
    lons = np.array([p[0] for p in points])
    lats = np.array([p[1] for p in points])
    vx, vy = to_cgcs2000(lons, lats, "bd09")
    for i, (lon, lat) in enumerate(points):
        sx, sy = to_cgcs2000(lon, lat, "bd09")
        assert vx[i] == pytest.approx(sx, abs=1e-9) and vy[i] == pytest.approx(sy, abs=1e-9)


def test_bd09_known_offset_from_gcj02() -> None:
    """Baidu's published rule puts BD-09 about 0.0065/0.006 degree north-east of GCJ-02."""
    gcj = from_cgcs2000(*TIANANMEN_WGS84, "gcj02")
    bd = from_cgcs2000(*TIANANMEN_WGS84, "bd09")
    assert 0.005 < bd[0] - gcj[0] < 0.008
    assert 0.005 < bd[1] - gcj[1] < 0.008


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
@pytest.mark.parametrize("point", [(2.3522, 48.8566), (-74.006, 40.7128), (151.2, -33.87), (106.8, -6.2)])
def test_identity_outside_china(crs: str, point: tuple[float, float]) -> None:
    assert to_cgcs2000(*point, crs) == point
    assert from_cgcs2000(*point, crs) == point


def test_wgs84_is_treated_as_cgcs2000() -> None:
    assert to_cgcs2000(120.3, 31.5, "wgs84") == (120.3, 31.5)
    assert from_cgcs2000(120.3, 31.5, 4326) == (120.3, 31.5)


def test_other_epsg_goes_through_pyproj() -> None:
    lon, lat = to_cgcs2000(500000.0, 3_500_000.0, "EPSG:4549")  # central meridian 120E
    assert lon == pytest.approx(120.0, abs=1e-9)
    x, y = from_cgcs2000(lon, lat, "EPSG:4549")
    assert x == pytest.approx(500000.0, abs=1e-4) and y == pytest.approx(3_500_000.0, abs=1e-4)


@pytest.mark.parametrize(
    ("lon", "lat", "named"),
    [
        (181.0, 30.0, "181"),
        (-180.5, 30.0, "-180.5"),
        (120.0, 91.0, "91"),
        (math.nan, 30.0, "nan"),
        (120.0, math.inf, "inf"),
    ],
)
def test_out_of_range_names_the_value(lon: float, lat: float, named: str) -> None:
    with pytest.raises(OutOfRange, match=named):
        validate_lonlat(lon, lat)
    with pytest.raises(OutOfRange):
        to_cgcs2000(lon, lat, "gcj02")


def test_swapped_lat_lon_gets_a_hint() -> None:
    with pytest.raises(OutOfRange, match="swapped"):
        to_cgcs2000(31.5, 120.3, "wgs84")


def test_validate_accepts_edges_and_arrays() -> None:
    validate_lonlat(np.array([-180.0, 180.0, 0.0]), np.array([-90.0, 90.0, 0.0]))
    with pytest.raises(OutOfRange):
        validate_lonlat(np.array([120.0, 200.0]), np.array([30.0, 30.0]))


@pytest.mark.parametrize(
    ("lon", "expected"),
    [
        (120.0, "EPSG:4549"),  # central meridian 120E
        (120.3, "EPSG:4549"),
        (118.2, "EPSG:4548"),
        (75.0, "EPSG:4534"),
        (60.0, "EPSG:4534"),  # clamped west
        (135.0, "EPSG:4554"),
        (140.0, "EPSG:4554"),  # clamped east
    ],
)
def test_metric_crs_zone(lon: float, expected: str) -> None:
    assert metric_crs(lon) == expected


def test_transform_geometries_round_trip_and_crs() -> None:
    square = Polygon([(120.30, 31.50), (120.31, 31.50), (120.31, 31.51), (120.30, 31.51)])
    series = gpd.GeoSeries([square, Point(120.35, 31.55), None], index=[7, 8, 9], crs="EPSG:4490")
    gcj = transform_geometries(series, "cgcs2000", "gcj02")
    assert isinstance(gcj, gpd.GeoSeries) and gcj.crs is None and list(gcj.index) == [7, 8, 9]
    assert gcj.iloc[2] is None
    assert gcj.iloc[0].centroid.distance(square.centroid) > 0.001
    back = transform_geometries(gcj, "gcj02", "cgcs2000")
    assert back.crs.to_epsg() == 4490
    assert back.iloc[0].equals_exact(square, 1e-9)
    arr = transform_geometries(np.array([Point(120.35, 31.55)]), "bd09", "wgs84")
    assert isinstance(arr, np.ndarray)


def test_transform_geometries_rejects_a_mismatched_declared_crs() -> None:
    series = gpd.GeoSeries([Point(500000, 3_500_000)], crs="EPSG:4549")
    with pytest.raises(InvalidInput, match="EPSG:4549"):
        transform_geometries(series, "wgs84", "gcj02")


def test_to_storage_from_gcj02_argument() -> None:
    gcj_point = from_cgcs2000(*TIANANMEN_WGS84, "gcj02")
    gdf = gpd.GeoDataFrame({"id": [1]}, geometry=[Point(gcj_point)], crs="EPSG:4326")
    out = to_storage(gdf, "gcj02")
    assert out.crs.to_epsg() == 4490
    assert metres((out.geometry.iloc[0].x, out.geometry.iloc[0].y), TIANANMEN_WGS84) < 0.01
    assert gdf.geometry.iloc[0].x == pytest.approx(gcj_point[0])  # input untouched


def test_to_storage_uses_declared_crs() -> None:
    gdf = gpd.GeoDataFrame({"id": [1]}, geometry=[Point(500000, 3_500_000)], crs="EPSG:4549")
    out = to_storage(gdf)
    assert out.crs.to_epsg() == 4490
    assert out.geometry.iloc[0].x == pytest.approx(120.0)
    wgs = to_storage(gpd.GeoDataFrame({"id": [1]}, geometry=[Point(120.3, 31.5)], crs="EPSG:4326"))
    assert wgs.crs.to_epsg() == 4490 and wgs.geometry.iloc[0].x == 120.3


def test_to_storage_without_crs_says_pass_crs() -> None:
    gdf = gpd.GeoDataFrame({"id": [1]}, geometry=[Point(120.3, 31.5)])
    with pytest.raises(UnknownCRS, match="compounds has no CRS; pass --crs"):
        to_storage(gdf, name="compounds")


def test_to_storage_rejects_metres_labelled_as_degrees() -> None:
    gdf = gpd.GeoDataFrame({"id": [1]}, geometry=[Point(500000, 3_500_000)], crs="EPSG:4326")
    with pytest.raises(OutOfRange, match="500000"):
        to_storage(gdf)
