"""Read and check interchange files (DESIGN.md §4).

A file is a GeoPackage, a folder of GeoJSON/shapefiles named after the
layers, or a single GeoJSON named after its layer. Reading never touches the
database: :func:`read_interchange` returns checked GeoDataFrames in EPSG:4490
and the list of repairs made, or raises :class:`InvalidFile` naming the
layer, the feature and the problem.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gridmap.crs import to_storage
from gridmap.domain import BARRIER_KINDS, COMMUNITY_KINDS, ROLES, STORAGE_EPSG
from gridmap.errors import InvalidBoundary, InvalidFile, UnknownCRS
from gridmap.interchange.layers import IMPORT_ORDER, LAYERS, LayerSpec

log = logging.getLogger(__name__)

VECTOR_SUFFIXES = (".geojson", ".json", ".shp", ".gpkg", ".fgb")
CODE_PATTERNS = {
    ("districts", "code"): r"^\d{6}$",
    ("streets", "code"): r"^\d{9}$",
    ("streets", "district_code"): r"^\d{6}$",
    ("communities", "code"): r"^\d{12}$",
    ("communities", "street_code"): r"^\d{9}$",
    ("compounds", "community_code"): r"^\d{12}$",
    ("grids", "code"): r"^\d{15}$",
    ("grids", "community_code"): r"^\d{12}$",
}
#: A repair is "safe" when it changes a polygon's area by less than this share.
SAFE_REPAIR_AREA_SHARE = 0.01
#: Share of a compound's area that must lie inside its community.
COMPOUND_INSIDE_SHARE = 0.95


@dataclass
class Repair:
    """A geometry that was invalid and was repaired with make_valid."""

    layer: str
    feature: str
    reason: str


@dataclass
class Interchange:
    """Checked layers in EPSG:4490 (``staff`` and ``party_orgs`` as plain DataFrames)."""

    layers: dict[str, pd.DataFrame] = field(default_factory=dict)
    repairs: list[Repair] = field(default_factory=list)
    source: str = ""

    def counts(self) -> dict[str, int]:
        return {name: len(df) for name, df in self.layers.items()}


def list_sources(path: Path) -> dict[str, tuple[Path, str | None]]:
    """Map layer name -> (file, layer inside the file) for a file or folder."""
    if not path.exists():
        raise InvalidFile(f"{path}: no such file or folder")
    if path.is_dir():
        found = {f.stem: (f, None) for f in sorted(path.iterdir()) if f.suffix.lower() in VECTOR_SUFFIXES}
    elif path.suffix.lower() == ".gpkg":
        try:
            names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
        except Exception as exc:  # pyogrio raises DataSourceError and friends
            raise InvalidFile(f"{path}: not a readable GeoPackage ({exc})") from exc
        found = {name: (path, name) for name in names}
    elif path.suffix.lower() in VECTOR_SUFFIXES:
        found = {path.stem: (path, None)}
    else:
        raise InvalidFile(f"{path}: unsupported file type {path.suffix!r}; use .gpkg, .geojson or a folder")
    return found


def read_interchange(
    path: str | Path,
    crs: str | None = None,
    known_communities: gpd.GeoDataFrame | None = None,
) -> Interchange:
    """Read and check every interchange layer of ``path``.

    ``crs`` overrides the CRS declared by the file (needed for GCJ-02/BD-09,
    which files cannot declare). ``known_communities`` are communities already
    stored, used to check compounds whose community is not in the file.
    """
    path = Path(path)
    sources = list_sources(path)
    known = [name for name in IMPORT_ORDER if name in sources]
    extra = sorted(set(sources) - set(LAYERS) - {"party_orgs"})
    if extra:
        log.info("ignoring layers that are not interchange layers: %s", ", ".join(extra))
    if not known:
        raise InvalidFile(
            f"{path}: no interchange layer found (has {sorted(sources) or 'nothing'}; "
            f"expected some of {list(IMPORT_ORDER)})"
        )
    result = Interchange(source=str(path))
    for name in known:
        file, layer = sources[name]
        result.layers[name] = _read_layer(LAYERS[name], file, layer, crs, result.repairs)
    if "party_orgs" in sources:
        file, layer = sources["party_orgs"]
        result.layers["party_orgs"] = _read_table(file, layer, "party_orgs")
    check_references(result, known_communities)
    return result


def _read_table(file: Path, layer: str | None, name: str) -> pd.DataFrame:
    try:
        df = pyogrio.read_dataframe(file, layer=layer, read_geometry=False)
    except Exception as exc:
        raise InvalidFile(f"layer {name}: cannot be read from {file} ({exc})") from exc
    return pd.DataFrame(df)


def _read_layer(
    spec: LayerSpec, file: Path, layer: str | None, crs: str | None, repairs: list[Repair]
) -> pd.DataFrame:
    if not spec.geometry:
        df = _read_table(file, layer, spec.name)
        _check_columns(spec, df)
        return _check_values(spec, df)
    try:
        gdf = pyogrio.read_dataframe(file, layer=layer)
    except Exception as exc:
        raise InvalidFile(f"layer {spec.name}: cannot be read from {file} ({exc})") from exc
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InvalidFile(f"layer {spec.name}: has no geometry column; expected {'/'.join(spec.geometry)}")
    _check_columns(spec, gdf)
    try:
        gdf = to_storage(gdf, crs)
    except UnknownCRS as exc:
        raise UnknownCRS(f"layer {spec.name}: {exc.detail}") from exc
    gdf = _check_values(spec, gdf)
    return _check_geometries(spec, gdf, repairs)


def _check_columns(spec: LayerSpec, df: pd.DataFrame) -> None:
    missing = [c for c in spec.required if c not in df.columns]
    if missing:
        have = [c for c in df.columns if c != "geometry"]
        raise InvalidFile(f"layer {spec.name}: missing required column(s) {missing}; has {have}")


def _feature_ids(spec: LayerSpec, df: pd.DataFrame) -> pd.Series:
    if spec.key and spec.key in df.columns:
        return df[spec.key].astype(str)
    return pd.Series([f"#{i + 1}" for i in range(len(df))], index=df.index)


def _check_values(spec: LayerSpec, df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    ids = _feature_ids(spec, df)
    for col in spec.required:
        if col in ("compound_id", "building_id", "community_code", "agency", "hours", "class", "phone"):
            continue  # may legitimately be empty
        empty = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if empty.any():
            raise InvalidFile(f"layer {spec.name}: feature {ids[empty].iloc[0]} has an empty {col}")
    if spec.key:
        dup = df[spec.key].astype(str).duplicated()
        if dup.any():
            raise InvalidFile(f"layer {spec.name}: {spec.key} {df[spec.key][dup].iloc[0]!r} appears twice")
    for (layer, col), pattern in CODE_PATTERNS.items():
        if layer == spec.name:
            df[col] = df[col].map(_code_text)
            bad = ~df[col].str.match(pattern)
            if bad.any():
                raise InvalidFile(
                    f"layer {spec.name}: feature {ids[bad].iloc[0]} has {col}={df[col][bad].iloc[0]!r}, "
                    f"which does not match {pattern}"
                )
    if "households" in spec.required:
        df["households"] = _whole_numbers(spec, df, ids, "households")
    _check_enum(spec, df, ids, "communities", "kind", COMMUNITY_KINDS)
    _check_enum(spec, df, ids, "barriers", "kind", BARRIER_KINDS)
    _check_enum(spec, df, ids, "staff", "role", ROLES)
    if spec.name == "staff":
        df["phone_public"] = df["phone_public"].map(_as_bool(ids, df))
    for col in ("id", "compound_id", "building_id"):
        if col in df.columns:
            df[col] = df[col].map(_optional_text)
    return df


def _code_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip()


def _optional_text(value: object) -> str | None:
    text = _code_text(value)
    return text or None


def _whole_numbers(spec: LayerSpec, df: pd.DataFrame, ids: pd.Series, col: str) -> pd.Series:
    values = pd.to_numeric(df[col], errors="coerce")
    bad = values.isna() | (values < 0) | (values != values.round())
    if bad.any():
        raise InvalidFile(
            f"layer {spec.name}: feature {ids[bad].iloc[0]} has {col}={df[col][bad].iloc[0]!r}; "
            "expected a whole number >= 0"
        )
    return values.astype("int64")


def _check_enum(spec: LayerSpec, df: pd.DataFrame, ids: pd.Series, layer: str, col: str,
                allowed: tuple[str, ...]) -> None:
    if spec.name != layer:
        return
    bad = ~df[col].isin(allowed)
    if bad.any():
        raise InvalidFile(
            f"layer {layer}: feature {ids[bad].iloc[0]} has {col}={df[col][bad].iloc[0]!r}; "
            f"allowed: {list(allowed)}"
        )


def _as_bool(ids: pd.Series, df: pd.DataFrame):
    truthy = {"true", "1", "yes", "t", "y", "是"}
    falsy = {"false", "0", "no", "f", "n", "否", "", "none", "nan"}

    def convert(value: object) -> bool:
        text = str(value).strip().lower()
        if text in truthy:
            return True
        if text in falsy:
            return False
        raise InvalidFile(f"layer staff: phone_public={value!r} is not a boolean (true/false)")

    return convert


def _check_geometries(spec: LayerSpec, gdf: gpd.GeoDataFrame, repairs: list[Repair]) -> gpd.GeoDataFrame:
    ids = _feature_ids(spec, gdf)
    geoms = gdf.geometry.values
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        raise InvalidBoundary(f"layer {spec.name}: feature {ids[missing].iloc[0]} has no geometry")
    invalid = ~shapely.is_valid(geoms)
    fixed = np.array(geoms, dtype=object)
    for i in np.flatnonzero(invalid):
        fixed[i] = _repair(spec, ids.iloc[i], geoms[i], repairs)
    polygonal = set(spec.geometry) <= {"Polygon", "MultiPolygon"}
    if polygonal:
        fixed = _promote_polygons(fixed)
    allowed = set(spec.geometry) | ({"MultiPolygon"} if polygonal else set())
    kinds = pd.Series(shapely.get_type_id(fixed)).map(_TYPE_NAMES)
    bad = ~kinds.isin(allowed).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidFile(
            f"layer {spec.name}: feature {ids.iloc[i]} is a {kinds.iloc[i]}; expected {'/'.join(spec.geometry)}"
        )
    out = gdf.copy()
    out.geometry = gpd.GeoSeries(fixed, index=gdf.index, crs=gdf.crs)
    return out


_TYPE_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
               5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}


def _promote_polygons(geoms: np.ndarray) -> np.ndarray:
    out = geoms.copy()
    for i, g in enumerate(geoms):
        if g.geom_type == "Polygon":
            out[i] = shapely.MultiPolygon([g])
    return out


def _repair(spec: LayerSpec, fid: str, geom: shapely.Geometry, repairs: list[Repair]) -> shapely.Geometry:
    """make_valid, accepted only when a polygon keeps its area (a bow-tie or a collapsed ring does not)."""
    reason = shapely.is_valid_reason(geom)
    repaired = shapely.make_valid(geom)
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        repaired = _polygonal_part(repaired)
        drawn = _shoelace_area(geom)
        if repaired is None or drawn == 0 or abs(repaired.area - drawn) / drawn > SAFE_REPAIR_AREA_SHARE:
            raise InvalidBoundary(
                f"layer {spec.name}: feature {fid} has an invalid geometry ({reason}) that cannot be "
                f"repaired safely (a repair would change its area by more than {SAFE_REPAIR_AREA_SHARE:.0%})"
            )
    if repaired is None or repaired.is_empty or not repaired.is_valid:
        raise InvalidBoundary(f"layer {spec.name}: feature {fid} has an invalid geometry ({reason})")
    repairs.append(Repair(spec.name, fid, reason))
    return repaired


def _shoelace_area(geom: shapely.Geometry) -> float:
    """Area of the rings as drawn (shells minus holes); a bow-tie's lobes cancel out."""
    polys = geom.geoms if geom.geom_type == "MultiPolygon" else [geom]
    return abs(sum(_ring_area(p.exterior) - sum(_ring_area(r) for r in p.interiors) for p in polys))


