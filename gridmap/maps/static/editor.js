// The plan editor (/maps/editor?plan=NAME): pick compounds, pick a target grid, move; undo, redo,
// the log. Every change is a same-origin fetch to /v1/plans/{plan}/... with If-Match (the plan's
// ETag); the affected grids recolour with the counts of the answer. window.gridmap.pending() is
// the number of requests in flight (the browser tests wait for 0).
(function () {
  "use strict";
  const plan = document.body.dataset.plan;
  const base = "/v1/plans/" + encodeURIComponent(plan);
  const $ = (id) => document.getElementById(id);
  let etag = null, pending = 0, target = null, truncated = false;
  const selected = new Set();
  const grids = {};  // code -> properties (households, min_households, max_households, locked, name)

  const map = L.map("map", {zoomSnap: 0.25});
  const ghost = L.geoJSON(null, {interactive: false, style: {color: "#444", weight: 1.5, dashArray: "5 5", fill: false}});
  const gridLayer = L.geoJSON(null, {style: gridStyle, onEachFeature: (f, layer) => {
    layer.on("click", () => choose(f.properties.code));
    layer.bindTooltip(() => tip(f.properties.code), {sticky: true});
  }});
  const compoundLayer = L.geoJSON(null, {style: compoundStyle, onEachFeature: (f, layer) => {
    layer.on("click", (e) => { L.DomEvent.stopPropagation(e); toggle(f.properties.id); });
    layer.bindTooltip(`${f.properties.name || f.properties.id} · ${f.properties.households} 户 · ${f.properties.grid_code}`);
  }});
  gridLayer.addTo(map); ghost.addTo(map); compoundLayer.addTo(map);

  function colour(p) {
    if (p.households < p.min_households) return "#3182bd";  // under the minimum: blue
    if (p.households > p.max_households) return "#de2d26";  // over the maximum: red
    return "#31a354";
  }
  function gridStyle(f) {
    const p = grids[f.properties.code] || f.properties;
    return {color: f.properties.code === target ? "#000" : "#fff", weight: f.properties.code === target ? 3 : 1,
            fillColor: colour(p), fillOpacity: p.locked ? 0.15 : 0.35, dashArray: p.locked ? "2 4" : null};
  }
  function compoundStyle(f) {
    const on = selected.has(f.properties.id);
    return {color: on ? "#ff7f00" : "#555", weight: on ? 3 : 1, fillColor: on ? "#ff7f00" : "#bbb", fillOpacity: 0.5};
  }
  function tip(code) {
    const p = grids[code];
    return p ? `${p.name} ${code}<br>${p.households} 户 (${p.min_households}–${p.max_households})` : code;
  }
  function say(text, kind) { const m = $("message"); m.textContent = text || ""; m.className = kind || ""; }

  async function call(method, url, body) {
    pending++;
    try {
      const headers = {"Accept": "application/json"};
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (method !== "GET" && etag) headers["If-Match"] = etag;
      const r = await fetch(url, {method, headers, credentials: "same-origin",
                                  body: body === undefined ? undefined : JSON.stringify(body)});
      const data = await r.json().catch(() => ({}));
      if (r.ok && r.headers.get("ETag")) etag = r.headers.get("ETag");
      return {ok: r.ok, status: r.status, data};
    } finally { pending--; }
  }

  function renderTable() {
    const body = $("grids").querySelector("tbody");
    body.textContent = "";
    for (const code of Object.keys(grids).sort()) {
      const p = grids[code];
      const tr = document.createElement("tr");
      tr.dataset.code = code;
      tr.className = (code === target ? "target " : "") + (p.households < p.min_households ? "under" :
                     p.households > p.max_households ? "over" : "ok");
      tr.innerHTML = `<td>${code.slice(9)}</td><td class="households">${p.households}</td>` +
                     `<td>${p.min_households}–${p.max_households}</td><td>${p.locked ? "🔒" : ""}</td>`;
      tr.addEventListener("click", () => choose(code));
      body.appendChild(tr);
    }
  }
  function renderSelection() {
    $("selected").textContent = selected.size ? [...selected].join(", ") : "无";
    $("target").textContent = target || "无";
    $("move").disabled = !(selected.size && target);
    compoundLayer.setStyle(compoundStyle);
    gridLayer.setStyle(gridStyle);
    renderTable();
  }
  function toggle(id) { selected.has(id) ? selected.delete(id) : selected.add(id); renderSelection(); }
  function choose(code) { target = code; renderSelection(); }

  async function load(fit) {
    const b = map.getBounds && !fit ? map.getBounds() : null;
    const q = b && truncated ? `?bbox=${b.getWest()},${b.getSouth()},${b.getEast()},${b.getNorth()}` : "";
    const r = await call("GET", base + "/map" + q);
    if (!r.ok) { say(r.data.detail || `错误 ${r.status}`, "error"); return; }
    truncated = r.data.truncated;
    etag = r.data.etag;
    $("version").textContent = "v" + r.data.version + (r.data.review ? ` · ${r.data.review}` : "");
    for (const f of r.data.grids.features) grids[f.properties.code] = f.properties;
    gridLayer.clearLayers().addData(r.data.grids);
    compoundLayer.clearLayers().addData(r.data.compounds);
    ghost.clearLayers().addData(r.data.ghost);
    if (fit && r.data.bounds[0] !== null) {
      const [w, s, e, n] = r.data.bounds;
      map.fitBounds([[s, w], [n, e]]);
    }
    renderSelection();
  }
  async function loadLog() {
    const r = await call("GET", base + "/log");
    if (!r.ok) return;
    const ol = $("log");
    ol.textContent = "";
    for (const e of r.data.entries.slice().reverse()) {
      const li = document.createElement("li");
      li.textContent = `v${e.version} ${OPS[e.op] || e.op} · ${e.author}` + (e.households_moved ? ` · ${e.households_moved} 户` : "") +
                       (e.reason ? ` · ${e.reason}` : "");
      ol.appendChild(li);
    }
    $("undo").disabled = !r.data.can_undo;
    $("redo").disabled = !r.data.can_redo;
  }
  const OPS = {rewrite: "重新划分/导入", copy: "复制", move: "移动", split: "拆分", merge: "合并", lock: "锁定", unlock: "解锁", undo: "撤销",
               redo: "重做", submit: "提交审批", approve: "批准", reject: "驳回", rebalance: "重新平衡"};

  async function change(url, body) {
    const r = await call("POST", url, body);
    if (!r.ok) {
      const who = r.data.holder ? ` (${r.data.holder}，至 ${r.data.until})` : "";
      say((r.data.detail || `错误 ${r.status}`) + who, r.status === 423 ? "leased" : "error");
      if (r.status === 412) await load(false);
      return;
    }
    for (const a of r.data.affected) {  // recolour at once with the answer's counts
      if (a.removed) { delete grids[a.code]; continue; }
      grids[a.code] = Object.assign(grids[a.code] || {}, a);
    }
    const bad = r.data.affected.flatMap((a) => a.violations.map((v) => v.detail));
    say(`已保存 v${r.data.version}` + (bad.length ? `；规则提示：${bad.join("；")}` : ""), bad.length ? "warn" : "ok");
    selected.clear();
    renderSelection();
    await load(false);
    await loadLog();
  }

  $("move").addEventListener("click", () => change(base + "/edits", {op: "move", compounds: [...selected], to: target,
                                                                     reason: $("reason").value || null}));
  $("undo").addEventListener("click", () => change(base + "/undo"));
  $("redo").addEventListener("click", () => change(base + "/redo"));
  map.on("moveend", () => { if (truncated) load(false); });

  window.gridmap = Object.assign(window.gridmap || {}, {
    pending: () => pending, households: (code) => (grids[code] || {}).households,
    select: toggle, choose, move: () => $("move").click(), undo: () => $("undo").click(), ready: false,
  });
  Promise.all([load(true), loadLog()]).then(() => { window.gridmap.readyAt = performance.now(); window.gridmap.ready = true; });
})();
