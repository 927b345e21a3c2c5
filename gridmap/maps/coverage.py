"""Planner coverage map (网格覆盖图): grids by households against [min, max], rule violations,
compounds, barriers, grid-code labels, grid cards, legend and layer control."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import folium
import geopandas as gpd
import pandas as pd

from gridmap.maps import cards as c
from gridmap.maps.base import DataLayer, base_map, escape, finish, html_box
from gridmap.maps.geo import bounds_of, feature_collection, to_display

DEFAULT_MIN, DEFAULT_MAX = 300, 500
GRID_PROPS = ("code", "name", "households", "status", "violations", "label", "card")


def grid_status(households: pd.Series, lo: pd.Series | int, hi: pd.Series | int) -> pd.Series:
    """'under', 'within' or 'over' the household bounds."""
    hh = households.astype(int)
    status = pd.Series("within", index=hh.index)
    status[hh < lo] = "under"
    status[hh > hi] = "over"
    return status


def grid_violations(grids: pd.DataFrame, status: pd.Series, reported: Mapping[str, list[str]]) -> pd.Series:
    """Chinese labels of the rules each grid breaks: bounds (computed here) plus the plan's report."""
    out = []
    for code, st in zip(grids["code"].astype(str), status):
        rules = list(dict.fromkeys(reported.get(code, [])))
        if st == "under" and "min_households" not in rules:
            rules.insert(0, "min_households")
        if st == "over" and "max_households" not in rules:
            rules.insert(0, "max_households")
        out.append([c.RULE_ZH.get(r, r) for r in rules])
    return pd.Series(out, index=grids.index, dtype=object)


def grid_features(
    grids: gpd.GeoDataFrame,
    grid_cards: Mapping[str, Mapping[str, Any]] | None = None,
    reported: Mapping[str, list[str]] | None = None,
    *,
    min_households: int = DEFAULT_MIN,
    max_households: int = DEFAULT_MAX,
    crs: str = "wgs84",
    role: str = "public",
) -> dict[str, Any]:
    """Grids as display GeoJSON with status, violations, label and the grid card as popup HTML.

    Per-grid bounds are taken from ``min_households``/``max_households``
    columns when ``grids`` has them (urban and rural rules differ).
    """
    if grids.empty:
        return {"type": "FeatureCollection", "features": []}
    lo = grids["min_households"].fillna(min_households) if "min_households" in grids else min_households
    hi = grids["max_households"].fillna(max_households) if "max_households" in grids else max_households
    out = to_display(grids, crs, coverage="community_code" if "community_code" in grids else True)
    out["status"] = grid_status(grids["households"], lo, hi)
    out["violations"] = grid_violations(grids, out["status"], reported or {})
    out["label"] = grids["code"].astype(str)
    out["card"] = [c.grid_card(row, (grid_cards or {}).get(str(row["code"])), role=role)
                   for row in out[["code", "name", "households", "status", "violations"]].to_dict("records")]
    return feature_collection(out, GRID_PROPS)


def compound_features(compounds: gpd.GeoDataFrame, crs: str = "wgs84") -> dict[str, Any]:
    """Compounds with a popup (name, households, grid)."""
    if compounds.empty:
        return {"type": "FeatureCollection", "features": []}
    out = to_display(compounds, crs)
    cols = [k for k in ("name", "households", "grid_code") if k in out]
    out["card"] = [c.compound_popup(r) for r in out[cols].to_dict("records")]
    out["tip"] = out["name"].astype(str)
    return feature_collection(out, ("card", "tip"))


def barrier_features(barriers: gpd.GeoDataFrame, crs: str = "wgs84") -> dict[str, Any]:
    """Major roads and water with their names as tooltips."""
    if barriers.empty:
        return {"type": "FeatureCollection", "features": []}
    out = to_display(barriers, crs, tolerance_m=5.0)
    names = out["name"] if "name" in out else pd.Series(None, index=out.index)
    kind_zh = {"road": "主干道", "water": "水系", "rail": "铁路", "wall": "围墙"}
    out["tip"] = [f"{n}（{kind_zh.get(k, k)}）" if isinstance(n, str) and n else kind_zh.get(k, k)
                  for n, k in zip(names, out["kind"])]
    return feature_collection(out, ("kind", "tip"))