def _ring_area(ring: shapely.LinearRing) -> float:
    xy = np.asarray(ring.coords)
    return abs(0.5 * np.sum(xy[:-1, 0] * xy[1:, 1] - xy[1:, 0] * xy[:-1, 1]))


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry | None:
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else None


def check_references(data: Interchange, known_communities: gpd.GeoDataFrame | None = None) -> None:
    """Cross-layer checks that need no database: compounds inside their community."""
    compounds = data.layers.get("compounds")
    if compounds is None or compounds.empty:
        return
    communities = data.layers.get("communities")
    frames = [f for f in (communities, known_communities) if f is not None and not f.empty]
    if not frames:
        raise InvalidFile(
            "layer compounds: no communities to put them in (add a communities layer or import one first)"
        )
    pool = pd.concat([f[["code", "geometry"]] for f in frames]).drop_duplicates("code")
    pool = gpd.GeoDataFrame(pool, geometry="geometry", crs=STORAGE_EPSG).set_index("code")
    unknown = ~compounds["community_code"].isin(pool.index)
    if unknown.any():
        row = compounds[unknown].iloc[0]
        raise InvalidFile(
            f"layer compounds: feature {row['id']} names community {row['community_code']}, "
            "which is in neither the file nor the database"
        )
    _check_inside(compounds, pool)


def _check_inside(compounds: gpd.GeoDataFrame, pool: gpd.GeoDataFrame) -> None:
    from gridmap.crs import metric_crs

    lon = float(pool.geometry.union_all().centroid.x)
    metric = metric_crs(lon)
    comp = compounds.to_crs(metric)
    target = gpd.GeoSeries(pool.geometry.loc[compounds["community_code"]].values, crs=STORAGE_EPSG).to_crs(metric)
    inside = shapely.area(shapely.intersection(comp.geometry.values, target.values))
    area = shapely.area(comp.geometry.values)
    share = np.divide(inside, area, out=np.ones_like(area), where=area > 0)
    bad = share < COMPOUND_INSIDE_SHARE
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        row = compounds.iloc[i]
        raise InvalidFile(
            f"layer compounds: feature {row['id']} lies outside its community {row['community_code']} "
            f"(only {share[i]:.0%} of its area inside; at least {COMPOUND_INSIDE_SHARE:.0%} required)"
        )
