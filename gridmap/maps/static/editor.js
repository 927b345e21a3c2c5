// The plan editor (/maps/editor?plan=NAME): pick compounds, pick a target grid, move; split the
// selected compounds off into a new grid, merge the ticked grids; undo, redo, the log; the diff
// against the current generation (与现行对比: changed grids outlined, moved compounds hatched).
// Every change is a same-origin fetch to /v1/plans/{plan}/... with If-Match (the plan's ETag);
// the affected grids recolour with the counts of the answer. window.gridmap.pending() is the number of requests in flight (the browser tests wait for 0).
(function () {
  "use strict";
  const plan = document.body.dataset.plan;
  const base = "/v1/plans/" + encodeURIComponent(plan);
  const $ = (id) => document.getElementById(id);
  let etag = null, pending = 0, target = null, truncated = false;
  const selected = new Set();
  const merging = new Set();  // grid codes ticked for a merge, in the order ticked (the first stays)
  let diff = null;  // {grids: Set of changed/added codes, compounds: Set of moved compound ids} while the toggle is on
  const compoundGrid = {};  // compound id -> its grid code (from the map data)
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
  // the hatch of moved compounds: an SVG pattern the compound paths fill with (url(#moved-hatch))
  document.body.insertAdjacentHTML("beforeend", '<svg width="0" height="0" style="position:absolute"><defs>' +
    '<pattern id="moved-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">' +
    '<rect width="6" height="6" fill="#f3e0f7"/><line x1="0" y1="0" x2="0" y2="6" stroke="#7a0177" stroke-width="3"/>' +
    '</pattern></defs></svg>');
  gridLayer.addTo(map); ghost.addTo(map); compoundLayer.addTo(map);

  function colour(p) {
    if (p.households < p.min_households) return "#3182bd";  // under the minimum: blue
    if (p.households > p.max_households) return "#de2d26";  // over the maximum: red
    return "#31a354";
  }
  function gridStyle(f) {
    const p = grids[f.properties.code] || f.properties;
    const code = f.properties.code;
    if (diff && diff.grids.has(code) && code !== target)  // changed against the current generation
      return {color: "#7a0177", weight: 4, fillColor: colour(p), fillOpacity: p.locked ? 0.15 : 0.35, dashArray: null};
    return {color: code === target ? "#000" : "#fff", weight: code === target ? 3 : 1,
            fillColor: colour(p), fillOpacity: p.locked ? 0.15 : 0.35, dashArray: p.locked ? "2 4" : null};
  }
  function compoundStyle(f) {
    const on = selected.has(f.properties.id);
    if (!on && diff && diff.compounds.has(f.properties.id))
      return {color: "#7a0177", weight: 2, fillColor: "url(#moved-hatch)", fillOpacity: 0.9};
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
      tr.className = (code === target ? "target " : "") + (diff && diff.grids.has(code) ? "changed " : "") + (p.households < p.min_households ? "under" :
                     p.households > p.max_households ? "over" : "ok");
      tr.innerHTML = `<td><input type="checkbox" class="merge" ${merging.has(code) ? "checked" : ""}></td><td>${code.slice(9)}</td><td class="households">${p.households}</td>` +
                     `<td>${p.min_households}–${p.max_households}</td><td>${p.locked ? "🔒" : ""}</td>`;
      tr.addEventListener("click", () => choose(code));
      const box = tr.querySelector("input.merge");
      box.addEventListener("click", (e) => e.stopPropagation());
      box.addEventListener("change", () => tick(code, box.checked));
      body.appendChild(tr);
    }
  }
  function renderSelection() {
    $("selected").textContent = selected.size ? [...selected].join(", ") : "无";
    $("target").textContent = target || "无";
    $("move").disabled = !(selected.size && target);
    $("split").disabled = splitGrid() === null;
    $("merge").disabled = mergeGrids() === null;
    compoundLayer.setStyle(compoundStyle);
    gridLayer.setStyle(gridStyle);
    renderTable();
  }
  function toggle(id) { selected.has(id) ? selected.delete(id) : selected.add(id); renderSelection(); }
  function choose(code) { target = code; renderSelection(); }
  function tick(code, on) { on ? merging.add(code) : merging.delete(code); renderSelection(); }
  // the one grid all selected compounds are in (a split takes compounds of one grid), or null
  function splitGrid() {
    const codes = new Set([...selected].map((id) => compoundGrid[id]));
    return selected.size && codes.size === 1 && !codes.has(undefined) ? [...codes][0] : null;
  }
  // the ticked grids when two or more of one community are ticked (a merge's grids), or null
  function mergeGrids() {
    const codes = [...merging].filter((c) => grids[c]);
    const communities = new Set(codes.map((c) => grids[c].community_code || c.slice(0, 12)));
    return codes.length >= 2 && communities.size === 1 ? codes : null;
  }

  async function load(fit) {
    const b = map.getBounds && !fit ? map.getBounds() : null;
    const q = b && truncated ? `?bbox=${b.getWest()},${b.getSouth()},${b.getEast()},${b.getNorth()}` : "";
    const r = await call("GET", base + "/map" + q);
    if (!r.ok) { say(r.data.detail || `错误 ${r.status}`, "error"); return; }
    truncated = r.data.truncated;
    etag = r.data.etag;
    $("version").textContent = "v" + r.data.version + (r.data.review ? ` · ${r.data.review}` : "");
    if (!truncated) for (const code of Object.keys(grids)) delete grids[code];  // the whole plan came: drop retired grids
    for (const f of r.data.grids.features) grids[f.properties.code] = f.properties;
    for (const f of r.data.compounds.features) compoundGrid[f.properties.id] = f.properties.grid_code;
    for (const code of [...merging]) if (!grids[code]) merging.delete(code);
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
    merging.clear();
    renderSelection();
    await load(false);
    await loadLog();
    if (diff) await loadDiff();
  }

  // 与现行对比: the diff of the current generation to this plan (GET /v1/plans/current/diff/{plan})
  async function loadDiff() {
    const r = await call("GET", "/v1/plans/current/diff/" + encodeURIComponent(plan));
    if (!$("diff").checked) return;
    if (!r.ok) { diff = null; $("diffinfo").textContent = "无法对比：" + (r.data.detail || `错误 ${r.status}`); renderSelection(); return; }
    const d = r.data;
    diff = {grids: new Set([...d.grids_changed, ...d.grids_added]), compounds: new Set(d.compounds_moved.map((m) => m.compound_id)),
            data: d};
    $("diffinfo").textContent = `与现行相比：变动网格 ${d.grids_changed.length}，新增 ${d.grids_added.length}，` +
      `撤销 ${d.grids_removed.length}，移动小区 ${diff.compounds.size}（${d.households_moved} 户）` +
      (d.compounds_moved.length ? "：" + d.compounds_moved.map((m) => `${m.compound_id} ${m.from ? m.from.slice(9) : "—"}→${m.to ? m.to.slice(9) : "—"}`).join("，") : "");
    renderSelection();
  }
  $("diff").addEventListener("change", () => {
    if ($("diff").checked) return loadDiff();
    diff = null; $("diffinfo").textContent = ""; renderSelection();
  });

  $("move").addEventListener("click", () => change(base + "/edits", {op: "move", compounds: [...selected], to: target,
                                                                     reason: $("reason").value || null}));
  $("split").addEventListener("click", () => change(base + "/edits", {op: "split", grid: splitGrid(), compounds: [...selected],
                                                                       reason: $("reason").value || null}));
  $("merge").addEventListener("click", () => change(base + "/edits", {op: "merge", grids: mergeGrids(),
                                                                       reason: $("reason").value || null}));
  $("undo").addEventListener("click", () => change(base + "/undo"));
  $("redo").addEventListener("click", () => change(base + "/redo"));
  map.on("moveend", () => { if (truncated) load(false); });

  window.gridmap = Object.assign(window.gridmap || {}, {
    pending: () => pending, households: (code) => (grids[code] || {}).households,
    select: toggle, choose, move: () => $("move").click(), undo: () => $("undo").click(), ready: false,
    codes: () => Object.keys(grids).sort(), tick,
    diff: () => diff && {grids: [...diff.grids].sort(), compounds: [...diff.compounds].sort()},
  });
  Promise.all([load(true), loadLog()]).then(() => { window.gridmap.readyAt = performance.now(); window.gridmap.ready = true; });
})();
