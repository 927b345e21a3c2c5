"""Dispatcher map (调度图) of one coverage answer: the point, its grid, neighbours on an edge, staff card.

Drawn from the answer of :func:`gridmap.services.coverage.lookup` (or its
ambiguous choices): which grid, which people and whether the point is on an
edge are the answer's decisions; ``shapes`` only gives the outlines to draw.
The page states its result for machines in ``<meta name="gridmap-answer"
data-state="found|ambiguous|outside" data-code=… data-codes=…>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import folium
import geopandas as gpd
from branca.element import Element
from shapely.geometry import Point

from gridmap.maps import cards as c
from gridmap.maps.base import Control, DataLayer, base_map, escape, finish, html_box
from gridmap.maps.geo import bounds_of, feature_collection, to_display

DEFAULT_EDGE_M = 30.0


def edge_note(answer: Mapping[str, Any], edge_m: float) -> str:
    """A warning when the answer says the point is on a grid edge (within ``edge_m`` of the boundary)."""
    if not answer.get("edge"):
        return ""
    return (f"注意：该点距网格边界仅 {answer['boundary_distance_m']:.0f} 米（阈值 {edge_m:.0f} 米），"
            f"相邻网格 {len(answer.get('neighbours') or [])} 个已用蓝色虚线标出，请核实归属")


def answer_card(answer: Mapping[str, Any], *, role: str, note: str = "") -> str:
    """调度卡片 of an answer: compound and its officers, then the grid card (staff, party branch)."""
    staff = answer.get("staff") or {}
    posts = [dict(staff["grid_head"], role="grid_head")] if staff.get("grid_head") else []
    for post, people in (staff.get("workers") or {}).items():
        posts += [dict(p, role=post) for p in people]
    posts += [dict(p, role="volunteer") for p in staff.get("volunteers") or []]
    if staff.get("building_chief"):
        posts.append(dict(staff["building_chief"], role="building_chief"))
    branch = (answer.get("party") or {}).get("grid_branch")
    secretary = (branch or {}).get("secretary") or {}
    card = {"posts": posts, "officers": [],
            "branch": branch and {"name": branch["name"], "secretary": secretary.get("name"),
                                  "phone": secretary.get("phone"), "phone_public": secretary.get("phone_public")}}
    officers = [dict(o, agency=agency) for agency, people in (answer.get("officers") or {}).items() for o in people]
    return c.staff_card(answer["grid"], card, answer.get("compound"), officers, role=role, edge_note=note)


def lookup_map(answer: Mapping[str, Any], shapes: gpd.GeoDataFrame, *, tiles: str = "openstreetmap",
               role: str = "public", edge_m: float = DEFAULT_EDGE_M) -> folium.Map:
    """The answer's point (CGCS2000), its grid highlighted, the neighbours when on an edge, the staff card.

    ``shapes``: code, name, households, geometry (EPSG:4490) of the answer's grid and neighbours.
    """
    m = base_map(tiles, "调度定位图")
    crs = m.gridmap_crs
    grid = answer["grid"]
    location = answer["location"]
    note = edge_note(answer, edge_m)
    near = [n["code"] for n in answer.get("neighbours") or []] if note else []
    neighbours = _shapes(shapes, near)
    if len(neighbours):
        shown = to_display(neighbours, crs, coverage=True)
        shown["card"] = [c.grid_card(r, None, role=role) for r in shown[["code", "name", "households"]]
                         .to_dict("records")]
        shown["label"] = shown["code"].astype(str)
        DataLayer("neighbours", "相邻网格", {"style": "gridNeighbour", "popup": "card", "label": "label"},
                  feature_collection(shown, ("code", "name", "card", "label"))).add_to(m)
    popup = answer_card(answer, role=role, note=note)
    focus = _shapes(shapes, [grid["code"]])
    if len(focus):
        shown = to_display(focus, crs, coverage=False)
        shown["card"] = popup
        shown["label"] = shown["code"].astype(str)
        DataLayer("grid", "所在网格", {"style": "gridFocus", "popup": "card", "label": "label"},
                  feature_collection(shown, ("code", "name", "card", "label"))).add_to(m)
    point = _point(location["lon"], location["lat"], popup)
    DataLayer("point", "查询位置", {"style": "grid", "popup": "card"},
              feature_collection(to_display(point, crs, tolerance_m=0), ("card",))).add_to(m)
    Control("openPopup", {"key": "point"}).add_to(m)
    html_box(m, _header(grid, location, "<br><span class=gm-warn>位于网格边界附近</span>" if note else ""), "topleft")
    _state(m, "found", [grid["code"]])
    return finish(m, bounds_of([focus, neighbours, point], crs))


def ambiguous_map(choices: Mapping[str, Any], shapes: gpd.GeoDataFrame, *, detail: str,
                  tiles: str = "openstreetmap", role: str = "public") -> folium.Map:
    """The grids an ambiguous address names (a split compound named alone), each with its code and the
    compound's buildings in it, for the dispatcher to choose."""
    m = base_map(tiles, "调度定位图")
    crs = m.gridmap_crs
    options = choices["grids"]
    codes = [g["code"] for g in options]
    grids = _shapes(shapes, codes)
    if len(grids):
        by_code = {g["code"]: g for g in options}
        shown = to_display(grids, crs, coverage=True)
        shown["card"] = [_choice_card(by_code[str(code)], role) for code in shown["code"]]
        shown["label"] = shown["code"].astype(str)
        DataLayer("choices", "候选网格", {"style": "gridNeighbour", "popup": "card", "label": "label"},
                  feature_collection(shown, ("code", "name", "card", "label"))).add_to(m)
    location = choices["location"]
    point = _point(location["lon"], location["lat"], f"<p class=gm-warn>{escape(detail)}</p>")
    DataLayer("point", "查询位置", {"style": "grid", "popup": "card"},
              feature_collection(to_display(point, crs, tolerance_m=0), ("card",))).add_to(m)
    listed = "".join(f"<li><span class=gm-code>{escape(g['code'])}</span> {escape(g['name'])}"
                     + (f"（本小区 {int(g['compound_households'])} 户）" if g.get("compound_households") is not None
                        else "") + "</li>" for g in options)
    compound = choices.get("compound") or {}
    title = escape(str(compound.get("name") or location.get("address") or "地址"))
    html_box(m, f"<h4>{title}：分属 {len(options)} 个网格</h4><ul class=gm-choices>{listed}</ul>"
                f"<span class=gm-warn>请补充楼栋号后再查询</span>", "topleft")
    _state(m, "ambiguous", codes)
    return finish(m, bounds_of([grids, point], crs))


