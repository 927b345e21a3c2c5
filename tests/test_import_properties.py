"""Property tests of the import checks on generated cities (hypothesis; no database).

A generated city is messy but valid: communities tiling a street in rows and
columns, compounds inside them, buildings as points or polygons (some a few
tens of metres outside their compound, as surveyed points are), an address at
every building; polygons single or multi, rings either way round, codes as
numbers or text, households as floats, any of three CRSs and three formats.
Then some defects are planted, each in its own feature. The invariant: the
import refuses exactly the planted features, each with its kind, and warns
about exactly the displaced buildings, each with its distance::

    street
    +----------+----------+----------+
    | comm 0   | comm 1   | comm 2   |   each community: 1-3 compounds,
    |[C0a][C0b]|  [C1a]   |[C2a]     |   each compound: 1-3 buildings
    +----------+----------+----------+
    | comm 3   | ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from gridmap.errors import InvalidFile
from gridmap.interchange import read_interchange, write_interchange

METRIC = "EPSG:4549"  # CGCS2000 3-degree Gauss–Krüger zone of 120°E (gridmap.crs.metric_crs)
ORIGIN = gpd.GeoSeries([Point(120.30, 31.50)], crs=4490).to_crs(METRIC).iloc[0]
STREET, DISTRICT = "320214050", "320214"
MARGIN = 40.0  # metres between a community's edge and its compounds
DEFECTS = ("overlap", "building_far", "address_other", "households", "duplicate", "compound_cross", "reference")


@dataclass
class City:
    """Layers in metres (METRIC) and what the checks must report."""

    layers: dict[str, pd.DataFrame]
    cols: int
    expected_errors: set[tuple[str, str, str]] = field(default_factory=set)
    expected_warnings: dict[str, float] = field(default_factory=dict)  # building id -> metres outside


def build_city(rng: np.random.Generator, rows: int, cols: int) -> City:
    width, height = rng.uniform(400, 700), rng.uniform(400, 700)
    communities, compounds, buildings, addresses = [], [], [], []
    for r in range(rows):
        for c in range(cols):
            code = f"{STREET}{r * cols + c + 1:03d}"
            x0, y0 = ORIGIN.x + c * width, ORIGIN.y + r * height
            communities.append({"code": code, "name": f"社区{code[-3:]}", "street_code": STREET,
                                "kind": "urban", "geometry": box(x0, y0, x0 + width, y0 + height)})
            k = int(rng.integers(1, 4))
            strip = (width - 2 * MARGIN) / k
            for j in range(k):
                cid = f"C{r * cols + c}{'abc'[j]}"
                cx0, cy0 = x0 + MARGIN + j * strip, y0 + MARGIN
                cbox = box(cx0 + 5, cy0, cx0 + strip - 5, y0 + height - 2.5 * MARGIN)
                compounds.append({"id": cid, "name": f"小区{cid}", "community_code": code,
                                  "households": int(rng.integers(50, 900)), "geometry": cbox})
                for n in range(int(rng.integers(1, 4))):
                    bid = f"{cid}-B{n + 1}"
                    x = rng.uniform(cbox.bounds[0] + 8, cbox.bounds[2] - 8)
                    y = rng.uniform(cbox.bounds[1] + 8, cbox.bounds[3] - 8)
                    geom = Point(x, y) if rng.random() < 0.5 else box(x - 4, y - 4, x + 4, y + 4)
                    buildings.append({"id": bid, "compound_id": cid, "households": int(rng.integers(0, 200)),
                                      "geometry": geom})
                    addresses.append({"id": f"A-{bid}", "address": f"长江路{len(addresses) + 1}号{cid}{n + 1}栋",
                                      "compound_id": cid, "building_id": bid, "geometry": Point(x, y)})
    street = box(ORIGIN.x, ORIGIN.y, ORIGIN.x + cols * width, ORIGIN.y + rows * height)
    frame = lambda rows_: gpd.GeoDataFrame(rows_, geometry="geometry", crs=METRIC)  # noqa: E731
    layers = {
        "districts": frame([{"code": DISTRICT, "name": "新吴区", "geometry": street}]),
        "streets": frame([{"code": STREET, "name": "旺庄街道", "district_code": DISTRICT, "geometry": street}]),
        "communities": frame(communities), "compounds": frame(compounds), "buildings": frame(buildings),
        "addresses": frame(addresses),
    }
    return City(layers, cols)


def displace(city: City, rng: np.random.Generator, share: float) -> None:
    """Some buildings (and their addresses) become points north of their compound, inside the tolerance."""
    b, a, k = city.layers["buildings"], city.layers["addresses"], city.layers["compounds"].set_index("id")
    for i in np.flatnonzero(rng.random(len(b)) < share):
        top = k.geometry[b.loc[i, "compound_id"]].bounds
        metres = float(rng.uniform(15, 140))
        where = Point(rng.uniform(top[0] + 1, top[2] - 1), top[3] + metres)
        b.loc[i, "geometry"] = where
        a.loc[a["building_id"] == b.loc[i, "id"], "geometry"] = where
        city.expected_warnings[b.loc[i, "id"]] = metres


def plant(city: City, rng: np.random.Generator, defects: list[str]) -> None:
    """Plant each defect in features no other defect touches; record what the checks must say."""
    layers = city.layers
    comm, comp, bld, addr = (layers[n] for n in ("communities", "compounds", "buildings", "addresses"))
    free_b = [i for i in rng.permutation(len(bld)) if bld.loc[i, "id"] not in city.expected_warnings]
    free_k = list(rng.permutation(len(comp)))
    taken_k: set[str] = set()

    def compound() -> int | None:
        while free_k:
            i = free_k.pop()
            if comp.loc[i, "id"] not in taken_k and not bld.loc[bld["compound_id"] == comp.loc[i, "id"], "id"].isin(
                    city.expected_warnings).any():
                taken_k.add(comp.loc[i, "id"])
                return i
        return None

    def building() -> int | None:
        while free_b:
            i = free_b.pop()
            if bld.loc[i, "compound_id"] not in taken_k:
                taken_k.add(bld.loc[i, "compound_id"])
                return i
        return None

    for defect in defects:
        if defect == "overlap" and city.cols >= 2:
            i = 0  # community 001 grows 50 m east, over 002 (still inside the street)
            x0, y0, x1, y1 = comm.loc[i, "geometry"].bounds
            comm.loc[i, "geometry"] = box(x0, y0, x1 + 50, y1)
            city.expected_errors.add(("communities", comm.loc[i, "code"], "overlap"))
        elif defect == "building_far" and (i := building()) is not None:
            top = comp.set_index("id").geometry[bld.loc[i, "compound_id"]].bounds
            where = Point((top[0] + top[2]) / 2, top[3] + float(rng.uniform(300, 600)))
            bld.loc[i, "geometry"] = where
            addr.loc[addr["building_id"] == bld.loc[i, "id"], "geometry"] = where
            city.expected_errors.add(("buildings", bld.loc[i, "id"], "building_outside"))
        elif defect == "address_other" and (i := building()) is not None and (j := building()) is not None:
            # the address of building i names building j (another compound) and stands at it
            row = addr.index[addr["building_id"] == bld.loc[i, "id"]][0]
            addr.loc[row, "building_id"] = bld.loc[j, "id"]
            addr.loc[row, "geometry"] = shapely.point_on_surface(bld.loc[j, "geometry"])
            city.expected_errors.add(("addresses", addr.loc[row, "id"], "address_building"))
        elif defect == "households" and (i := compound()) is not None:
            comp.loc[i, "households"] = -5
            city.expected_errors.add(("compounds", comp.loc[i, "id"], "number"))
        elif defect == "duplicate" and (i := building()) is not None and (j := building()) is not None:
            addr = layers["addresses"] = addr.drop(addr.index[addr["building_id"] == bld.loc[j, "id"]])
            bld.loc[j, "id"] = bld.loc[i, "id"]
            city.expected_errors.add(("buildings", bld.loc[i, "id"], "duplicate"))
        elif defect == "compound_cross" and (i := compound()) is not None:
            x0, y0, x1, y1 = comp.loc[i, "geometry"].bounds
            comp.loc[i, "geometry"] = box(x0, y0, x1 + 2000, y1)
            city.expected_errors.add(("compounds", comp.loc[i, "id"], "outside"))
        elif defect == "reference" and (i := building()) is not None:
            addr = layers["addresses"] = addr.drop(addr.index[addr["building_id"] == bld.loc[i, "id"]])
            bld.loc[i, "compound_id"] = "NOPE"
            city.expected_errors.add(("buildings", bld.loc[i, "id"], "reference"))


def mess_up(city: City, rng: np.random.Generator, crs: str) -> dict[str, pd.DataFrame]:
    """The same city as another tool might write it: any CRS, Multi or not, rings either way, codes as numbers."""
    out = {}
    for name, df in city.layers.items():
        df = df.to_crs(crs).reset_index(drop=True)
        geoms = []
        for g in df.geometry:
            if g.geom_type == "Polygon" and rng.random() < 0.5:
                g = shapely.orient_polygons(g, exterior_cw=bool(rng.random() < 0.5))
            if g.geom_type == "Polygon" and name != "buildings" and rng.random() < 0.5:
                g = shapely.MultiPolygon([g])
            geoms.append(g)
        df = df.set_geometry(gpd.GeoSeries(geoms, index=df.index, crs=df.crs))
        out[name] = df
    if rng.random() < 0.5:
        out["compounds"]["community_code"] = out["compounds"]["community_code"].astype("int64")
    if rng.random() < 0.5:
        out["compounds"]["households"] = out["compounds"]["households"].astype(float)
    out["compounds"]["备注"] = "生成的测试数据"
    return out


def write(layers: dict[str, pd.DataFrame], path: Path, fmt: str) -> Path:
    layers = dict(layers)
    if fmt != "gpkg":  # buildings of both kinds: one file per kind, as the exporter writes them
        kinds = layers["buildings"].geometry.geom_type
        if kinds.nunique() > 1 and fmt == "geojson":
            b = layers.pop("buildings")
            layers["buildings_points"], layers["buildings_polygons"] = b[kinds == "Point"], b[kinds != "Point"]
    return write_interchange(layers, path / f"city{'.gpkg' if fmt == 'gpkg' else ''}", format=fmt)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(rows=st.integers(1, 3), cols=st.integers(1, 3), seed=st.integers(0, 2**32 - 1),
       displaced=st.sampled_from([0.0, 0.2, 0.5]),
       defects=st.lists(st.sampled_from(DEFECTS), unique=True, max_size=4),
       crs=st.sampled_from(["EPSG:4490", "EPSG:4326", METRIC]), fmt=st.sampled_from(["gpkg", "geojson", "shp"]))
def test_exactly_the_planted_defects_are_refused(tmp_path_factory: pytest.TempPathFactory, rows: int, cols: int,
                                                 seed: int, displaced: float, defects: list[str], crs: str,
                                                 fmt: str) -> None:
    rng = np.random.default_rng(seed)
    city = build_city(rng, rows, cols)
    displace(city, rng, displaced)
    plant(city, rng, defects)
    path = write(mess_up(city, rng, crs), tmp_path_factory.mktemp("city"), fmt)
    if city.expected_errors:
        with pytest.raises(InvalidFile) as info:
            read_interchange(path)
        found = {(i.layer, i.feature, i.kind) for i in info.value.issues if i.severity == "error"}
        assert found == city.expected_errors, info.value.detail
        assert "np." not in info.value.detail
        warnings = [i for i in info.value.issues if i.severity == "warning"]
    else:
        data = read_interchange(path)
        assert data.counts()["buildings"] == len(city.layers["buildings"])
        warnings = data.warnings
    by_building = {w.feature: w for w in warnings}
    assert set(by_building) == set(city.expected_warnings)
    for bid, metres in city.expected_warnings.items():
        said = float(by_building[bid].problem.split("lies ")[1].split(" m")[0])
        assert said == pytest.approx(metres, abs=0.6 if metres < 10 else 1.0)
