"""Dispatcher map (调度图) for one looked-up point: the point, its grid, neighbours on an edge, staff card."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import folium
import geopandas as gpd
from shapely.geometry import Point

from gridmap.maps import cards as c
from gridmap.maps.base import Control, DataLayer, base_map, escape, finish, html_box
from gridmap.maps.geo import bounds_of, feature_collection, to_display


def edge_note(edge_distance_m: float | None, threshold_m: float, neighbours: int) -> str:
    """A warning when the point is within ``threshold_m`` of the grid boundary."""
    if edge_distance_m is None or edge_distance_m > threshold_m:
        return ""
    return (f"注意：该点距网格边界仅 {edge_distance_m:.0f} 米（阈值 {threshold_m:.0f} 米），"
            f"相邻网格 {neighbours} 个已用蓝色虚线标出，请核实归属")


def lookup_map(
    lon: float,
    lat: float,
    grid: gpd.GeoDataFrame,
    neighbours: gpd.GeoDataFrame | None = None,
    card: Mapping[str, Any] | None = None,
    compound: Mapping[str, Any] | None = None,
    officers: Iterable[Mapping[str, Any]] = (),
    edge_distance_m: float | None = None,
    edge_threshold_m: float = 30.0,
    tiles: str = "openstreetmap",
    show_private: bool = False,
) -> folium.Map:
    """The point (CGCS2000 lon/lat), its grid highlighted, neighbouring grids when on an edge, staff card."""
    m = base_map(tiles, "调度定位图")
    crs = m.gridmap_crs
    neighbours = neighbours if neighbours is not None else grid.iloc[0:0]
    near = edge_note(edge_distance_m, edge_threshold_m, len(neighbours))
    if near and not neighbours.empty:
        shown = to_display(neighbours, crs, coverage=True)
        shown["card"] = [c.grid_card(r, None, show_private) for r in shown[["code", "name", "households"]]
                         .to_dict("records")]
        shown["label"] = shown["code"].astype(str)
        DataLayer("neighbours", "相邻网格", {"style": "gridNeighbour", "popup": "card", "label": "label"},
                  feature_collection(shown, ("code", "name", "card", "label"))).add_to(m)
    row = grid.iloc[0].to_dict() if len(grid) else {"code": "", "name": "不在任何网格内", "households": 0}
    popup = c.staff_card(row, card, compound, officers, show_private, near)
    if len(grid):
        shown = to_display(grid, crs, coverage=False)
        shown["card"] = popup
        shown["label"] = shown["code"].astype(str)
        DataLayer("grid", "所在网格", {"style": "gridFocus", "popup": "card", "label": "label"},
                  feature_collection(shown, ("code", "name", "card", "label"))).add_to(m)
    point = gpd.GeoDataFrame({"card": [popup]}, geometry=[Point(lon, lat)], crs=4490)
    DataLayer("point", "查询位置", {"style": "grid", "popup": "card"},
              feature_collection(to_display(point, crs, tolerance_m=0), ("card",))).add_to(m)
    Control("openPopup", {"key": "point"}).add_to(m)
    html_box(m, _header(row, lon, lat, near), "topleft")
    return finish(m, bounds_of([grid, neighbours if near else None, point], crs))


def _header(row: Mapping[str, Any], lon: float, lat: float, near: str) -> str:
    warn = "<br><span class=gm-warn>位于网格边界附近</span>" if near else ""
    return (f"<h4>{escape(str(row.get('name', '')))}</h4>编码 {escape(str(row.get('code', '')))}<br>"
            f"位置 {lon:.6f}, {lat:.6f}（CGCS2000）{warn}")
