/* gridmap map pages: data layers (embedded or loaded by viewport), labels, popups,
 * boxes and the "find my grid" control. Needs Leaflet 1.9 (L). MIT licence.
 * Popup HTML arrives escaped from the server (gridmap/maps/cards.py); every other
 * text from data is escaped here before it touches the DOM. */
(function () {
  "use strict";

  var registry = {};
  var inflight = 0;
  var STATUS = { under: "#4575b4", within: "#1a9850", over: "#d73027" };
  var ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  var GLYPH = { party_service_centre: "党", red_station: "红", grid_service_station: "站", convenience_centre: "便" };
  var ROLE_ZH = { grid_head: "网格长", grid_worker: "专职网格员" };

  function esc(s) {
    return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, function (c) { return ESC[c]; });
  }

  var STYLES = {
    grid: function (p) {
      var bad = p.violations && p.violations.length > 0;
      return { className: "gm-grid" + (bad ? " gm-violation" : ""), color: bad ? "#b2182b" : "#444",
               weight: bad ? 3 : 1, dashArray: bad ? "6 4" : null, fillColor: STATUS[p.status] || "#999",
               fillOpacity: 0.35 };
    },
    gridFocus: function () {
      return { className: "gm-grid gm-focus", color: "#d7191c", weight: 4, fillColor: "#fdae61", fillOpacity: 0.3 };
    },
    gridNeighbour: function () {
      return { className: "gm-grid gm-neighbour", color: "#2b83ba", weight: 2, dashArray: "6 4",
               fillColor: "#abd9e9", fillOpacity: 0.2 };
    },
    gridOutline: function () {
      return { className: "gm-grid", color: "#666", weight: 1, fillColor: "#bbb", fillOpacity: 0.05 };
    },
    community: function () { return { className: "gm-community", color: "#222", weight: 2, fill: false }; },
    compound: function () {
      return { className: "gm-compound", color: "#7b3294", weight: 1, fillColor: "#c2a5cf", fillOpacity: 0.45 };
    },
    compoundWalk: function (p) {
      return p.covered
        ? { className: "gm-compound", color: "#1a9641", weight: 1, fillColor: "#a6d96a", fillOpacity: 0.5 }
        : { className: "gm-compound gm-outside", color: "#d7191c", weight: 2, fillColor: "#fdae61", fillOpacity: 0.8 };
    },
    compoundOfficer: function (p) {
      return { className: "gm-compound", color: "#333", weight: 1, fillColor: p.colour || "#bbb",
               fillOpacity: p.colour ? 0.75 : 0.2 };
    },
    barrier: function (p) {
      return p.kind === "water"
        ? { className: "gm-barrier", color: "#2c7fb8", weight: 2, fillColor: "#a6bddb", fillOpacity: 0.6 }
        : { className: "gm-barrier", color: "#525252", weight: 3, opacity: 0.75 };
    },
    walk: function () {
      return { className: "gm-walk", color: "#1a9641", weight: 1, fillColor: "#1a9641", fillOpacity: 0.15 };
    }
  };

  function pointLayer(spec, feature, latlng) {
    var p = feature.properties || {};
    if (spec.point === "service") {
      var html = '<div class="gm-sp gm-sp-' + esc(p.kind) + '">' + esc(GLYPH[p.kind] || "点") + "</div>";
      return L.marker(latlng, { icon: L.divIcon({ className: "gm-sp-icon", html: html, iconSize: [26, 26],
                                                  iconAnchor: [13, 13], popupAnchor: [0, -12] }),
                                title: p.name || "" });
    }
    return L.circleMarker(latlng, { className: "gm-point", radius: 8, color: "#fff", weight: 2,
                                    fillColor: "#d7191c", fillOpacity: 1 });
  }

  function decorate(spec, feature, lyr) {
    var p = feature.properties || {};
    if (spec.popup && p[spec.popup]) lyr.bindPopup(p[spec.popup], { maxWidth: 380 });
    if (spec.label && p[spec.label] !== undefined && p[spec.label] !== null) {
      lyr.bindTooltip(esc(p[spec.label]), { permanent: true, direction: "center", className: "gm-label",
                                            interactive: false, opacity: 1 });
    } else if (spec.tooltip && p[spec.tooltip]) {
      lyr.bindTooltip(esc(p[spec.tooltip]), { sticky: true });
    }
  }

  /* A GeoJSON layer from spec: {key, style, data | url, label, tooltip, popup, point, minZoom, what}. */
  function layer(map, spec) {
    var styleFn = STYLES[spec.style] || STYLES.grid;
    var lyr = L.geoJSON(null, {
      style: function (f) { return styleFn(f.properties || {}); },
      pointToLayer: function (f, latlng) { return pointLayer(spec, f, latlng); },
      onEachFeature: function (f, l) { decorate(spec, f, l); }
    });
    registry[spec.key] = lyr;
    if (spec.data) lyr.addData(spec.data);
    if (spec.url) viewport(map, lyr, spec);
    if (spec.label) labelsByZoom(map, spec.labelMinZoom || 14);
    return lyr;
  }

  function labelsByZoom(map, minZoom) {
    function apply() {
      var hide = map.getZoom() < minZoom;
      L.DomUtil[hide ? "addClass" : "removeClass"](map.getContainer(), "gm-hide-labels");
    }
    map.on("zoomend", apply);
    map.whenReady(apply);
  }

  /* Load features for the visible box on every move (the page does not embed them). */
  function viewport(map, lyr, spec) {
    var controller = null;
    var note = box(map, { html: "", position: "bottomleft", className: "gm-box gm-note" });
    function say(text) { note.getContainer().innerHTML = esc(text); note.getContainer().style.display = text ? "" : "none"; }
    function load() {
      if (map.getZoom() < (spec.minZoom || 0)) {
        lyr.clearLayers();
        say("放大地图以显示" + (spec.what || "要素"));
        return;
      }
      var b = map.getBounds().pad(0.25);
      var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); });
      if (controller) controller.abort();
      controller = new AbortController();
      var url = spec.url + (spec.url.indexOf("?") < 0 ? "?" : "&") + "bbox=" + bbox.join(",");
      inflight += 1;
      fetch(url, { signal: controller.signal, headers: { Accept: "application/geo+json" } })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (fc) {
          lyr.clearLayers();
          lyr.addData(fc);
          say(fc.truncated ? "要素过多，仅显示部分，请放大" : "");
        })
        .catch(function (e) { if (e.name !== "AbortError") say("加载失败：" + e.message); })
        .finally(function () { inflight -= 1; });
    }
    map.on("moveend", load);
    map.whenReady(load);
  }

  /* A static HTML box as a Leaflet control; html is already escaped by the server. */
  function box(map, opts) {
    var Box = L.Control.extend({
      onAdd: function () {
        var div = L.DomUtil.create("div", opts.className || "gm-box");
        div.innerHTML = opts.html || "";
        if (!opts.html) div.style.display = "none";
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        return div;
      }
    });
    return new Box({ position: opts.position || "bottomright" }).addTo(map);
  }

  function fit(map, opts) {
    map.fitBounds(opts.bounds, { padding: opts.padding || [10, 10], animate: false });
  }

  function openPopup(map, opts) {
    map.whenReady(function () {
      var lyr = registry[opts.key];
      if (!lyr) return;
      lyr.eachLayer(function (l) { if (l.getPopup && l.getPopup()) { l.openPopup(); } });
    });
  }

  /* ---------------------------------------------------------- GCJ-02 (for Amap tiles) */
  function gcjOffset(lon, lat) {
    var PI = Math.PI, a = 6378245.0, ee = 0.00669342162296594323, x = lon - 105.0, y = lat - 35.0;
    var waves = (20 * Math.sin(6 * x * PI) + 20 * Math.sin(2 * x * PI)) * 2 / 3;
    var dlat = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x)) + waves
      + (20 * Math.sin(y * PI) + 40 * Math.sin(y / 3 * PI)) * 2 / 3
      + (160 * Math.sin(y / 12 * PI) + 320 * Math.sin(y * PI / 30)) * 2 / 3;
    var dlon = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x)) + waves
      + (20 * Math.sin(x * PI) + 40 * Math.sin(x / 3 * PI)) * 2 / 3
      + (150 * Math.sin(x / 12 * PI) + 300 * Math.sin(x / 30 * PI)) * 2 / 3;
    var rad = lat / 180 * PI, magic = 1 - ee * Math.sin(rad) * Math.sin(rad), sq = Math.sqrt(magic);
    return [dlon * 180 / (a / sq * Math.cos(rad) * PI), dlat * 180 / ((a * (1 - ee)) / (magic * sq) * PI)];
  }
  function toDisplay(lon, lat, crs) {
    if (crs !== "gcj02" || lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271) return [lon, lat];
    var d = gcjOffset(lon, lat);
    return [lon + d[0], lat + d[1]];
  }

  /* ---------------------------------------------------------- find my grid */
  function people(value, role) {
    if (!value) return [];
    if (Array.isArray(value)) return value.map(function (p) { return typeof p === "object" ? p : { name: p, role: role }; });
    if (typeof value === "object") {
      if (value.name) return [Object.assign({ role: role }, value)];
      return Object.keys(value).reduce(function (acc, k) { return acc.concat(people(value[k], k)); }, []);
    }
    return [{ name: String(value), role: role }];
  }

  /* The grid, its workers and the point from a /v1/lookup answer ({grid, staff: {grid_head, workers},
   * location: {lon, lat}, edge}); tolerant of older or flatter shapes. */
  function parseLookup(j) {
    var g = j.grid || (Array.isArray(j.grids) ? j.grids[0] : null) || j;
    var staff = [];
    ["staff", "posts", "workers", "grid_workers", "grid_worker", "grid_head", "head"].forEach(function (k) {
      staff = staff.concat(people(g[k], k === "head" ? "grid_head" : k.replace(/s$/, "")));
      if (g !== j) staff = staff.concat(people(j[k], k === "head" ? "grid_head" : k.replace(/s$/, "")));
    });
    var workers = staff.filter(function (p) { return p.role === "grid_worker"; });
    if (!workers.length) workers = staff.filter(function (p) { return p.role === "grid_head"; });
    var pt = j.point || j.location || (j.query && j.query.point) || null;
    var lonlat = null;
    if (pt && Array.isArray(pt.coordinates)) lonlat = pt.coordinates;
    else if (pt && pt.lon !== undefined) lonlat = [pt.lon, pt.lat];
    else if (j.lon !== undefined && j.lat !== undefined) lonlat = [j.lon, j.lat];
    return { code: g.code || g.grid_code || j.grid_code, name: g.name || g.grid_name || j.grid_name,
             workers: workers, lonlat: lonlat, geometry: g.geometry || null, edge: j.on_edge || j.edge || g.on_edge };
  }

  function findGrid(map, opts) {
    var crs = opts.crs || "wgs84";
    var marker = null, extra = null;
    var Find = L.Control.extend({
      onAdd: function () {
        var div = L.DomUtil.create("div", "gm-box gm-find");
        div.innerHTML = '<form><label>查找我的网格</label>'
          + '<input name="q" type="text" placeholder="输入地址，或 经度,纬度" autocomplete="off">'
          + '<select name="crs" title="坐标系"><option value="gcj02">GCJ-02（高德/微信）</option>'
          + '<option value="wgs84">WGS84（GPS）</option><option value="cgcs2000">CGCS2000</option>'
          + '<option value="bd09">BD-09（百度）</option></select>'
          + '<button type="submit">查询</button></form><div class="gm-find-result"></div>';
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        div.querySelector("form").addEventListener("submit", function (ev) { ev.preventDefault(); ask(div); });
        return div;
      }
    });
    function show(div, html, state) {
      var out = div.querySelector(".gm-find-result");
      out.innerHTML = html;
      out.setAttribute("data-state", state);
    }
    function ask(div) {
      var q = div.querySelector("input[name=q]").value.trim();
      var sel = div.querySelector("select[name=crs]").value;
      if (!q) { show(div, "请输入地址或坐标", "error"); return; }
      var m = q.match(/^\s*(-?\d+(?:\.\d+)?)\s*[,，\s]\s*(-?\d+(?:\.\d+)?)\s*$/);
      var params = m ? "lon=" + encodeURIComponent(m[1]) + "&lat=" + encodeURIComponent(m[2]) + "&crs=" + sel
                     : "address=" + encodeURIComponent(q);
      show(div, "查询中…", "pending");
      inflight += 1;
      fetch((opts.apiBase || "") + "/v1/lookup?" + params, { headers: { Accept: "application/json" } })
        .then(function (r) {
          return r.json().catch(function () { return {}; }).then(function (j) { return { ok: r.ok, status: r.status, j: j }; });
        })
        .then(function (res) {
          var out = div.querySelector(".gm-find-result");
          if (res.status === 300 && Array.isArray(res.j.grids)) {
            /* A compound named alone that the plan splits over several grids: list them to choose. */
            var items = res.j.grids.map(function (c) {
              return "<li><span class=gm-code>" + esc(c.code) + "</span> " + esc(c.name || "") + "</li>";
            });
            show(div, "<b>" + esc((res.j.compound && res.j.compound.name) || "该地址") + "分属 "
                 + res.j.grids.length + " 个网格</b><ul class=gm-choices>" + items.join("")
                 + "</ul><span class=gm-warn>请补充楼栋号后再查询</span>", "ambiguous");
            out.setAttribute("data-code", "");
            out.setAttribute("data-codes", res.j.grids.map(function (c) { return c.code; }).join(" "));
            return;
          }
          if (!res.ok) {
            show(div, "未找到：" + esc(res.j.detail || ("HTTP " + res.status)), "error");
            return;
          }
          var g = parseLookup(res.j);
          var names = g.workers.map(function (p) {
            var phone = p.phone ? " " + esc(p.phone) : "";
            return esc(ROLE_ZH[p.role] || "网格员") + "：" + esc(p.name) + phone;
          });
          show(div, "<b>" + esc(g.name || "网格") + "</b><br>编码 <span class=gm-code>" + esc(g.code) + "</span>"
               + (names.length ? "<br>" + names.join("<br>") : "<br>网格员：未公布")
               + (g.edge ? "<br><span class=gm-warn>位于网格边界附近</span>" : ""), "found");
          div.querySelector(".gm-find-result").setAttribute("data-code", g.code || "");
          highlight(g);
        })
        .catch(function (e) { show(div, "查询失败：" + esc(e.message), "error"); })
        .finally(function () { inflight -= 1; });
    }
    function highlight(g) {
      var lyr = registry[opts.gridsKey];
      var target = null;
      if (lyr) lyr.eachLayer(function (l) {
        var hit = l.feature && l.feature.properties && l.feature.properties.code === g.code;
        l.setStyle(hit ? STYLES.gridFocus() : STYLES[opts.gridsStyle || "gridOutline"](l.feature.properties || {}));
        var el = l.getElement ? l.getElement() : null;  // className is only applied at creation
        if (el) L.DomUtil[hit ? "addClass" : "removeClass"](el, "gm-focus");
        if (hit) { target = l; l.bringToFront(); }
      });
      if (extra) { map.removeLayer(extra); extra = null; }
      if (!target && g.geometry) {
        extra = L.geoJSON(g.geometry, { style: STYLES.gridFocus,
          coordsToLatLng: function (c) { var d = toDisplay(c[0], c[1], crs); return L.latLng(d[1], d[0]); } }).addTo(map);
        target = extra;
      }
      if (marker) { map.removeLayer(marker); marker = null; }
      if (g.lonlat) {
        var d = toDisplay(+g.lonlat[0], +g.lonlat[1], crs);
        marker = L.circleMarker([d[1], d[0]], { className: "gm-point", radius: 8, color: "#fff", weight: 2,
                                                fillColor: "#d7191c", fillOpacity: 1 }).addTo(map);
      }
      if (target && target.getBounds) map.fitBounds(target.getBounds(), { maxZoom: 16, padding: [20, 20] });
      else if (marker) map.setView(marker.getLatLng(), 16);
    }
    return new Find({ position: opts.position || "topleft" }).addTo(map);
  }

  function count(key) {
    var lyr = registry[key];
    return lyr ? lyr.getLayers().length : -1;
  }

  window.gridmap = {
    layer: layer, box: box, fit: fit, findGrid: findGrid, openPopup: openPopup, count: count,
    pending: function () { return inflight; }, layers: registry, parseLookup: parseLookup, toDisplay: toDisplay
  };
})();
