"""Map pages (HTML) and the GeoJSON they load by viewport; vendored Leaflet under /maps/static."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlencode

import folium
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.access import check_plan, check_roster
from api.deps import CallerRoleDep, ConnDep, RoleDep, SettingsDep, coverage_source, opener
from gridmap.errors import InvalidInput
from gridmap.maps import coverage_map, officer_map, render_html, service_point_page, tiles_of
from gridmap.maps.base import STATIC_DIR
from gridmap.maps.coverage import compound_features, grid_features
from gridmap.maps.geo import bbox_to_storage
from gridmap.services.coverage import Query as LookupQuery
from gridmap.services.lookup_page import lookup_page
from gridmap.storage import mapdata
from gridmap.storage.plans import current_plan

router = APIRouter(prefix="/maps", tags=["maps"])
STATIC_URL = "/maps/static"
#: Above this many grids the coverage page loads grids and compounds by viewport.
VIEWPORT_ABOVE = 3000
#: Most features one viewport request returns (the page asks the user to zoom in beyond it).
MAX_FEATURES = 4000

TilesQ = Annotated[Literal["openstreetmap", "none", "amap"] | None,
                   Query(description="base map; amap draws every overlay in GCJ-02 (default: settings)")]
PlanQ = Annotated[str | None, Query(description="plan to draw (default: the current generation)")]


def mount_static(app: FastAPI) -> None:
    """Serve the vendored Leaflet, gridmap.js and gridmap.css the pages link to."""
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="maps-static")


def _page(m: folium.Map, status: int = 200) -> HTMLResponse:
    return HTMLResponse(render_html(m, STATIC_URL), status_code=status)


def _tiles(tiles: str | None, settings: SettingsDep) -> str:
    name = tiles or settings.tiles
    try:
        return tiles_of(name).name
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


@router.get("/coverage", response_class=HTMLResponse)
def coverage(conn: ConnDep, settings: SettingsDep, role: RoleDep, tiles: TilesQ = None, plan: PlanQ = None,
             load: Annotated[Literal["auto", "embed", "viewport"],
                             Query(description="embed all grids, or load them by viewport (auto: above "
                                               f"{VIEWPORT_ABOVE} grids)")] = "auto") -> HTMLResponse:
    """Planner coverage map: grids by households against the bounds, violations, compounds, barriers."""
    name = _tiles(tiles, settings)
    check_plan(conn, plan, role)
    plan = mapdata.map_plan(conn, plan)
    viewport = load == "viewport" or (load == "auto" and mapdata.count_grids(conn, plan) > VIEWPORT_ABOVE)
    urls = None
    if viewport:
        query = urlencode({"plan": plan, "tiles": name})
        urls = {"grids": f"/maps/data/grids?{query}", "compounds": f"/maps/data/compounds?{query}"}
    inputs = mapdata.coverage_inputs(conn, plan, viewport)
    return _page(coverage_map(**inputs, tiles=name, role=role, viewport=urls))


@router.get("/lookup", response_class=HTMLResponse,
            responses={300: {"description": "the address names several grids: the page shows them to choose"}})
def lookup(request: Request, settings: SettingsDep, role: CallerRoleDep, tiles: TilesQ = None, plan: PlanQ = None,
           lon: float | None = None, lat: float | None = None,
           crs: Annotated[str | None, Query(description="CRS of lon/lat, required with them: wgs84, cgcs2000, "
                                                        "gcj02 (Amap), bd09 (Baidu)")] = None,
           address: Annotated[str | None, Query(description="a standard address instead of lon/lat")] = None,
           ) -> HTMLResponse:
    """Dispatcher map of the lookup answer (as /v1/lookup gives it): the point, its grid, neighbouring grids
    when on an edge, the staff card; the grids to choose from when an address names several (HTTP 300).
    ``<meta name="gridmap-answer" data-state data-code data-codes>`` states the result for scripts."""
    name = _tiles(tiles, settings)
    if plan is not None:
        with opener(request)() as conn:
            check_plan(conn, plan, role)
    query = LookupQuery(lon=lon, lat=lat, crs=crs, address=address or None, plan=plan)
    page = lookup_page(coverage_source(request), query, role=role, tiles=name, edge_m=settings.edge_distance_m)
    return _page(page.map, 300 if page.state == "ambiguous" else 200)


@router.get("/service-points", response_class=HTMLResponse)
def service_points(conn: ConnDep, settings: SettingsDep, tiles: TilesQ = None) -> HTMLResponse:
    """Public map: service points by kind, 15-minute walking coverage, "find my grid". No private data."""
    name = _tiles(tiles, settings)
    plan = current_plan(conn)
    return _page(service_point_page(**mapdata.service_inputs(conn, plan), tiles=name))


@router.get("/officers", response_class=HTMLResponse,
            responses={303: {"description": "a browser not signed in: on to /maps/login"}})
def officers(request: Request, conn: ConnDep, settings: SettingsDep, role: RoleDep, tiles: TilesQ = None) -> Response:
    """Officer load map: each enforcement officer's compounds and households (the officer roster:
    dispatcher role or above; a browser not signed in is sent to /maps/login)."""
    if role == "public" and "text/html" in request.headers.get("accept", ""):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/maps/login?{urlencode({'next': target})}", status_code=303)
    check_roster(role)
    name = _tiles(tiles, settings)
    return _page(officer_map(**mapdata.officer_inputs(conn), tiles=name, role=role))


BBoxQ = Annotated[str, Query(description="west,south,east,north in the tiles' CRS (GCJ-02 for amap)")]


@router.get("/data/grids")
def grid_data(conn: ConnDep, settings: SettingsDep, role: RoleDep, bbox: BBoxQ, plan: PlanQ = None,
              tiles: TilesQ = None) -> JSONResponse:
    """Grids intersecting a box as GeoJSON (simplified, display CRS), with cards; at most MAX_FEATURES."""
    crs = tiles_of(_tiles(tiles, settings)).crs
    check_plan(conn, plan, role)
    plan = mapdata.map_plan(conn, plan)
    grids = mapdata.grids(conn, plan, bbox_to_storage(bbox, crs), limit=MAX_FEATURES + 1)
    truncated = len(grids) > MAX_FEATURES
    grids = grids.iloc[:MAX_FEATURES]
    cards = mapdata.grid_cards(conn, plan, list(grids["code"].astype(str)))
    fc = grid_features(grids, cards, mapdata.reported_violations(conn, plan), crs=crs, role=role)
    return JSONResponse({**fc, "truncated": truncated}, media_type="application/geo+json")


@router.get("/data/compounds")
def compound_data(conn: ConnDep, settings: SettingsDep, role: RoleDep, bbox: BBoxQ, plan: PlanQ = None,
                  tiles: TilesQ = None) -> JSONResponse:
    """Compounds intersecting a box as GeoJSON (simplified, display CRS); at most MAX_FEATURES."""
    crs = tiles_of(_tiles(tiles, settings)).crs
    check_plan(conn, plan, role)
    plan = mapdata.map_plan(conn, plan)
    compounds = mapdata.compounds(conn, plan, bbox_to_storage(bbox, crs))
    truncated = len(compounds) > MAX_FEATURES
    fc = compound_features(compounds.iloc[:MAX_FEATURES], crs)
    return JSONResponse({**fc, "truncated": truncated}, media_type="application/geo+json")
