"""Map rendering with folium: pure functions from GeoDataFrames/dicts to folium maps and HTML.

No database here: ``gridmap.storage.mapdata`` fetches the frames, ``api/routes/maps.py``
and ``gridmap map`` wire them in. Pages work offline: Leaflet and gridmap.js are
vendored in ``static/`` and linked (served) or inlined (exported files).
"""

from gridmap.maps.base import TILES, render_html, tiles_of
from gridmap.maps.coverage import coverage_map, grid_features
from gridmap.maps.lookup import lookup_map
from gridmap.maps.officers import officer_map
from gridmap.maps.service import service_point_map, service_point_page

__all__ = ["TILES", "coverage_map", "grid_features", "lookup_map", "officer_map", "render_html",
           "service_point_map", "service_point_page", "tiles_of"]
