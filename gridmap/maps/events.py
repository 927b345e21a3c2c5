"""The dispatcher's events map (/maps/events) and an event's page with its history (pure HTML)."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping

#: Marker colours by state; overdue events are drawn red whatever their state.
STATE_COLOURS = {"dispatched": "#1f77b4", "accepted": "#17becf", "in_progress": "#ff7f0e", "handled": "#9467bd",
                 "verified": "#8c564b", "closed": "#2ca02c", "visited": "#2ca02c", "returned": "#7f7f7f",
                 "reported": "#1f77b4", "duplicate": "#bcbd22"}
OVERDUE = "#d62728"

_MAP = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>事件调度图 — events</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="{static}/leaflet/leaflet.css">
<style>body{{margin:0;font:14px sans-serif}}#map{{position:absolute;top:0;bottom:0;left:0;right:320px}}
#side{{position:absolute;top:0;bottom:0;right:0;width:320px;overflow:auto;padding:8px;box-sizing:border-box}}
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:2px 4px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}.late{{color:{overdue};font-weight:bold}}</style>
</head><body><div id="map"></div><div id="side"><h3>事件（按网格）events per grid</h3>
<div id="summary">加载中 loading…</div><table id="counts"><thead><tr><th>网格 grid</th><th>总数</th><th>在办 open</th>
<th>超期 overdue</th></tr></thead><tbody></tbody></table></div>
<script src="{static}/leaflet/leaflet.js"></script>
<script>
const COLOURS = {colours}, OVERDUE = "{overdue}";
window.gridmap = {{markers: [], loaded: false, failed: null}};
const map = L.map("map", {{preferCanvas: false}}).setView([31.55, 120.35], 13);
fetch("/maps/events.json" + window.location.search).then(r => {{
  if (!r.ok) return r.json().then(b => {{ throw new Error(b.detail || r.status); }});
  return r.json();
}}).then(data => {{
  const bounds = [];
  for (const f of data.events) {{
    const late = f.overdue;
    const m = L.circleMarker([f.lat, f.lon], {{radius: 6, weight: 1, color: late ? OVERDUE : "#333",
      fillColor: late ? OVERDUE : (COLOURS[f.status] || "#999"), fillOpacity: 0.9,
      className: "gm-event gm-event-" + f.status + (late ? " gm-overdue" : "")}});
    m.bindPopup(`<b>#${{f.id}}</b> ${{f.category}}<br>${{f.status_zh}} (${{f.status}})` +
      (late ? ' <span class="late">超期</span>' : '') + `<br>网格 ${{f.grid}}<br><a href="/maps/events/${{f.id}}">详情 history</a>`);
    m.addTo(map); window.gridmap.markers.push(m); bounds.push([f.lat, f.lon]);
  }}
  if (bounds.length) map.fitBounds(bounds, {{padding: [20, 20]}});
  const tbody = document.querySelector("#counts tbody");
  for (const c of data.counts) {{
    const tr = document.createElement("tr");
    tr.className = "gm-grid-count";
    tr.innerHTML = `<td>${{c.grid_code}}</td><td>${{c.total}}</td><td>${{c.open}}</td>` +
      `<td class="${{c.overdue ? 'late' : ''}}">${{c.overdue}}</td>`;
    tbody.appendChild(tr);
  }}
  document.getElementById("summary").textContent =
    `共 ${{data.events.length}} 件，超期 ${{data.events.filter(e => e.overdue).length}} 件`;
  window.gridmap.loaded = true;
}}).catch(e => {{ window.gridmap.failed = String(e); document.getElementById("summary").textContent = "无法加载：" + e; }});
</script></body></html>"""


def events_map_page(*, static_url: str) -> str:
    return _MAP.format(static=static_url, colours=json.dumps(STATE_COLOURS), overdue=OVERDUE)


def event_page(event: Mapping) -> str:
    """An event's page: its state, routing, time limit and history (as the caller may see it)."""
    e = html.escape

    def row(k: str, v: object) -> str:
        return f"<tr><th>{e(k)}</th><td>{e('' if v is None else str(v))}</td></tr>"

    assignee = event.get("assignee") or {}
    facts = [row("状态 status", f"{event['status_zh']} ({event['status']})"), row("类别 category", event["category"]),
             row("网格 grid", (event.get("grid") or {}).get("code")), row("层级 level", event.get("level")),
             row("责任人 assignee", assignee.get("name")), row("兜底 fallback", event.get("fallback")),
             row("上报 reported", event.get("reported_at")), row("时限 due", event.get("due_at")),
             row("超期 overdue", "是 yes" if event.get("overdue") else "否 no"),
             row("办结 closed", event.get("closed_at")), row("重复 duplicate of", event.get("duplicate_of"))]
    history = "".join(f"<tr class=\"gm-history\"><td>{e(h['at'] or '')}</td><td>{e(h['action_zh'])} ({e(h['action'])})"
                      f"</td><td>{e(h['to_status'])}</td><td>{e(h.get('by') or '')}</td><td>{e(h.get('note') or '')}</td></tr>"
                      for h in event.get("history") or [])
    late = ' class="late"' if event.get("overdue") else ""
    return (f"<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>事件 #{event['id']}</title>"
            "<style>body{font:14px sans-serif;margin:16px}table{border-collapse:collapse}td,th{border-bottom:1px "
            "solid #ddd;padding:3px 6px;text-align:left}.late{color:#d62728}</style></head><body>"
            f"<h2{late}>事件 #{event['id']} — {e(event['status_zh'])}</h2><table>{''.join(facts)}</table>"
            "<h3>流转记录 history</h3><table><tr><th>时间</th><th>操作</th><th>状态</th><th>人员</th><th>说明</th></tr>"
            f"{history}</table><p><a href=\"/maps/events\">事件调度图 events map</a></p></body></html>")


def my_event_page(status: Mapping | None, *, asked: str | None, detail: str | None = None) -> str:
    """The public "my event" page: a resident types their event id and sees its state (no personal data)."""
    e = html.escape
    body = ""
    if status is not None:
        body = (f"<div class=\"gm-my-event\" data-status=\"{e(status['status'])}\"><h3>事件 #{status['id']}："
                f"{e(status['status_zh'])}</h3><p>类别 {e(status['category'])} · 网格 "
                f"{e(str((status.get('grid') or {}).get('code') or ''))}</p><p>上报 {e(status['reported_at'] or '')}"
                f"<br>时限 {e(status.get('due_at') or '')}<br>办结 {e(status.get('closed_at') or '—')}</p></div>")
    elif asked:
        body = f"<p class=\"gm-my-event-missing\">{e(detail or '未找到')}</p>"
    return ("<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\">"
            "<title>查询我的事件 — my event</title><style>body{font:15px sans-serif;margin:16px}</style></head><body>"
            "<h2>查询我的事件 my event</h2><form method=\"get\"><input name=\"id\" inputmode=\"numeric\" "
            f"placeholder=\"事件编号 event id\" value=\"{e(asked or '')}\"><button>查询</button></form>{body}"
            "<p><a href=\"/maps/service-points\">我的网格 find my grid</a></p></body></html>")