def legend_html(min_households: int, max_households: int, plan: str | None) -> str:
    """The coverage legend, in Chinese."""
    rows = [
        ("#4575b4", f"户数低于下限（&lt; {min_households}）", ""),
        ("#1a9850", f"户数在范围内（{min_households}–{max_households}）", ""),
        ("#d73027", f"户数超过上限（&gt; {max_households}）", ""),
        ("#b2182b", "违反划分规则（红色虚线边框）", "gm-dash"),
        ("#c2a5cf", "小区", ""),
        ("#525252", "主干道（障碍）", "gm-line"),
        ("#2c7fb8", "水系（障碍）", ""),
    ]
    items = "".join(f'<div><i class="{cls}" style="background:{col};border-color:{col}"></i>{text}</div>'
                    for col, text, cls in rows)
    title = "网格覆盖图" + (f" · 方案 {escape(plan)}" if plan else "")
    return f"<h4>{title}</h4>{items}"


def coverage_map(
    grids: gpd.GeoDataFrame | pd.DataFrame,
    compounds: gpd.GeoDataFrame | None = None,
    barriers: gpd.GeoDataFrame | None = None,
    communities: gpd.GeoDataFrame | None = None,
    *,
    grid_cards: Mapping[str, Mapping[str, Any]] | None = None,
    reported: Mapping[str, list[str]] | None = None,
    min_households: int = DEFAULT_MIN,
    max_households: int = DEFAULT_MAX,
    tiles: str = "openstreetmap",
    plan: str | None = None,
    role: str = "public",
    viewport: Mapping[str, str] | None = None,
) -> folium.Map:
    """The planner's coverage map (EPSG:4490 frames in); phones shown as ``role`` may see them.

    With ``viewport`` (layer → URL, e.g. {'grids': '/maps/data/grids?...'}),
    those layers are fetched by bounding box as the map moves instead of
    being embedded; ``grids`` then needs no geometry (it feeds the summary)
    and ``communities`` set the initial view.
    """
    m = base_map(tiles, "网格覆盖图")
    crs = m.gridmap_crs
    viewport = dict(viewport or {})
    frames = []
    if communities is not None and not communities.empty:
        shown = to_display(communities, crs, tolerance_m=10.0)
        frames.append(communities)
        shown["tip"] = shown["name"].astype(str)
        DataLayer("communities", "社区边界", {"style": "community", "tooltip": "tip"},
                  feature_collection(shown, ("tip",))).add_to(m)
    _barrier_layers(m, barriers, crs)
    if "compounds" in viewport:
        DataLayer("compounds", "小区", {"style": "compound", "popup": "card", "tooltip": "tip",
                                      "url": viewport["compounds"], "minZoom": 15, "what": "小区"}).add_to(m)
    elif compounds is not None:
        DataLayer("compounds", "小区", {"style": "compound", "popup": "card", "tooltip": "tip"},
                  compound_features(compounds, crs)).add_to(m)
    if "grids" in viewport:
        DataLayer("grids", "网格（按户数着色）", {"style": "grid", "popup": "card", "label": "label",
                                          "url": viewport["grids"], "minZoom": 14, "what": "网格"}).add_to(m)
    else:
        fc = grid_features(grids, grid_cards, reported, min_households=min_households,
                           max_households=max_households, crs=crs, role=role)
        DataLayer("grids", "网格（按户数着色）", {"style": "grid", "popup": "card", "label": "label",
                                          "labelMinZoom": 15}, fc).add_to(m)
        frames.append(grids)
    html_box(m, legend_html(min_households, max_households, plan), "bottomright", "gm-box gm-legend")
    html_box(m, _summary_html(grids, reported, min_households, max_households), "topleft")
    return finish(m, bounds_of(frames, crs))


def _barrier_layers(m: folium.Map, barriers: gpd.GeoDataFrame | None, crs: str) -> None:
    if barriers is None or barriers.empty:
        return
    for kind, name in (("road", "主干道"), ("water", "水系"), ("rail", "铁路")):
        part = barriers[barriers["kind"] == kind]
        if len(part):
            DataLayer(f"barriers_{kind}", f"障碍：{name}", {"style": "barrier", "tooltip": "tip"},
                      barrier_features(part, crs)).add_to(m)


def _summary_html(grids: gpd.GeoDataFrame, reported: Mapping[str, list[str]] | None, lo: int, hi: int) -> str:
    if grids.empty or "households" not in grids:
        return "<h4>网格</h4>本视图按需加载网格"
    lo_s = grids["min_households"].fillna(lo) if "min_households" in grids else lo
    hi_s = grids["max_households"].fillna(hi) if "max_households" in grids else hi
    status = grid_status(grids["households"], lo_s, hi_s)
    counts = status.value_counts()
    flagged = sum(1 for v in (reported or {}).values() if v)
    return (f"<h4>网格 {len(grids)} 个，{int(grids['households'].sum())} 户</h4>"
            f"范围内 {int(counts.get('within', 0))} · 偏少 {int(counts.get('under', 0))} · "
            f"偏多 {int(counts.get('over', 0))}<br>规则提示的网格 {flagged} 个")