def outside_map(lon: float, lat: float, *, detail: str, nearest: Mapping[str, Any] | None = None,
                tiles: str = "openstreetmap") -> folium.Map:
    """A point (CGCS2000) in no grid, with the nearest grid's code and distance when there is one."""
    m = base_map(tiles, "调度定位图")
    crs = m.gridmap_crs
    point = _point(lon, lat, f"<p class=gm-warn>{escape(detail)}</p>")
    DataLayer("point", "查询位置", {"style": "grid", "popup": "card"},
              feature_collection(to_display(point, crs, tolerance_m=0), ("card",))).add_to(m)
    extra = (f"<br>最近的网格 {escape(str(nearest['code']))} {escape(str(nearest.get('name', '')))}，"
             f"相距 {float(nearest['distance_m']):.0f} 米" if nearest else "")
    html_box(m, _header({"name": "不在任何网格内", "code": ""}, {"lon": lon, "lat": lat}, extra), "topleft")
    _state(m, "outside", [])
    return finish(m, bounds_of([point], crs))


def _choice_card(choice: Mapping[str, Any], role: str) -> str:
    head = choice.get("grid_head")
    rows = [f"<tr><th>网格编码</th><td>{escape(choice['code'])}</td></tr>",
            f"<tr><th>网格长</th><td>{c.person_html(head, role) if head else '未配备'}</td></tr>"]
    if choice.get("buildings"):
        rows.append(f"<tr><th>本小区楼栋</th><td>{len(choice['buildings'])} 栋</td></tr>")
    return f"<div class=gm-card><h4>{escape(choice['name'])}</h4><table>{''.join(rows)}</table></div>"


def _shapes(shapes: gpd.GeoDataFrame | None, codes: Sequence[str]) -> gpd.GeoDataFrame:
    if shapes is None or not len(codes):
        return gpd.GeoDataFrame({"code": [], "name": [], "households": []}, geometry=[], crs=4490)
    return shapes[shapes["code"].astype(str).isin(set(codes))]


def _point(lon: float, lat: float, card: str) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"card": [card]}, geometry=[Point(lon, lat)], crs=4490)


def _state(m: folium.Map, state: str, codes: Sequence[str]) -> None:
    """The page's result as data attributes, for scripts and tests that read the page."""
    code = codes[0] if state == "found" else ""
    m.get_root().header.add_child(Element(
        f'<meta name="gridmap-answer" data-state="{state}" data-code="{escape(code)}" '
        f'data-codes="{escape(" ".join(codes))}">'), name="gridmap_answer")


def _header(grid: Mapping[str, Any], location: Mapping[str, Any], extra: str) -> str:
    code = escape(str(grid.get("code", "")))
    return (f"<h4>{escape(str(grid.get('name', '')))}</h4>编码 <span class=gm-code>{code}</span><br>"
            f"位置 {location['lon']:.6f}, {location['lat']:.6f}（CGCS2000）{extra}")
