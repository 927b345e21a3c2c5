"""Coverage lookup over HTTP against a real PostGIS: grids, edges, history, roles, errors.

The dataset is tests/tiny.py plus grids, buildings, addresses, staff and party rows::

    lon 120.300    120.305      120.310                  120.318  120.320
  31.51 +------------+------------+-----------------------+.......+
        | ...001001  | ...001002  |      ...002001        | (no   |
        |  [C1]      |   [C2]     |        [C3]           | grid) |
  31.50 +------------+------------+-----------------------+.......+
        community ...001 (新光)    community ...002 (春雷)

Plan A is drawn above; plan B redraws community ...001 as one grid and splits
...002 at lat 31.505 (north ...002001, south ...002002).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box
from sqlalchemy import Connection, text

from api.models import LookupAnswer
from gridmap.address import add_noise
from gridmap.crs import gcj02_to_bd09, wgs84_to_gcj02
from gridmap.storage.export import export_layers
from gridmap.storage.load import import_file
from gridmap.storage.plans import publish
from tests.tiny import tiny_layers, write_tiny

W1, W2, E1 = "320214050001001", "320214050001002", "320214050002001"
E2 = "320214050002002"
PRIVATE = ("13800000001", "13800000003", "13800000011", "13800000012", "13800000013")
PUBLIC = "13800000002"
ROAD = {"C1": ("长江路", 8), "C2": ("长江路", 20), "C3": ("新华路", 5)}


def grids(plan: str) -> gpd.GeoDataFrame:
    """Plan A: three grids (a strip of ...002 left uncovered); plan B: a redraw."""
    if plan == "A":
        rows = [(W1, "新光一网格", "320214050001", 320, box(120.300, 31.50, 120.305, 31.51)),
                (W2, "新光二网格", "320214050001", 410, box(120.305, 31.50, 120.310, 31.51)),
                (E1, "春雷一网格", "320214050002", 350, box(120.310, 31.50, 120.318, 31.51))]
    else:
        rows = [(W1, "新光网格", "320214050001", 730, box(120.300, 31.50, 120.310, 31.51)),
                (E1, "春雷北网格", "320214050002", 200, box(120.310, 31.505, 120.320, 31.51)),
                (E2, "春雷南网格", "320214050002", 150, box(120.310, 31.50, 120.320, 31.505))]
    return gpd.GeoDataFrame([{"code": c, "name": n, "community_code": cc, "households": h, "plan": plan,
                              "geometry": g} for c, n, cc, h, g in rows], geometry="geometry", crs=4490)


def layers() -> dict[str, pd.DataFrame]:
    """tiny.py with building polygons, one address per building unit, service points and grids of plan A."""
    out = tiny_layers()
    compounds = out["compounds"].set_index("id").geometry
    buildings, addresses = [], []
    for cid, n in (("C1", 4), ("C2", 2), ("C3", 3)):
        x0, y0, x1, y1 = compounds[cid].bounds
        width = (x1 - x0) / n
        road, door = ROAD[cid]
        name = out["compounds"].set_index("id").at[cid, "name"]
        for b in range(1, n + 1):
            bid = f"{cid}-B{b}"
            shape = box(x0 + (b - 1) * width + 0.0001, y0 + 0.0005, x0 + b * width - 0.0001, y1 - 0.0005)
            buildings.append({"id": bid, "compound_id": cid, "households": 80, "geometry": shape})
            for u in (1, 2):
                addresses.append({"id": f"{bid}-U{u}", "compound_id": cid, "building_id": bid,
                                  "address": f"江苏省无锡市新吴区旺庄街道{road}{door}号{name}{b}栋{u}单元",
                                  "geometry": shape.centroid})
    out["buildings"] = gpd.GeoDataFrame(buildings, geometry="geometry", crs=4490)
    out["addresses"] = gpd.GeoDataFrame(addresses, geometry="geometry", crs=4490)
    out["service_points"] = gpd.GeoDataFrame([
        {"id": "SP1", "name": "新光社区党群服务中心", "kind": "party_service_centre", "hours": "8:30-17:30",
         "community_code": "320214050001", "geometry": Point(120.3045, 31.5055)},
        {"id": "SP2", "name": "春雷红色驿站", "kind": "red_station", "hours": "9:00-21:00",
         "community_code": "320214050002", "geometry": Point(120.315, 31.509)},
    ], geometry="geometry", crs=4490)
    out["grids"] = grids("A")
    return out


STAFF = [  # id, name, role, agency, phone, public
    ("S1", "王芳", "grid_head", "community", "13800000001", False),
    ("S2", "李强", "community_police", "police", PUBLIC, True),
    ("S3", "赵敏", "building_chief", "community", "13800000003", False),
    ("P1", "陈警官", "community_police", "police", "13800000011", False),
    ("U1", "周城管", "urban_management", "urban_management", "13800000012", False),
    ("M1", "吴市监", "market_regulation", "market_regulation", "13800000013", False),
]


def add_staffing(conn: Connection, plan: str = "A") -> None:
    """Posts on grid W1, officers for compound C1 and the party chain, as the staffing engine would."""
    for sid, name, role, agency, phone, public in STAFF:
        conn.execute(text("""INSERT INTO staff (id, name, role, agency, phone, phone_public, community_code)
                             VALUES (:i, :n, :r, :a, :p, :pub, '320214050001') ON CONFLICT (id) DO UPDATE
                             SET phone = EXCLUDED.phone, phone_public = EXCLUDED.phone_public"""),
                     {"i": sid, "n": name, "r": role, "a": agency, "p": phone, "pub": public})
    posts = [("S1", "grid_head", None), ("S2", "community_police", None), ("S3", "building_chief", "C1-B2")]
    for sid, role, building in posts:
        conn.execute(text("""INSERT INTO staff_post (staff_id, role, plan, grid_code, building_id, valid_from)
                             VALUES (:s, :r, :p, :g, :b, '2020-01-01')"""),
                     {"s": sid, "r": role, "p": plan, "g": W1, "b": building})
    for sid, agency in (("P1", "police"), ("U1", "urban_management"), ("M1", "market_regulation")):
        conn.execute(text("""INSERT INTO officer_link (staff_id, agency, compound_id, valid_from)
                             VALUES (:s, :a, 'C1', '2020-01-01')"""), {"s": sid, "a": agency})
    conn.execute(text("""INSERT INTO party_org (id, name, level, parent_id, street_code, community_code, plan,
                                                grid_code, secretary_staff_id) VALUES
        ('SC1', '旺庄街道大工委', 'street_committee', NULL, '320214050', NULL, NULL, NULL, NULL),
        ('CC1', '新光社区大党委', 'community_committee', 'SC1', '320214050', '320214050001', NULL, NULL, NULL),
        ('GB1', '新光一网格党支部', 'grid_branch', 'CC1', '320214050', '320214050001', :plan, :grid, 'S1')"""),
        {"plan": plan, "grid": W1})


@pytest.fixture
def city(conn: Connection, tmp_path: Path) -> Connection:
    """The dataset imported, plan A published on 2024-01-01, staffed."""
    import_file(conn, write_tiny(tmp_path / "city.gpkg", layers()))
    publish(conn, "A", at=datetime(2024, 1, 1, tzinfo=timezone.utc), force=True,
            reason="test: staffed after publishing; a strip is left uncovered on purpose")
    add_staffing(conn)
    return conn


def get(client, **params):
    return client.get("/v1/lookup", params=params)


def dispatcher_key(conn: Connection) -> dict[str, str]:
    from gridmap.storage.keys import create_key

    return {"X-API-Key": create_key(conn, "dispatcher")}


# ---------------------------------------------------------------- where points fall


def test_answers_agree_with_point_in_polygon(client, city: Connection) -> None:
    exported = export_layers(city)["grids"]
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(120.3001, 120.3179, 40), rng.uniform(31.5001, 31.5099, 40)
    for x, y in zip(lon, lat):
        inside = exported[exported.geometry.covers(Point(x, y))]["code"].tolist()
        r = get(client, lon=x, lat=y, crs="cgcs2000")
        assert r.status_code == 200, r.text
        assert r.json()["grid"]["code"] == min(inside)


def test_vectorised_lookup_agrees_with_point_in_polygon(client, city: Connection) -> None:
    from gridmap.services.coverage import CoverageCache
    from gridmap.storage.coverage import generation_at, load_coverage
    from gridmap.coverage.index import CoverageIndex

    index = CoverageIndex(load_coverage(city, generation_at(city)), edge_m=30)
    exported = export_layers(city)["grids"]
    rng = np.random.default_rng(11)
    lon, lat = rng.uniform(120.299, 120.321, 5000), rng.uniform(31.499, 31.511, 5000)
    batch = index.locate_many(lon, lat)
    pts = shapely.points(lon, lat)
    for k in range(lon.size):
        covering = exported[exported.geometry.covers(pts[k])]["code"]
        assert batch.code(k) == (min(covering) if len(covering) else None)
    assert isinstance(CoverageCache(), CoverageCache)


def test_gcj02_and_bd09_land_in_the_same_grid(client, city: Connection) -> None:
    lon, lat = 120.3072, 31.5031
    glon, glat = wgs84_to_gcj02(lon, lat)
    blon, blat = gcj02_to_bd09(glon, glat)
    assert abs(glon - lon) > 0.003  # the offset is hundreds of metres: wrong CRS = wrong grid
    answers = [get(client, lon=lon, lat=lat, crs="wgs84").json(),
               get(client, lon=glon, lat=glat, crs="gcj02").json(),
               get(client, lon=blon, lat=blat, crs="bd09").json()]
    assert {a["grid"]["code"] for a in answers} == {W2}
    for a in answers:
        assert a["location"]["lon"] == pytest.approx(lon, abs=1e-6)
        assert a["location"]["lat"] == pytest.approx(lat, abs=1e-6)
    assert get(client, lon=glon, lat=glat, crs="wgs84").json()["grid"]["code"] != W2


# ---------------------------------------------------------------- the card


def test_dispatcher_sees_the_whole_card(client, city: Connection) -> None:
    r = get(client, lon=120.3021, lat=31.5025, crs="wgs84")  # building C1-B2 in grid W1
    body = client.get("/v1/lookup", params={"lon": 120.3021, "lat": 31.5025, "crs": "wgs84"},
                      headers=dispatcher_key(city)).json()
    LookupAnswer.model_validate(body)
    assert r.status_code == 200
    assert body["grid"]["code"] == W1 and body["grid"]["plan"] == "A"
    assert body["community"]["name"] == "新光社区" and body["street"]["code"] == "320214050"
    assert body["district"]["name"] == "新吴区"
    party = body["party"]
    assert party["grid_branch"]["name"] == "新光一网格党支部"
    assert party["grid_branch"]["secretary"]["name"] == "王芳"
    assert party["community_committee"]["id"] == "CC1" and party["street_committee"]["id"] == "SC1"
    assert body["staff"]["grid_head"]["phone"] == "13800000001"
    assert [s["id"] for s in body["staff"]["workers"]["community_police"]] == ["S2"]
    assert body["staff"]["building_chief"]["name"] == "赵敏"
    assert body["compound"] == {"id": "C1", "name": "春潮花园"}
    assert {a: [o["phone"] for o in v] for a, v in body["officers"].items()} == {
        "police": ["13800000011"], "urban_management": ["13800000012"], "market_regulation": ["13800000013"]}
    points = body["service_points"]
    assert [p["id"] for p in points] == ["SP1", "SP2"]
    assert points[0]["distance_m"] < points[1]["distance_m"]
    assert 380 < points[0]["distance_m"] < 430  # 0.0024° lon and 0.003° lat away
    assert body["location"]["method"] == "coordinate" and body["location"]["confidence"] == 1.0


def test_public_never_sees_a_private_phone(client, city: Connection) -> None:
    public = get(client, lon=120.3021, lat=31.5025, crs="wgs84")
    assert public.status_code == 200
    assert not any(phone in public.text for phone in PRIVATE)
    assert PUBLIC in public.text
    assert public.json()["staff"]["grid_head"]["name"] == "王芳"
    private = client.get("/v1/lookup", params={"lon": 120.3021, "lat": 31.5025, "crs": "wgs84"},
                         headers=dispatcher_key(city))
    assert all(phone in private.text for phone in PRIVATE)


def test_unknown_key_is_refused(client, city: Connection) -> None:
    r = client.get("/v1/lookup", params={"lon": 120.3021, "lat": 31.5025, "crs": "wgs84"},
                   headers={"X-API-Key": "gm_nope"})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"


# ---------------------------------------------------------------- edges and outside


def test_edge_near_a_shared_boundary(client, city: Connection) -> None:
    metres_per_degree_lon = 111_320 * np.cos(np.radians(31.505))
    near = get(client, lon=120.305 - 10 / metres_per_degree_lon, lat=31.5055, crs="cgcs2000").json()
    assert near["grid"]["code"] == W1 and near["edge"] is True
    assert near["boundary_distance_m"] == pytest.approx(10, abs=0.5)
    assert [n["code"] for n in near["neighbours"]] == [W2]
    assert near["neighbours"][0]["distance_m"] == pytest.approx(10, abs=0.5)
    middle = get(client, lon=120.3025, lat=31.5050, crs="cgcs2000").json()
    assert middle["edge"] is False and middle["neighbours"] == []
    on_line = get(client, lon=120.305, lat=31.5055, crs="cgcs2000").json()
    assert on_line["grid"]["code"] == W1 and on_line["edge"] is True


def test_outside_every_grid_is_404_with_the_nearest(client, city: Connection) -> None:
    r = get(client, lon=120.319, lat=31.505, crs="cgcs2000")  # the uncovered strip of plan A
    assert r.status_code == 404
    body = r.json()
    assert body["error"] == "no_covering_grid" and "nearest" in body["detail"]
    assert body["nearest"]["code"] == E1
    assert body["nearest"]["distance_m"] == pytest.approx(0.001 * 111_320 * np.cos(np.radians(31.505)), rel=0.01)


# ---------------------------------------------------------------- history


def test_at_answers_from_the_generation_current_then(client, city: Connection, tmp_path: Path) -> None:
    redraw = {k: v for k, v in layers().items() if k in ("districts", "streets", "communities")}
    redraw["grids"] = grids("B")
    import_file(city, write_tiny(tmp_path / "b.gpkg", redraw))
    publish(city, "B", at=datetime(2025, 1, 1, tzinfo=timezone.utc), force=True, reason="test: unstaffed redraw")
    point = {"lon": 120.3075, "lat": 31.5025, "crs": "wgs84"}
    old = get(client, **point, at="2024-06-01").json()
    assert old["grid"]["code"] == W2 and old["grid"]["plan"] == "A"
    assert old["grid"]["generation"]["valid_to"].startswith("2025-01-01")
    new = get(client, **point, at="2025-06-01").json()
    assert new["grid"]["code"] == W1 and new["grid"]["plan"] == "B"
    assert get(client, **point).json()["grid"]["plan"] == "B"
    south = {"lon": 120.319, "lat": 31.502, "crs": "wgs84"}
    assert get(client, **south).json()["grid"]["code"] == E2
    assert get(client, **south, at="2024-06-01").status_code == 404  # the strip was uncovered in A
    before = get(client, **point, at="2023-06-01")
    assert before.status_code == 404 and before.json()["error"] == "not_found"


def test_publish_refreshes_the_cached_index(client, city: Connection, tmp_path: Path) -> None:
    from gridmap.services.coverage import CoverageCache

    client.app.state.coverage = CoverageCache(edge_m=30, max_age=0.0)
    point = {"lon": 120.3075, "lat": 31.5025, "crs": "wgs84"}
    assert get(client, **point).json()["grid"]["code"] == W2
    redraw = {k: v for k, v in layers().items() if k in ("districts", "streets", "communities")}
    redraw["grids"] = grids("B")
    import_file(city, write_tiny(tmp_path / "b.gpkg", redraw))
    publish(city, "B", at=datetime(2025, 1, 1, tzinfo=timezone.utc), force=True, reason="test: unstaffed redraw")
    assert get(client, **point).json()["grid"]["code"] == W1


# ---------------------------------------------------------------- addresses


def test_exact_address(client, city: Connection) -> None:
    body = get(client, address="江苏省无锡市新吴区旺庄街道长江路8号春潮花园3栋2单元").json()
    assert body["location"]["method"] == "exact_address"
    assert body["location"]["address_id"] == "C1-B3-U2"
    assert body["building_id"] == "C1-B3" and body["compound"]["id"] == "C1"
    assert body["grid"]["code"] == W1


def test_noisy_addresses_resolve_to_the_right_building(client, city: Connection) -> None:
    rng = np.random.default_rng(2024)
    rows = layers()["addresses"]
    right = 0
    total = 0
    for _ in range(3):
        for row in rows.itertuples():
            noisy = add_noise(row.address, rng)
            r = get(client, address=noisy)
            total += 1
            if r.status_code == 200 and r.json()["building_id"] == row.building_id:
                right += 1
    assert right / total >= 0.95, f"{right}/{total}"


def test_compound_name_alone(client, city: Connection) -> None:
    body = get(client, address="新洲家园").json()
    assert body["location"]["method"] in ("compound_name", "parsed_address")
    assert body["compound"]["id"] == "C3" and body["grid"]["code"] == E1
    assert body["location"]["confidence"] < 1


def test_building_without_unit(client, city: Connection) -> None:
    body = get(client, address="春潮花园2栋").json()
    assert body["compound"]["id"] == "C1"
    assert body["location"]["confidence"] < 1


def test_unknown_address_is_404(client, city: Connection) -> None:
    r = get(client, address="北京市海淀区中关村大街1号")
    assert r.status_code == 404 and r.json()["error"] == "address_not_found"


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("params, error, word", [
    ({"lon": 120.3, "lat": 95, "crs": "wgs84"}, "out_of_range", "latitude"),
    ({"lon": 200, "lat": 31.5, "crs": "wgs84"}, "out_of_range", "longitude"),
    ({"lon": "nan", "lat": 31.5, "crs": "wgs84"}, "out_of_range", "longitude"),
    ({"lon": 116.4, "lat": 39.9, "crs": "wgs84"}, "out_of_range", "service area"),
    ({"lon": 120.3, "lat": 31.5, "crs": "mars"}, "unknown_crs", "mars"),
    ({"lon": 120.3, "lat": 31.5}, "invalid_input", "crs"),
    ({"lon": "east", "lat": 31.5, "crs": "wgs84"}, "invalid_input", "lon"),
    ({"lat": 31.5, "crs": "wgs84"}, "invalid_input", "lon"),
    ({}, "invalid_input", "address"),
    ({"address": "  "}, "invalid_input", "empty"),
    ({"address": "长" * 201}, "invalid_input", "201"),
    ({"address": "春潮花园", "lon": 120.3, "lat": 31.5}, "invalid_input", "not both"),
    ({"lon": 120.3021, "lat": 31.5025, "crs": "wgs84", "at": "last march"}, "invalid_input", "at="),
])
def test_bad_input_is_a_named_4xx(client, city: Connection, params: dict, error: str, word: str) -> None:
    r = get(client, **params)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == error and word in body["detail"], body


def test_no_published_plan_is_404(client, conn: Connection) -> None:
    r = get(client, lon=120.3025, lat=31.5025, crs="wgs84")
    assert r.status_code == 404 and "publish" in r.json()["detail"]
