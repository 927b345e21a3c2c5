"""Map pages: pure rendering, walking coverage, the /maps routes and `gridmap map`.

The data is tests/tiny.py plus three grids, a road lattice, four service
points and a small roster (see ``map_layers``)::

    lon 120.300   120.305   120.310            120.320
  31.51 +---------+---------+--------------------+
        |  G…001  |  G…002  |      G…(002)001    |   roads: 31.5005, 31.505, 31.5095 (W-E)
        |  [C1]   |  [C2]   |        [C3]        |          120.3005 … 120.3195 (S-N)
        | 250 hh  | 410 hh  |       650 hh       |   service points near the SW corner
  31.50 +---------+---------+--------------------+
         under      within        over
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box
from sqlalchemy import Connection, text

from tests.tiny import tiny_layers

PLAN = "maps-test"
G1, G2, G3 = "320214050001001", "320214050001002", "320214050002001"
PRIVATE_PHONE = "19900000001"
PUBLIC_PHONE = "13800000002"


def map_layers() -> dict[str, pd.DataFrame]:
    """tiny.py with households spread under/within/over, grids, roads, service points and staff."""
    layers = tiny_layers()
    layers["compounds"]["households"] = [250, 410, 650]
    layers["buildings"]["households"] = [250, 650]
    gdf = lambda rows: gpd.GeoDataFrame(rows, geometry="geometry", crs=4490)  # noqa: E731
    layers["grids"] = gdf([
        {"code": G1, "name": "新光社区第1网格", "community_code": "320214050001", "households": 250, "plan": PLAN,
         "geometry": box(120.30, 31.50, 120.305, 31.51)},
        {"code": G2, "name": "新光社区第2网格", "community_code": "320214050001", "households": 410, "plan": PLAN,
         "geometry": box(120.305, 31.50, 120.31, 31.51)},
        {"code": G3, "name": "春雷社区第1网格", "community_code": "320214050002", "households": 650, "plan": PLAN,
         "geometry": box(120.31, 31.50, 120.32, 31.51)},
    ])
    roads = [LineString([(120.2995, y), (120.3205, y)]) for y in (31.5005, 31.505, 31.5095)]
    roads += [LineString([(x, 31.4995), (x, 31.5105)]) for x in (120.3005, 120.305, 120.31, 120.315, 120.3195)]
    layers["barriers"] = gdf([{"kind": "road", "class": "primary" if i == 1 else "residential",
                               "name": f"路{i}", "geometry": g} for i, g in enumerate(roads)]
                             + [{"kind": "water", "class": "river", "name": "伯渎港",
                                 "geometry": LineString([(120.30, 31.5098), (120.32, 31.5098)])}])
    kinds = ["party_service_centre", "red_station", "grid_service_station", "convenience_centre"]
    layers["service_points"] = gdf([
        {"id": f"SP{i}", "name": f"服务点{i}", "kind": k, "hours": "周一至周五 9:00-17:00",
         "services": "党员活动、便民办事", "geometry": Point(120.3006 + 0.0004 * i, 31.5006)}
        for i, k in enumerate(kinds)])
    staff = [("S1", "王芳", "grid_head", "community", PRIVATE_PHONE, False),
             ("S2", "李强", "grid_worker", "community", PUBLIC_PHONE, True),
             ("S3", "赵警官", "community_police", "police", "19900000003", False),
             ("S4", "钱城管", "urban_management", "urban_management", "19900000004", False),
             ("S5", "孙市监", "market_regulation", "market_regulation", "19900000005", False)]
    layers["staff"] = pd.DataFrame([{"id": i, "name": n, "role": r, "agency": a, "phone": p, "phone_public": pub,
                                     "community_code": "320214050001", "street_code": "320214050"}
                                    for i, n, r, a, p, pub in staff])
    return layers


def load_map_data(conn: Connection, folder: Path) -> None:
    """Import ``map_layers``, add posts, a party branch and officer links, publish the plan."""
    from gridmap.interchange import write_interchange
    from gridmap.storage.load import import_file
    from gridmap.storage.plans import publish

    import_file(conn, write_interchange(map_layers(), folder / "maps.gpkg"))
    conn.execute(text("UPDATE plan SET params = CAST(:p AS jsonb), report = CAST(:r AS jsonb) WHERE name = :n"),
                 {"n": PLAN, "p": '{"rules": {"urban": {"min_households": 300, "max_households": 500}}}',
                  "r": json.dumps({"violations": [{"rule": "contiguity", "grid_code": G2, "detail": "x"}]})})
    conn.execute(text("""INSERT INTO staff_post (staff_id, role, plan, grid_code) VALUES
                         ('S1', 'grid_head', :p, :g1), ('S2', 'grid_worker', :p, :g1),
                         ('S3', 'community_police', :p, :g1)"""), {"p": PLAN, "g1": G1})
    conn.execute(text("""INSERT INTO party_org (id, name, level, parent_id, street_code) VALUES
                         ('P0', '旺庄街道大工委', 'street_committee', NULL, '320214050')"""))
    conn.execute(text("""INSERT INTO party_org (id, name, level, parent_id, community_code) VALUES
                         ('P1', '新光社区大党委', 'community_committee', 'P0', '320214050001')"""))
    conn.execute(text("""INSERT INTO party_org (id, name, level, parent_id, plan, grid_code, secretary_staff_id)
                         VALUES ('P2', '新光社区第1网格党支部', 'grid_branch', 'P1', :p, :g1, 'S1')"""),
                 {"p": PLAN, "g1": G1})
    members = conn.execute(text("SELECT grid_code, compound_id, building_id, households FROM grid_member "
                                "WHERE plan = :p ORDER BY grid_code"), {"p": PLAN}).all()
    assert [tuple(m) for m in members] == [(G1, "C1", None, 250), (G2, "C2", None, 410), (G3, "C3", None, 650)]
    conn.execute(text("""INSERT INTO officer_link (staff_id, agency, compound_id) VALUES
                         ('S3', 'police', 'C1'), ('S3', 'police', 'C2'), ('S3', 'police', 'C3'),
                         ('S4', 'urban_management', 'C1'), ('S5', 'market_regulation', 'C1')"""))
    publish(conn, PLAN, force=True, reason="test: grids G2 and G3 have no head")


@pytest.fixture
def map_data(conn: Connection, tmp_path: Path) -> Connection:
    load_map_data(conn, tmp_path)
    return conn


# ---------------------------------------------------------------- pure


def test_walk_distance_is_stated_speed_times_time() -> None:
    from gridmap.walk import walk_distance_m

    assert walk_distance_m(15, 4.5) == pytest.approx(1125.0)
    with pytest.raises(ValueError, match="positive"):
        walk_distance_m(0, 4.5)


def test_walk_coverage_follows_the_network_not_the_crow() -> None:
    """A cross of roads: the covered area reaches 1125 m along each arm, far less between them."""
    from gridmap.walk import covered_compounds, walk_coverage

    roads = gpd.GeoDataFrame({"kind": ["road"] * 2, "class": ["residential"] * 2},
                             geometry=[LineString([(120.28, 31.50), (120.32, 31.50)]),
                                       LineString([(120.30, 31.48), (120.30, 31.52)])], crs=4490)
    points = gpd.GeoDataFrame(geometry=[Point(120.30, 31.50)], crs=4490)
    cov = walk_coverage(roads, points, minutes=15, speed_kmh=4.5, reach_m=50)
    minx, miny, maxx, maxy = cov.area.bounds
    metres_per_deg_lon = 111_320 * 0.8526  # cos(31.5°)
    assert (maxx - 120.30) * metres_per_deg_lon == pytest.approx(1175, abs=15)
    assert (maxy - 31.50) * 110_900 == pytest.approx(1175, abs=15)
    on_arm = box(120.309, 31.4999, 120.3095, 31.5001)
    diagonal = box(120.306, 31.506, 120.307, 31.507)  # ~800 m as the crow flies, 1.3 km by road
    covered = covered_compounds(gpd.GeoDataFrame(geometry=[on_arm, diagonal], crs=4490), cov)
    assert covered.tolist() == [True, False]


def test_grid_status_and_violations() -> None:
    from gridmap.maps.coverage import grid_status, grid_violations

    grids = pd.DataFrame({"code": ["a", "b", "c"], "households": [299, 300, 501]})
    status = grid_status(grids["households"], 300, 500)
    assert status.tolist() == ["under", "within", "over"]
    v = grid_violations(grids, status, {"b": ["contiguity"]})
    assert v.tolist() == [["户数低于下限"], ["网格不连续"], ["户数超过上限"]]


def test_display_geometry_is_rounded_and_gcj_shifted() -> None:
    from gridmap.maps.geo import feature_collection, to_display

    gdf = gpd.GeoDataFrame({"code": ["x"]}, geometry=[box(120.3000001234, 31.5, 120.31, 31.51)], crs=4490)
    wgs = feature_collection(to_display(gdf, "wgs84"), ["code"])
    gcj = feature_collection(to_display(gdf, "gcj02"), ["code"])
    xy = wgs["features"][0]["geometry"]["coordinates"][0]
    assert all(len(repr(v).split(".")[1]) <= 6 for pt in xy for v in pt)
    shift = gcj["features"][0]["geometry"]["coordinates"][0][0][0] - xy[0][0]
    assert 0.003 < shift < 0.006  # the GCJ-02 offset near Wuxi is about 400-500 m east


def test_pages_are_offline_no_cdn() -> None:
    from gridmap.maps import coverage_map, render_html

    grids = map_layers()["grids"]
    inline = render_html(coverage_map(grids, tiles="none"))
    linked = render_html(coverage_map(grids, tiles="none"), "/maps/static")
    for html in (inline, linked):
        assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', html), "no CDN assets"
        assert G1 in html and "网格覆盖图" in html
    assert '/maps/static/leaflet/leaflet.js' in linked
    assert "data:image/png;base64" in inline  # leaflet's control images inlined too


def test_amap_tiles_put_overlays_in_gcj02() -> None:
    from gridmap.maps import coverage_map, render_html

    html = render_html(coverage_map(map_layers()["grids"], tiles="amap"), "/maps/static")
    assert "webrd0{s}.is.autonavi.com" in html and '"1234"' in html
    first = re.search(r'"coordinates":\[\[\[(\d+\.\d+),', html)
    assert first and float(first.group(1)) > 120.303  # 120.30 moved east by the GCJ-02 offset


# ---------------------------------------------------------------- routes


def test_coverage_page_public_hides_private_phones(client, map_data: Connection) -> None:
    r = client.get("/maps/coverage?tiles=none")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    for code in (G1, G2, G3):
        assert code in html
    assert "王芳" in html and "李强" in html and "新光社区第1网格党支部" in html and "赵警官" in html
    assert PRIVATE_PHONE not in html and PUBLIC_PHONE in html
    assert "网格不连续" in html and "户数超过上限" in html


def test_coverage_page_shows_private_phones_to_planners(client, map_data: Connection) -> None:
    from gridmap.storage.keys import create_key

    key = create_key(map_data, "planner")
    r = client.get("/maps/coverage?tiles=none", headers={"X-API-Key": key})
    assert r.status_code == 200 and PRIVATE_PHONE in r.text


def test_viewport_mode_and_bbox_endpoint(client, map_data: Connection) -> None:
    html = client.get("/maps/coverage?tiles=none&load=viewport").text
    assert "/maps/data/grids?" in html and f'"code":"{G1}"' not in html  # fetched, not embedded
    r = client.get(f"/maps/data/grids?bbox=120.300,31.500,120.306,31.51&plan={PLAN}&tiles=none")
    assert r.status_code == 200
    codes = sorted(f["properties"]["code"] for f in r.json()["features"])
    assert codes == [G1, G2]
    assert r.json()["truncated"] is False
    everything = client.get("/maps/data/grids?bbox=120,31,121,32").json()
    assert len(everything["features"]) == 3
    compounds = client.get("/maps/data/compounds?bbox=120,31,121,32").json()
    assert len(compounds["features"]) == 3


def test_bad_bbox_is_a_json_422(client, map_data: Connection) -> None:
    r = client.get("/maps/data/grids?bbox=1,2,3")
    assert r.status_code == 422 and r.json()["error"] == "invalid_input"
    r = client.get("/maps/data/grids?bbox=121,31,120,32")
    assert r.status_code == 422 and "west < east" in r.json()["detail"]


def test_lookup_page_point_and_address(client, map_data: Connection) -> None:
    r = client.get("/maps/lookup?lon=120.302&lat=31.502&crs=wgs84&tiles=none")
    assert r.status_code == 200
    assert "春潮花园" in r.text and G1 in r.text and "赵警官" in r.text
    assert "相邻网格" not in r.text  # 200 m from any edge
    edge = client.get("/maps/lookup?lon=120.3049&lat=31.505&crs=wgs84&tiles=none")
    assert "相邻网格" in edge.text and G2 in edge.text and "网格边界" in edge.text
    by_address = client.get("/maps/lookup", params={"address": "新吴区旺庄街道长江路8号春潮花园1栋1单元",
                                                    "tiles": "none"})
    assert by_address.status_code == 200 and G1 in by_address.text
    assert client.get("/maps/lookup?lon=120.3").status_code == 422
    outside = client.get("/maps/lookup?lon=120.5&lat=31.5&crs=wgs84&tiles=none")
    assert outside.status_code == 200 and "不在任何网格内" in outside.text


def test_service_points_page_is_public(client, map_data: Connection) -> None:
    r = client.get("/maps/service-points?tiles=none")
    assert r.status_code == 200
    html = r.text
    for name in ("党群服务中心", "红色驿站", "网格党群服务站", "便民服务中心", "周一至周五 9:00-17:00"):
        assert name in html
    assert "1125 米" in html and "4.5 km/h" in html
    assert "覆盖户数 660/1310" in html  # C1 + C2 reachable, C3 (650) outside
    assert PRIVATE_PHONE not in html and "19900000003" not in html


def test_officers_page(client, map_data: Connection) -> None:
    from gridmap.storage.keys import create_key

    anonymous = client.get("/maps/officers?tiles=none")
    assert anonymous.status_code == 403 and "赵警官" not in anonymous.text  # the roster: dispatchers only
    r = client.get("/maps/officers?tiles=none", headers={"X-API-Key": create_key(map_data, "dispatcher")})
    assert r.status_code == 200
    assert "赵警官" in r.text and "执法人员负荷" in r.text and "1310" in r.text  # 3 compounds, all households


def test_static_assets_served(client) -> None:
    r = client.get("/maps/static/leaflet/leaflet.js")
    assert r.status_code == 200 and "Leaflet" in r.text[:400]
    assert client.get("/maps/static/gridmap.js").status_code == 200


def test_no_plan_is_a_clear_409(client) -> None:

    r = client.get("/maps/coverage?tiles=none&plan=nope")
    assert r.status_code == 409 and "nope" in r.json()["detail"]


# ---------------------------------------------------------------- CLI


@pytest.mark.parametrize("kind", ["coverage", "service-points", "officers", "lookup"])
def test_cli_writes_self_contained_pages(kind: str, map_data: Connection, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from contextlib import nullcontext

    from typer.testing import CliRunner

    import gridmap.cli.maps as cmd
    from gridmap.cli import app

    class Engine:
        def connect(self):
            return nullcontext(map_data)

    monkeypatch.setattr(cmd, "engine", lambda: Engine())
    out = tmp_path / f"{kind}.html"
    extra = ["--lon", "120.302", "--lat", "31.502"] if kind == "lookup" else []
    result = CliRunner().invoke(app, ["map", kind, "-o", str(out), "--tiles", "none", *extra])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "L.map(" in html and "window.gridmap" in html
    assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', html)


def test_gcj02_bbox_comes_back_to_storage() -> None:
    from gridmap.crs import from_cgcs2000
    from gridmap.errors import InvalidInput
    from gridmap.maps.geo import bbox_to_storage

    (w, e), (s, n) = from_cgcs2000([120.30, 120.31], [31.50, 31.51], "gcj02")
    box_ = bbox_to_storage(f"{w},{s},{e},{n}", "gcj02")
    assert box_[0] < 120.30 < box_[0] + 0.0015 and box_[2] - 0.0015 < 120.31 < box_[2]
    with pytest.raises(InvalidInput, match="four numbers"):
        bbox_to_storage("a,b,c,d")


# ---------------------------------------------------------------- the map page draws the lookup answer


def test_lookup_page_requires_crs_with_lon_lat(client, map_data: Connection) -> None:
    """As /v1/lookup does: no silent wgs84 default on the map page (a GCJ-02 point is ~500 m off)."""
    r = client.get("/maps/lookup?lon=120.302&lat=31.502&tiles=none")
    assert r.status_code == 422 and r.json()["error"] == "invalid_input" and "crs" in r.json()["detail"]
    assert client.get("/v1/lookup?lon=120.302&lat=31.502").status_code == 422


@pytest.mark.parametrize("metres", [5, 20, 29, 31, 45, 200])
def test_lookup_page_edge_is_the_api_edge(client, map_data: Connection, metres: float) -> None:
    """One edge rule: the page warns exactly when the API's answer says edge, with the API's distance."""
    import math

    lon = 120.305 - metres / (111_320 * math.cos(math.radians(31.505)))
    params = {"lon": lon, "lat": 31.505, "crs": "cgcs2000"}
    answer = client.get("/v1/lookup", params=params).json()
    page = client.get("/maps/lookup", params={**params, "tiles": "none"}).text
    assert f'data-code="{answer["grid"]["code"]}"' in page
    assert ("相邻网格" in page) == answer["edge"]
    if answer["edge"]:
        assert f"仅 {answer['boundary_distance_m']:.0f} 米" in page
        assert all(n["code"] in page for n in answer["neighbours"])


def test_lookup_page_of_a_split_compound_lists_the_grids(client, map_data: Connection) -> None:
    conn = map_data
    conn.execute(text("INSERT INTO grid_member (plan, grid_code, compound_id, building_id, households) "
                      "VALUES (:p, :g, 'C1', 'C1-B1', 100)"), {"p": PLAN, "g": G2})
    api = client.get("/v1/lookup", params={"address": "春潮花园"})
    assert api.status_code == 300 and [g["code"] for g in api.json()["grids"]] == [G1, G2]
    page = client.get("/maps/lookup", params={"address": "春潮花园", "tiles": "none"})
    assert page.status_code == 300 and f'data-state="ambiguous"' in page.text
    assert f'data-codes="{G1} {G2}"' in page.text and "分属 2 个网格" in page.text
