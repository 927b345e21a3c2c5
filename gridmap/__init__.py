"""gridmap: geospatial grid-mapping and coverage for grid governance (网格化治理).

The package root is the pure core: GeoDataFrames in, GeoDataFrames and
reports out. Only :mod:`gridmap.storage` talks to PostGIS; only ``api``
speaks HTTP.
"""

__version__ = "0.1.0"
