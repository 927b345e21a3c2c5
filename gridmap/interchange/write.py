"""Write layers in the interchange format (DESIGN.md §4): a GeoPackage, or a folder of GeoJSON files or shapefiles.

Written for QGIS: every layer has one geometry type (a layer that mixes
lines and polygons, as ``barriers`` does, is written as ``barriers_lines``
and ``barriers_polygons``, which the importer reads back as one layer);
integer columns stay integer even with empty cells; shapefile columns get
the 10-character aliases of :mod:`gridmap.interchange.shapefile`.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from gridmap.errors import InvalidFile
from gridmap.interchange.shapefile import short_names, write_sidecar

#: ``format`` names and their GDAL drivers.
FORMATS = {"gpkg": "GPKG", "geojson": "GeoJSON", "shp": "ESRI Shapefile"}
FAMILIES = {"Point": "points", "MultiPoint": "points", "LineString": "lines", "MultiLineString": "lines",
            "Polygon": "polygons", "MultiPolygon": "polygons"}
#: What an export writes per layer (a QGIS style .qml beside it is left alone).
DATA_FILES = {"geojson", "json", "shp", "shx", "dbf", "prj", "cpg", "qix", "columns.csv"}
MULTI = {"points": "MultiPoint", "lines": "MultiLineString", "polygons": "MultiPolygon"}


def write_interchange(layers: dict[str, pd.DataFrame], path: str | Path, *, format: str | None = None) -> Path:
    """Write layers to a GeoPackage (``.gpkg``), or a folder of GeoJSON files (default) or shapefiles (``shp``)."""
    path = Path(path)
    fmt = format or ("gpkg" if path.suffix.lower() == ".gpkg" else "geojson")
    if fmt not in FORMATS:
        raise InvalidFile(f"unknown export format {fmt!r}; use one of {sorted(FORMATS)}")
    if fmt == "gpkg":
        if path.suffix.lower() != ".gpkg":
            raise InvalidFile(f"{path}: a GeoPackage must end in .gpkg")
        path.unlink(missing_ok=True)
    elif path.suffix != "" and not path.is_dir():
        raise InvalidFile(f"{path}: export to .gpkg or to a folder (no suffix) of GeoJSON files or shapefiles")
    else:
        path.mkdir(parents=True, exist_ok=True)
    for name, df in layers.items():
        if fmt != "gpkg":
            _remove_old(path, name)
        for part, piece in split_by_geometry(name, df).items():
            _write_one(tidy_types(piece), path, part, fmt)
    return path


def split_by_geometry(name: str, df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{name: df}``, or one ``name_points|_lines|_polygons`` piece per geometry kind when ``df`` mixes them."""
    if not isinstance(df, gpd.GeoDataFrame) or df.empty:
        return {name: df}
    family = df.geometry.geom_type.map(FAMILIES)
    kinds = [k for k in MULTI if (family == k).any()]
    if len(kinds) <= 1:
        return {name: df}
    return {f"{name}_{kind}": df[(family == kind).to_numpy()] for kind in kinds}


def tidy_types(df: pd.DataFrame) -> pd.DataFrame:
    """Whole-number columns as nullable integers and yes/no columns as nullable booleans.

    Attributes read back from jsonb arrive as object columns (ints and None);
    left so, a driver writes them as text or real numbers.
    """
    out = df.copy()
    for col in out.columns:
        if out[col].dtype != object:
            continue
        values = [v for v in out[col] if v is not None and not (isinstance(v, float) and np.isnan(v))]
        if not values:
            continue
        if all(isinstance(v, (bool, np.bool_)) for v in values):
            out[col] = out[col].astype("boolean")
        elif any(isinstance(v, (bool, np.bool_)) for v in values):
            continue
        elif all(isinstance(v, (int, np.integer)) for v in values):
            out[col] = out[col].astype("Int64")
        elif all(isinstance(v, (int, float, np.integer, np.floating)) for v in values):
            out[col] = out[col].astype("float64")
    return out


def _remove_old(folder: Path, name: str) -> None:
    """Files a previous export left for layer ``name`` (whole or in parts), so no stale part is re-imported."""
    stems = {name, *(f"{name}_{kind}" for kind in MULTI)}
    for old in folder.iterdir():
        stem, _, rest = old.name.partition(".")
        if stem in stems and rest.lower() in DATA_FILES:
            old.unlink()


def _write_one(df: pd.DataFrame, folder_or_file: Path, layer: str, fmt: str) -> None:
    driver = FORMATS[fmt]
    options: dict = {}
    if isinstance(df, gpd.GeoDataFrame) and len(df):
        kinds = set(df.geometry.geom_type)
        family = {FAMILIES.get(k) for k in kinds}
        if len(kinds) > 1 and len(family) == 1 and None not in family:
            options = {"promote_to_multi": True, "geometry_type": MULTI[family.pop()]}
    if fmt == "gpkg":
        pyogrio.write_dataframe(df, folder_or_file, layer=layer, driver=driver, **options)
        return
    if fmt == "geojson":
        target = folder_or_file / f"{layer}.geojson"
        # 17 decimals, or 31.505499999999998 comes back as 31.5055 (a change on re-import)
        pyogrio.write_dataframe(df, target, layer=layer, driver=driver, layer_options={"COORDINATE_PRECISION": 17},
                                **options)
        return
    has_geometry = isinstance(df, gpd.GeoDataFrame)
    target = folder_or_file / f"{layer}.{'shp' if has_geometry else 'dbf'}"
    short, generated = short_names(df)
    pyogrio.write_dataframe(short, target, layer=layer, driver=driver, encoding="UTF-8", **options)
    write_sidecar(target, generated)
