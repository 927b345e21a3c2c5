"""Officer load map (执法力量下沉图): each enforcement officer's compounds and households."""

from __future__ import annotations

from collections.abc import Mapping

import folium
import geopandas as gpd
import pandas as pd

from gridmap.maps import cards as c
from gridmap.maps.base import DataLayer, base_map, escape, finish, html_box
from gridmap.maps.geo import bounds_of, feature_collection, to_display

#: Qualitative colours (ColorBrewer Set3 + Paired) so neighbouring officers differ.
PALETTE = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
           "#bc80bd", "#ccebc5", "#ffed6f", "#a6cee3", "#1f78b4", "#b2df8a", "#33a02c", "#fb9a99",
           "#e31a1c", "#fdbf6f", "#ff7f00", "#cab2d6", "#6a3d9a", "#b15928")


def officer_loads(links: pd.DataFrame, compounds: pd.DataFrame) -> pd.DataFrame:
    """Per officer: agency, name, compounds, households (``links``: staff_id, agency, compound_id, name...)."""
    if links.empty:
        return pd.DataFrame(columns=["staff_id", "agency", "name", "compounds", "households"])
    hh = compounds.set_index(compounds["id"].astype(str))["households"].astype(int)
    df = links.assign(households=links["compound_id"].astype(str).map(hh).fillna(0).astype(int))
    keep = [k for k in ("phone", "phone_public") if k in df]
    out = (df.groupby(["staff_id", "agency", "name"] + keep, dropna=False)
             .agg(compounds=("compound_id", "nunique"), households=("households", "sum")).reset_index())
    order = {a: i for i, a in enumerate(c.AGENCY_ZH)}  # 公安, 城管, 市场监管
    out["_order"] = out["agency"].map(order).fillna(len(order))
    return out.sort_values(["_order", "compounds", "households"], ascending=[True, False, False]).drop(
        columns="_order")


def officer_map(
    compounds: gpd.GeoDataFrame,
    links: pd.DataFrame,
    *,
    tiles: str = "openstreetmap",
    max_compounds: int = 6,
    role: str = "public",
) -> folium.Map:
    """One layer per agency; compounds coloured by their officer; a load table with overloads flagged."""
    m = base_map(tiles, "执法人员联系小区图")
    crs = m.gridmap_crs
    loads = officer_loads(links, compounds)
    shown = to_display(compounds, crs) if not compounds.empty else compounds
    names = dict(zip(compounds["id"].astype(str), compounds["name"].astype(str)))
    for i, (agency, label) in enumerate(c.AGENCY_ZH.items()):
        part = links[links["agency"] == agency] if not links.empty else links
        fc = _agency_features(shown, part, loads, names, role)
        DataLayer(f"officers_{agency}", f"{label}执法人员", {"style": "compoundOfficer", "popup": "card",
                                                          "tooltip": "tip"}, fc, show=(i == 0)).add_to(m)
    html_box(m, load_table_html(loads, max_compounds), "bottomright", "gm-box gm-scroll")
    return finish(m, bounds_of([compounds], crs))


def _agency_features(shown: gpd.GeoDataFrame, links: pd.DataFrame, loads: pd.DataFrame,
                     names: Mapping[str, str], role: str) -> dict:
    """Compounds of one agency, coloured by their officer, with the officer's load as popup."""
    if shown.empty:
        return {"type": "FeatureCollection", "features": []}
    links = links.astype({"staff_id": str, "compound_id": str})
    officer_of = dict(zip(links["compound_id"], links["staff_id"]))  # one officer per agency and compound
    colour = {sid: PALETTE[i % len(PALETTE)] for i, sid in enumerate(sorted(set(officer_of.values())))}
    load_of = {str(r["staff_id"]): r for r in loads.to_dict("records")}
    compounds_of = links.groupby("staff_id")["compound_id"].apply(list).to_dict()
    out = shown.copy()
    ids = out["id"].astype(str)
    out["colour"] = [colour.get(officer_of.get(cid)) for cid in ids]
    cards, tips = [], []
    for cid in ids:
        officer = load_of.get(officer_of.get(cid, ""))
        name = names.get(cid, cid)
        if officer is None:
            cards.append(c.compound_popup({"name": name}) + "<p class=gm-warn>无执法人员联系</p>")
            tips.append(f"{name}：无")
            continue
        listed = [names.get(k, k) for k in compounds_of.get(str(officer["staff_id"]), [])]
        cards.append(c.officer_popup(officer, listed, role=role))
        tips.append(f"{name}：{officer['name']}")
    out["card"], out["tip"] = cards, tips
    return feature_collection(out, ("colour", "card", "tip"))


def load_table_html(loads: pd.DataFrame, max_compounds: int) -> str:
    """执法人员负荷表: compounds and households per officer; more than ``max_compounds`` is flagged."""
    if loads.empty:
        return "<h4>执法人员负荷</h4>暂无执法人员联系小区记录"
    rows = []
    for r in loads.to_dict("records"):
        over = int(r["compounds"]) > max_compounds
        cls = " class=gm-warn" if over else ""
        rows.append(f"<tr{cls}><td>{escape(c.AGENCY_ZH.get(r['agency'], r['agency']))}</td>"
                    f"<td>{escape(str(r['name']))}</td><td>{int(r['compounds'])}</td><td>{int(r['households'])}</td></tr>")
    head = "<tr><th>单位</th><th>姓名</th><th>小区</th><th>户数</th></tr>"
    over_n = int((loads["compounds"] > max_compounds).sum())
    return (f"<h4>执法人员负荷（{len(loads)} 人，超过 {max_compounds} 个小区的 {over_n} 人标红）</h4>"
            f"<table class=gm-table>{head}{''.join(rows)}</table>")
