"""The frame every map shares: tiles, offline assets, data layers drawn by gridmap.js, controls."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import folium
from branca.element import Element, MacroElement
from folium.map import Layer
from folium.template import Template

from gridmap.crs import GCJ02, WGS84

STATIC_DIR = Path(__file__).resolve().parent / "static"
JS_ASSETS = ("leaflet/leaflet.js", "gridmap.js")
CSS_ASSETS = ("leaflet/leaflet.css", "gridmap.css")


@dataclass(frozen=True)
class Tiles:
    """A tile source and the CRS its pixels are drawn in."""

    name: str
    url: str | None
    attribution: str
    crs: str
    subdomains: str = "abc"
    max_zoom: int = 19


TILES: dict[str, Tiles] = {
    "openstreetmap": Tiles("openstreetmap", "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                           '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
                           WGS84),
    "amap": Tiles("amap", "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
                  "&x={x}&y={y}&z={z}", "&copy; 高德地图 AutoNavi", GCJ02, subdomains="1234", max_zoom=18),
    "none": Tiles("none", None, "", WGS84),
}


def tiles_of(name: str) -> Tiles:
    """The tile source called ``name``; the error lists the known ones."""
    key = (name or "").strip().lower()
    if key not in TILES:
        raise ValueError(f"unknown tiles {name!r}; use one of {', '.join(TILES)}")
    return TILES[key]


def base_map(tiles: str = "openstreetmap", title: str = "gridmap") -> folium.Map:
    """An empty map with the tile layer, a scale bar and a page title; fit it to data later."""
    source = tiles_of(tiles)
    m = folium.Map(location=[31.5, 120.3], zoom_start=13, tiles=None, control_scale=True,
                   max_zoom=source.max_zoom)
    if source.url:
        folium.TileLayer(source.url, attr=source.attribution, name=_TILE_NAMES[source.name],
                         subdomains=source.subdomains, max_zoom=source.max_zoom).add_to(m)
    m.get_root().header.add_child(Element(f"<title>{_escape(title)}</title>"), name="page_title")
    m.get_root().header.add_child(Element('<meta name="gridmap-tiles" content="' + source.name + '">'
                                          '<link rel="icon" href="data:,">'), name="tiles_meta")
    m.gridmap_crs = source.crs  # type: ignore[attr-defined]
    return m


_TILE_NAMES = {"openstreetmap": "OpenStreetMap 底图", "amap": "高德地图 底图", "none": "无底图"}


def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


escape = _escape


class DataLayer(Layer):
    """A GeoJSON layer drawn by ``gridmap.layer``: embedded data or loaded by viewport from a URL.

    ``spec`` is handed to the browser as is: ``style`` names a style in
    gridmap.js, ``label``/``tooltip``/``popup`` name feature properties,
    ``url`` (viewport mode) is fetched with ``bbox=w,s,e,n`` on every move.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = gridmap.layer({{ this._parent.get_name() }}, {{ this.spec_json }});
        {% endmacro %}
    """)

    def __init__(self, key: str, name: str, spec: dict[str, Any], data: dict | None = None,
                 show: bool = True, control: bool = True) -> None:
        super().__init__(name=name, overlay=True, control=control, show=show)
        self._name = "DataLayer"
        self.spec_json = js_json({"key": key, **spec, "data": data})


class Control(MacroElement):
    """A Leaflet control made by a gridmap.js factory (``legend``, ``info``, ``findGrid``)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        gridmap.{{ this.factory }}({{ this._parent.get_name() }}, {{ this.options_json }});
        {% endmacro %}
    """)

    def __init__(self, factory: str, options: dict[str, Any]) -> None:
        super().__init__()
        if not re.fullmatch(r"[A-Za-z]+", factory):
            raise ValueError(f"bad control factory {factory!r}")
        self._name = "GridmapControl"
        self.factory = factory
        self.options_json = js_json(options)


def html_box(m: folium.Map, html: str, position: str = "bottomright", cls: str = "gm-box") -> None:
    """A static HTML box (legend, summary) as a Leaflet control; ``html`` must be escaped already."""
    Control("box", {"html": html, "position": position, "className": cls}).add_to(m)


def finish(m: folium.Map, bounds: list[list[float]] | None, layer_control: bool = True) -> folium.Map:
    """Fit the view to ``bounds`` and add the layer control (collapsed on small screens)."""
    if bounds:
        # Not folium's fit_bounds: it animates from the initial view, and a screenshot or a test
        # taken mid-animation sees a half-drawn map.
        Control("fit", {"bounds": bounds, "padding": [10, 10]}).add_to(m)
    if layer_control:
        folium.LayerControl(collapsed=False, position="topright").add_to(m)
    return m


# ---------------------------------------------------------------- assets and HTML


def render_html(m: folium.Map, static_url: str | None = None) -> str:
    """The page as HTML: assets linked under ``static_url`` (e.g. '/maps/static'), or inlined when None."""
    if static_url is not None:
        base = static_url.rstrip("/")
        m.default_js = [(p, f"{base}/{p}") for p in JS_ASSETS]
        m.default_css = [(p, f"{base}/{p}") for p in CSS_ASSETS]
    else:
        m.default_js, m.default_css = [], []
        header = m.get_root().header
        for i, path in enumerate(CSS_ASSETS):
            header.add_child(Element(f"<style>{inline_css(path)}</style>"), name=f"inline_css_{i}", index=i)
        for i, path in enumerate(JS_ASSETS):
            header.add_child(Element(f"<script>{inline_js(path)}</script>"), name=f"inline_js_{i}",
                             index=len(CSS_ASSETS) + i)
    return m.get_root().render()


def inline_js(path: str) -> str:
    """A vendored script, safe inside <script>."""
    return (STATIC_DIR / path).read_text(encoding="utf-8").replace("</script", "<\\/script")


def inline_css(path: str) -> str:
    """A vendored stylesheet with its url(images/...) turned into data: URIs."""
    file = STATIC_DIR / path
    css = file.read_text(encoding="utf-8")

    def data_uri(match: re.Match) -> str:
        image = (file.parent / match.group(1)).resolve()
        if not image.is_file() or STATIC_DIR not in image.parents:
            return match.group(0)
        encoded = base64.b64encode(image.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{encoded})"

    return re.sub(r"url\((images/[A-Za-z0-9_\-]+\.png)\)", data_uri, css)


def js_json(value: Any) -> str:
    """Compact JSON (Chinese kept as UTF-8) that is safe inside a <script> element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # Only "</" (closes the script) and "<!--" (script-data escape state) matter inside <script>;
    # escaping every "<" would double the size of the HTML cards.
    return text.replace("</", "<\\/").replace("<!--", "\\u003c!--").replace("\u2028", "\\u2028").replace(
        "\u2029", "\\u2029")
