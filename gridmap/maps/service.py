"""Public service-point map (便民服务地图): service points by kind, 15-minute walking coverage,
compounds left outside it, and a "find my grid" box that calls the lookup API. No private data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import folium
import geopandas as gpd
import pandas as pd

from gridmap.maps import cards as c
from gridmap.maps.base import Control, DataLayer, base_map, escape, finish, html_box
from gridmap.maps.geo import bounds_of, feature_collection, to_display
from gridmap.walk import WALK_MINUTES, WALK_SPEED_KMH, WalkCoverage, covered_compounds, covered_share, walk_coverage

PUBLIC_POINT_COLUMNS = ("name", "kind", "hours", "services")
#: The role this page is drawn for: it is public, whoever asks.
PUBLIC = "public"


def service_point_features(points: gpd.GeoDataFrame, crs: str) -> dict[str, Any]:
    """Service points with kind and a popup; nothing but public attributes leaves here."""
    if points.empty:
        return {"type": "FeatureCollection", "features": []}
    out = to_display(points, crs, tolerance_m=0)
    cols = [k for k in PUBLIC_POINT_COLUMNS if k in out]
    out["card"] = [c.service_point_popup(r) for r in out[cols].to_dict("records")]
    out["name"] = out["name"].astype(str)
    return feature_collection(out, ("name", "kind", "card"))


def public_grid_features(grids: gpd.GeoDataFrame, workers: Mapping[str, list[Mapping[str, Any]]],
                         crs: str) -> dict[str, Any]:
    """Grid outlines with name, code and grid workers (phones as the public may see them)."""
    if grids.empty:
        return {"type": "FeatureCollection", "features": []}
    out = to_display(grids, crs, coverage=True)
    cards = []
    for code, name in zip(out["code"].astype(str), out["name"].astype(str)):
        people = workers.get(code, [])
        listed = "、".join(c.person_html(p, PUBLIC) for p in people) or "未公布"
        cards.append(f"<div class=gm-card><h4>{escape(name)}</h4>编码 {escape(code)}<br>网格员：{listed}</div>")
    out["card"] = cards
    return feature_collection(out, ("code", "name", "card"))


def legend_html(coverage: WalkCoverage | None, share: Mapping[str, float] | None, kinds: list[str]) -> str:
    """Icons by kind, the walking rule and the covered share."""
    items = "".join(f'<div><span class="gm-sp gm-sp-{escape(k)}">{_GLYPH.get(k, "点")}</span>'
                    f"{escape(c.KIND_ZH.get(k, k))}</div>" for k in kinds)
    text = ""
    if coverage is not None:
        text += (f'<div><i style="background:#1a9641;opacity:.4"></i>{escape(coverage.describe())}可达范围</div>'
                 '<div><i style="background:#fdae61;border-color:#d7191c"></i>可达范围外的小区</div>')
    if share:
        text += (f"<div><b>覆盖户数 {share['households_covered']}/{share['households']}"
                 f"（{share['households_share']:.1%}）</b>，"
                 f"小区 {share['compounds_covered']}/{share['compounds']}</div>")
    return f"<h4>党群服务点与15分钟生活圈</h4>{items}{text}"


_GLYPH = {"party_service_centre": "党", "red_station": "红", "grid_service_station": "站",
          "convenience_centre": "便"}


def service_point_map(
    points: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame | None = None,
    coverage: WalkCoverage | None = None,
    covered: pd.Series | None = None,
    share: Mapping[str, float] | None = None,
    *,
    grids: gpd.GeoDataFrame | None = None,
    grid_workers: Mapping[str, list[Mapping[str, Any]]] | None = None,
    tiles: str = "openstreetmap",
    api_base: str = "",
) -> folium.Map:
    """The public map: points by kind, walking coverage, compounds outside it, "find my grid"."""
    m = base_map(tiles, "党群服务地图")
    crs = m.gridmap_crs
    if grids is not None and not grids.empty:
        DataLayer("grids", "网格", {"style": "gridOutline", "popup": "card"},
                  public_grid_features(grids, grid_workers or {}, crs)).add_to(m)
    if coverage is not None and not coverage.area.is_empty:
        area = gpd.GeoDataFrame(geometry=[coverage.area], crs=4490)
        DataLayer("walk", f"步行{coverage.minutes:g}分钟可达范围", {"style": "walk"},
                  feature_collection(to_display(area, crs, tolerance_m=5.0))).add_to(m)
    if compounds is not None and not compounds.empty:
        shown = to_display(compounds, crs)
        shown["covered"] = covered.reindex(compounds.index).fillna(False).astype(bool) if covered is not None else True
        shown["card"] = [c.compound_popup(r) + ("" if ok else "<p class=gm-warn>不在15分钟步行范围内</p>")
                         for r, ok in zip(shown[["name", "households"]].to_dict("records"), shown["covered"])]
        DataLayer("compounds", "小区（红色为步行范围外）", {"style": "compoundWalk", "popup": "card"},
                  feature_collection(shown, ("covered", "card"))).add_to(m)
    kinds = [k for k in c.KIND_ZH if k in set(points.get("kind", pd.Series(dtype=str)))]
    for kind in kinds + sorted(set(points.get("kind", pd.Series(dtype=str))) - set(c.KIND_ZH)):
        part = points[points["kind"] == kind]
        DataLayer(f"sp_{kind}", c.KIND_ZH.get(kind, kind), {"point": "service", "popup": "card"},
                  service_point_features(part, crs)).add_to(m)
    Control("findGrid", {"apiBase": api_base, "crs": crs, "gridsKey": "grids", "gridsStyle": "gridOutline",
                         "position": "topleft"}).add_to(m)
    html_box(m, legend_html(coverage, share, kinds), "bottomright", "gm-box gm-legend")
    return finish(m, bounds_of([points, compounds], crs))


def service_point_page(
    points: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame,
    roads: gpd.GeoDataFrame,
    *,
    grids: gpd.GeoDataFrame | None = None,
    grid_workers: Mapping[str, list[Mapping[str, Any]]] | None = None,
    tiles: str = "openstreetmap",
    api_base: str = "",
    minutes: float = WALK_MINUTES,
    speed_kmh: float = WALK_SPEED_KMH,
) -> folium.Map:
    """Walking coverage over ``roads`` from ``points``, then :func:`service_point_map`."""
    coverage = covered = share = None
    if len(points) and len(roads):
        coverage = walk_coverage(roads, points, minutes=minutes, speed_kmh=speed_kmh)
        if compounds is not None and len(compounds):
            covered = covered_compounds(compounds, coverage)
            share = covered_share(compounds, covered)
    return service_point_map(points, compounds, coverage, covered, share, grids=grids, grid_workers=grid_workers,
                             tiles=tiles, api_base=api_base)
