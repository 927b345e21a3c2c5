"""One metric CRS: every caller that measures (partition, staffing, maps, walking coverage,
the importer's checks, the coverage index) picks the same Gauss–Krüger zone for the same
data, also on a zone edge (118.5°E and 121.5°E lie half-way between central meridians).

Each caller is run on a small district centred on the longitude under test, and every
metric CRS it projects to is recorded: the zones are read from what the code does, not
from which function it calls.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
from shapely.geometry import LineString, Point, box

from gridmap.assign import assign_staff
from gridmap.coverage.index import CoverageData, CoverageIndex
from gridmap.crs import metric_crs, metric_crs_of
from gridmap.errors import InvalidInput
from gridmap.interchange.checks import CheckOptions, Stored, check_across
from gridmap.interchange.issues import IssueLog
from gridmap.maps.geo import simplify
from gridmap.partition import Rules, partition
from gridmap.walk import walk_coverage

LAT = 31.5
#: Half a side of the district, in degrees: a power of two, so that the bounds' centre is
#: exactly the longitude under test (118.5 ± 2^-8 and their mean are exact in binary).
HALF = 2.0**-8
COMMUNITY = "320214001001"
STREET = COMMUNITY[:9]
GK_ZONES = range(4534, 4555)


def district(lon: float) -> dict:
    """One community of 2 × 2 compounds of 100 households (with streets between them), one grid,
    two roads, centred on ``lon``."""
    x0, y0, x1, y1 = lon - HALF, LAT - HALF, lon + HALF, LAT + HALF
    xs, ys, m = (x0, lon, x1), (y0, LAT, y1), HALF / 16
    boxes = [box(xs[i] + m, ys[j] + m, xs[i + 1] - m, ys[j + 1] - m) for i in range(2) for j in range(2)]
    ids = [f"K{i}" for i in range(4)]
    grid = f"{COMMUNITY}001"
    return {
        "communities": gpd.GeoDataFrame({"code": [COMMUNITY], "name": ["新光社区"], "street_code": [STREET],
                                         "kind": ["urban"]}, geometry=[box(x0, y0, x1, y1)], crs=4490),
        "compounds": gpd.GeoDataFrame({"id": ids, "name": ids, "community_code": COMMUNITY, "households": 100,
                                       "grid_code": grid}, geometry=boxes, crs=4490),
        "grids": gpd.GeoDataFrame({"code": [grid], "name": ["第1网格"], "community_code": [COMMUNITY],
                                   "households": [400]}, geometry=[box(x0, y0, x1, y1)], crs=4490),
        "roads": gpd.GeoDataFrame({"class": ["residential", "residential"]},
                                  geometry=[LineString([(x0, LAT), (x1, LAT)]), LineString([(lon, y0), (lon, y1)])],
                                  crs=4490),
        "points": gpd.GeoDataFrame({"id": ["P1"]}, geometry=[Point(lon, LAT)], crs=4490),
    }


@pytest.fixture
def zones(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every Gauss–Krüger zone (EPSG code) projected to while the fixture is active."""
    seen: list[int] = []

    def note(crs: object) -> None:
        epsg = pyproj.CRS.from_user_input(crs).to_epsg()
        if epsg in GK_ZONES:
            seen.append(epsg)

    series_to_crs, frame_to_crs = gpd.GeoSeries.to_crs, gpd.GeoDataFrame.to_crs
    from_crs = pyproj.Transformer.from_crs

    def on_series(self, crs=None, epsg=None):
        note(crs if crs is not None else epsg)
        return series_to_crs(self, crs=crs, epsg=epsg)

    def on_frame(self, crs=None, epsg=None, inplace=False):
        note(crs if crs is not None else epsg)
        return frame_to_crs(self, crs=crs, epsg=epsg, inplace=inplace)

    def on_transformer(crs_from, crs_to, *args, **kwargs):
        note(crs_to)
        return from_crs(crs_from, crs_to, *args, **kwargs)

    monkeypatch.setattr(gpd.GeoSeries, "to_crs", on_series)
    monkeypatch.setattr(gpd.GeoDataFrame, "to_crs", on_frame)
    monkeypatch.setattr(pyproj.Transformer, "from_crs", staticmethod(on_transformer))
    return seen


def _partition(d: dict) -> None:
    partition(d["communities"], d["compounds"], rules=Rules(), rng=np.random.default_rng(0))


def _assign(d: dict) -> None:
    staff = pd.DataFrame([{"id": "S1", "name": "王伟", "role": "grid_head", "agency": None, "phone": "13800000000",
                           "phone_public": False, "community_code": COMMUNITY, "street_code": STREET}])
    assign_staff(d["grids"], d["compounds"], staff, d["communities"].drop(columns="geometry"),
                 pd.DataFrame({"code": [STREET], "name": ["新光街道"]}), time_limit=0.0)


def _maps(d: dict) -> None:
    simplify(d["grids"], 5.0, coverage=True)


def _walk(d: dict) -> None:
    walk_coverage(d["roads"], d["points"])


def _importer(d: dict) -> None:
    log = IssueLog()
    check_across({"communities": d["communities"], "compounds": d["compounds"]}, Stored(), options=CheckOptions(),
                 log=log)
    assert not [i for i in log.issues if i.kind == "outside"], log.issues  # measured, and measured right


def _coverage(d: dict) -> None:
    CoverageIndex(CoverageData(generation={}, grids=d["grids"], cards={}))


CALLERS = {"partition": _partition, "assign": _assign, "maps": _maps, "walk": _walk, "importer": _importer,
           "coverage": _coverage}


@pytest.mark.parametrize("lon", [118.4999, 118.5, 120.3, 121.5, 121.5001, 119.4999])
def test_every_caller_measures_in_one_zone(lon: float, zones: list[int]) -> None:
    expected = int(metric_crs(lon).removeprefix("EPSG:"))
    picked = {}
    for name, run in CALLERS.items():
        zones.clear()
        run(district(lon))
        picked[name] = sorted(set(zones))
    assert picked == {name: [expected] for name in CALLERS}, f"at {lon}°E"


@pytest.mark.parametrize(("lon", "epsg"), [(118.4999, 4548), (118.5, 4549), (119.4999, 4549), (120.3, 4549),
                                           (121.4999, 4549), (121.5, 4550), (121.5001, 4550)])
def test_zone_edges_round_half_up(lon: float, epsg: int) -> None:
    assert metric_crs(lon) == f"EPSG:{epsg}"
    assert metric_crs_of(district(lon)["communities"]) == f"EPSG:{epsg}"
    assert metric_crs_of(district(lon)["communities"].to_crs(epsg).geometry) == f"EPSG:{epsg}"


def test_metric_crs_of_needs_a_crs_and_data() -> None:
    d = district(120.3)["communities"]
    with pytest.raises(InvalidInput, match="no CRS"):
        metric_crs_of(d.set_crs(None, allow_override=True))
    with pytest.raises(InvalidInput, match="empty"):
        metric_crs_of(d.iloc[:0])
