"""Read and check interchange files (DESIGN.md §4).

A file is a GeoPackage, a folder of GeoJSON files, shapefiles or CSV tables
named after the layers, or a single GeoJSON named after its layer. A layer
may come in parts named by geometry kind (``barriers_lines`` and
``barriers_polygons``, as the exporter writes them for QGIS); the parts are
read as one layer. Reading never touches the database: :func:`read_interchange`
checks every layer and, through an injected ``stored`` callable, the layers
against each other and what is stored; it returns checked GeoDataFrames in
EPSG:4490 with the repairs made and the warnings, or raises
:class:`InvalidFile` listing every problem (see :mod:`gridmap.interchange.issues`).
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError

from gridmap.crs import to_storage
from gridmap.domain import BARRIER_KINDS, COMMUNITY_KINDS, ROLES
from gridmap.errors import InvalidFile, InvalidInput, UnknownCRS
from gridmap.interchange.aliases import YES, NO, agency_code, allowed_roles, column_name, role_code
from gridmap.interchange.checks import CheckOptions, Stored, Wanted, check_across, feature_ids, wanted
from gridmap.interchange.issues import WARNING, Issue, IssueLog, plain, quoted
from gridmap.interchange.layers import IMPORT_ORDER, LAYERS, LayerSpec
from gridmap.interchange.shapefile import long_names, read_sidecar
from gridmap.interchange.text import decode_csv

log = logging.getLogger(__name__)

VECTOR_SUFFIXES = (".geojson", ".json", ".shp", ".gpkg", ".fgb")
TABLE_SUFFIXES = (".csv", ".dbf")  # layers without geometry (staff, party_orgs) in a folder
#: Layer parts split by geometry kind: ``barriers_lines`` is part of ``barriers``.
PART_SUFFIX = re.compile(r"^(?P<layer>.+)_(?P<kind>points|lines|polygons)$")
CODE_PATTERNS = {
    ("districts", "code"): 6,
    ("streets", "code"): 9,
    ("streets", "district_code"): 6,
    ("communities", "code"): 12,
    ("communities", "street_code"): 9,
    ("compounds", "community_code"): 12,
    ("grids", "code"): 15,
    ("grids", "community_code"): 12,
}
#: Required columns that may be left empty.
OPTIONAL_VALUES = ("compound_id", "building_id", "community_code", "agency", "hours", "class", "phone")
#: A repair is "safe" when it changes a polygon's area by less than this share.
SAFE_REPAIR_AREA_SHARE = 0.01
TRUTHY = frozenset({"true", "1", "yes", "t", "y"}) | YES
FALSY = frozenset({"false", "0", "no", "f", "n", "", "none", "nan"}) | NO


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
    warnings: list[Issue] = field(default_factory=list)
    omitted_warnings: int = 0  # warnings found beyond the cap

    def counts(self) -> dict[str, int]:
        return {name: len(df) for name, df in self.layers.items()}


@dataclass(frozen=True)
class Part:
    """One file (or GeoPackage layer) holding all or part of an interchange layer."""

    file: Path
    layer: str | None  # layer inside a GeoPackage
    label: str  # how messages name it: 'buildings_points.geojson', 'city.gpkg:barriers_lines'


def layer_of(name: str) -> str | None:
    """The interchange layer a source name belongs to ('barriers_lines' -> 'barriers'), or None."""
    if name in LAYERS or name == "party_orgs":
        return name
    m = PART_SUFFIX.match(name)
    return m["layer"] if m and m["layer"] in LAYERS else None


def list_sources(path: Path) -> dict[str, list[Part]]:
    """Map source name -> its parts for a file or folder ('barriers_lines' is its own source name)."""
    if not path.exists():
        raise InvalidFile(f"{path}: no such file or folder")
    if path.is_dir():
        found: dict[str, list[Part]] = {}
        files = sorted(path.iterdir())
        shapefiles = {f.stem for f in files if f.suffix.lower() == ".shp"}
        for f in files:
            suffix = f.suffix.lower()
            if f.name.endswith(".columns.csv") or (suffix == ".dbf" and f.stem in shapefiles):
                continue  # shapefile sidecars
            if suffix in VECTOR_SUFFIXES or suffix in TABLE_SUFFIXES:
                found.setdefault(f.stem, []).append(Part(f, None, f.name))
        return found
    if path.suffix.lower() == ".gpkg":
        try:
            names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
        except Exception as exc:  # pyogrio raises DataSourceError and friends
            raise InvalidFile(f"{path}: not a readable GeoPackage ({exc})") from exc
        return {name: [Part(path, name, f"{path.name}:{name}")] for name in names}
    if path.suffix.lower() in VECTOR_SUFFIXES:
        return {path.stem: [Part(path, None, path.name)]}
    raise InvalidFile(f"{path}: unsupported file type {path.suffix!r}; use .gpkg, .geojson or a folder")


def read_interchange(
    path: str | Path,
    crs: str | None = None,
    known_communities: gpd.GeoDataFrame | None = None,
    *,
    stored: Callable[[Wanted], Stored] | None = None,
    options: CheckOptions | None = None,
) -> Interchange:
    """Read and check every interchange layer of ``path``; raise InvalidFile listing every problem.

    ``crs`` overrides the CRS declared by the file (needed for GCJ-02/BD-09,
    which files cannot declare). ``stored`` fetches the stored features the
    file refers to (the import passes the database's); ``known_communities``
    is the older way to give just the stored communities.
    """
    options = options or CheckOptions()
    path = Path(path)
    sources = list_sources(path)
    layers: dict[str, list[Part]] = {}
    for name, parts in sources.items():
        layer = layer_of(name)
        if layer is None:
            log.info("ignoring %s: not an interchange layer", ", ".join(p.label for p in parts))
        else:
            layers.setdefault(layer, []).extend(parts)
    known = [name for name in (*IMPORT_ORDER, "party_orgs") if name in layers]
    if not known or known == ["party_orgs"]:
        raise InvalidFile(
            f"{path}: no interchange layer found (has {sorted(sources) or 'nothing'}; "
            f"expected some of {list(IMPORT_ORDER)})"
        )
    issues = IssueLog(cap=options.max_issues)
    result = Interchange(source=str(path))
    for name in known:
        if name == "party_orgs":
            result.layers[name] = pd.concat([_read_table(p, name, issues) for p in layers[name]], ignore_index=True)
            continue
        df = _read_layer(LAYERS[name], layers[name], crs, result.repairs, issues)
        if df is not None:
            result.layers[name] = df
    context = stored(wanted(result.layers)) if stored else Stored(
        {"communities": known_communities} if known_communities is not None else {})
    check_across(result.layers, context, options=options, log=issues)
    issues.raise_if_errors(str(path))
    result.warnings = issues.warnings
    result.omitted_warnings = issues.omitted(WARNING)
    return result


# ---------------------------------------------------------------- one layer


def _read_table(part: Part, name: str, issues: IssueLog) -> pd.DataFrame:
    """A layer without geometry, every cell as read (CSV: every cell as text, GBK or UTF-8)."""
    try:
        if part.file.suffix.lower() == ".csv":
            text = decode_csv(part.file.read_bytes(), source=part.label)
            df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        else:
            df = pd.DataFrame(pyogrio.read_dataframe(part.file, layer=part.layer, read_geometry=False))
    except (InvalidInput, ValueError, OSError, DataSourceError,
            DataLayerError) as exc:
        issues.add(Issue(name, "", "", "", f"{part.label} cannot be read ({getattr(exc, 'detail', exc)})",
                         kind="unreadable"))
        return pd.DataFrame()
    return _typed(long_names(df, read_sidecar(part.file)), part)


def _typed(df: pd.DataFrame, part: Part) -> pd.DataFrame:
    """Integer and boolean fields with empty cells come back as floats; give them their declared type."""
    if part.file.suffix.lower() == ".csv":
        return df
    try:
        info = pyogrio.read_info(part.file, layer=part.layer)
    except (DataSourceError, DataLayerError):
        return df
    renamed = long_names(pd.DataFrame(columns=list(info["fields"])), read_sidecar(part.file)).columns
    for col, dtype in zip(renamed, info["dtypes"]):
        if col in df.columns and df[col].dtype.kind == "f":
            if str(dtype).startswith("int"):
                df[col] = df[col].astype("Int64")
            elif dtype == "bool":
                df[col] = df[col].astype("boolean")
    return df


def _read_layer(spec: LayerSpec, parts: list[Part], crs: str | None, repairs: list[Repair],
                issues: IssueLog) -> pd.DataFrame | None:
    """All parts of one layer, read, moved to EPSG:4490 and checked; None when nothing could be read."""
    frames, origins = [], []
    for part in parts:
        df = _read_part(spec, part, crs, issues)
        if df is not None:
            frames.append(df)
            origins += [part.label] * len(df)
    if not frames:
        return None
    if len(frames) == 1:
        df = frames[0].reset_index(drop=True)
    else:
        df = pd.concat(frames, ignore_index=True)
        if spec.geometry:
            df = gpd.GeoDataFrame(df, geometry="geometry", crs=frames[0].crs)
    df = _check_values(spec, df, pd.Series(origins, index=df.index), issues)
    return _check_geometries(spec, df, repairs, issues) if spec.geometry else df


def _read_part(spec: LayerSpec, part: Part, crs: str | None, issues: IssueLog) -> pd.DataFrame | None:
    if not spec.geometry:
        df = _read_table(part, spec.name, issues)
        if df.empty and not len(df.columns):
            return None
    else:
        try:
            df = pyogrio.read_dataframe(part.file, layer=part.layer)
        except (DataSourceError, DataLayerError, ValueError, OSError) as exc:
            issues.add(Issue(spec.name, "", "", "", f"{part.label} cannot be read ({exc})", kind="unreadable"))
            return None
        if not isinstance(df, gpd.GeoDataFrame):
            issues.add(Issue(spec.name, "", "geometry", "", f"{part.label} has no geometry column; "
                             f"expected {'/'.join(spec.geometry)}", kind="missing_column"))
            return None
        df = _typed(long_names(df, read_sidecar(part.file)), part)
    if spec.name == "staff":
        df = _staff_aliases(df)
    missing = [c for c in spec.required if c not in df.columns]
    if missing:
        have = [c for c in df.columns if c != "geometry"]
        issues.add(Issue(spec.name, "", ", ".join(missing), "",
                         f"{part.label} is missing required column(s) {missing}; has {have}", kind="missing_column"))
        return None
    if spec.geometry:
        try:
            df = to_storage(df, crs, name=part.label)
        except UnknownCRS as exc:
            raise UnknownCRS(f"layer {spec.name}: {exc.detail}") from exc
    return df


def _staff_aliases(df: pd.DataFrame) -> pd.DataFrame:
    """Chinese headers and role/agency names (姓名, 角色, 社区民警 ...) as the interchange names."""
    renamed = {c: column_name(c) for c in df.columns}
    targets = list(renamed.values())
    df = df.rename(columns={c: n for c, n in renamed.items() if targets.count(n) == 1})
    if "role" in df.columns:
        df["role"] = df["role"].map(lambda v: role_code(plain(v)))
    if "agency" in df.columns:
        df["agency"] = df["agency"].map(lambda v: agency_code(plain(v)) or None)
    return df


# ---------------------------------------------------------------- values


def _check_values(spec: LayerSpec, df: pd.DataFrame, origins: pd.Series, issues: IssueLog) -> pd.DataFrame:
    df = df.copy()
    ids = feature_ids(spec.name, df)
    layer = spec.name
    for col in spec.required:
        if col in OPTIONAL_VALUES:
            continue
        empty = df[col].map(plain) == ""
        for fid in ids[empty]:
            issues.add(Issue(layer, fid, col, "", "is empty", kind="empty"))
    if spec.key:
        _check_unique(spec, df, ids, origins, issues)
    for (name, col), digits in CODE_PATTERNS.items():
        if name == layer:
            df[col] = df[col].map(plain)
            bad = (df[col] != "") & ~df[col].str.fullmatch(rf"\d{{{digits}}}")
            for fid, value in zip(ids[bad], df[col][bad]):
                issues.add(Issue(layer, fid, col, value, f"{quoted(value)} is not a {digits}-digit code",
                                 kind="pattern"))
    if "households" in spec.required:
        df["households"] = _whole_numbers(layer, df, ids, "households", issues)
    for name, col, allowed in (("communities", "kind", COMMUNITY_KINDS), ("barriers", "kind", BARRIER_KINDS),
                               ("staff", "role", ROLES)):
        _check_choice(layer, df, ids, issues, name=name, col=col, allowed=allowed)
    if layer == "staff":
        df["phone_public"] = [_as_bool(v, fid, issues) for v, fid in zip(df["phone_public"], ids)]
    for col in ("id", "compound_id", "building_id"):
        if col in df.columns:
            df[col] = df[col].map(lambda v: plain(v) or None)
    return df


def _check_unique(spec: LayerSpec, df: pd.DataFrame, ids: pd.Series, origins: pd.Series, issues: IssueLog) -> None:
    keys = df[spec.key].map(plain)
    dup = (keys != "") & keys.duplicated(keep=False)
    for key, where in origins[dup].groupby(keys[dup], sort=False):
        files = sorted(set(where))
        place = (f"in {' and '.join(files)}" if len(files) > 1
                 else f"{len(where)} times in {files[0]}")
        issues.add(Issue(spec.name, key, spec.key, key, f"{spec.key} {quoted(key)} appears {place}",
                         kind="duplicate"))


def _whole_numbers(layer: str, df: pd.DataFrame, ids: pd.Series, col: str, issues: IssueLog) -> pd.Series:
    values = pd.to_numeric(df[col].map(lambda v: plain(v) or None), errors="coerce")
    bad = values.isna() | (values < 0) | (values != values.round())
    for fid, raw in zip(ids[bad], df[col][bad]):
        issues.add(Issue(layer, fid, col, plain(raw), f"{quoted(raw)} is not a whole number >= 0", kind="number"))
    return df[col] if bad.any() else values.astype("int64")


def _check_choice(layer: str, df: pd.DataFrame, ids: pd.Series, issues: IssueLog, *, name: str, col: str,
                  allowed: tuple[str, ...]) -> None:
    if layer != name:
        return
    bad = ~df[col].isin(allowed)
    words = allowed_roles() if col == "role" else ", ".join(allowed)
    for fid, value in zip(ids[bad], df[col][bad]):
        issues.add(Issue(layer, fid, col, plain(value), f"{quoted(value)} is not one of: {words}", kind="choice"))


def _as_bool(value: object, fid: str, issues: IssueLog) -> bool:
    text = plain(value).lower()
    if text in TRUTHY:
        return True
    if text not in FALSY:
        issues.add(Issue("staff", fid, "phone_public", plain(value),
                         f"{quoted(value)} is not a yes/no value (true/false, 是/否)", kind="boolean"))
    return False


# ---------------------------------------------------------------- geometries


def _check_geometries(spec: LayerSpec, gdf: gpd.GeoDataFrame, repairs: list[Repair],
                      issues: IssueLog) -> gpd.GeoDataFrame:
    """Repair what is safely repairable, report the rest; promote to Multi where the layer is multi."""
    ids = feature_ids(spec.name, gdf)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    fixed = geoms.copy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for i in np.flatnonzero(missing):
        issues.add(Issue(spec.name, ids.iloc[i], "geometry", "", "has no geometry", kind="geometry"))
        fixed[i] = None
    invalid = ~missing & ~shapely.is_valid(geoms)
    for i in np.flatnonzero(invalid):
        fixed[i] = _repair(spec, ids.iloc[i], geoms[i], repairs, issues)
    fixed = _normalised(spec, fixed)
    allowed = set(spec.geometry) | _multi_of(spec)
    kinds = np.array([g.geom_type if g is not None else "" for g in fixed])
    for i in np.flatnonzero((kinds != "") & ~np.isin(kinds, list(allowed))):
        issues.add(Issue(spec.name, ids.iloc[i], "geometry", kinds[i],
                         f"is a {kinds[i]}; expected {'/'.join(spec.geometry)}", kind="geometry"))
    out = gdf.copy()
    out.geometry = gpd.GeoSeries(fixed, index=gdf.index, crs=gdf.crs)
    return out


def _multi_of(spec: LayerSpec) -> set[str]:
    polygonal = set(spec.geometry) <= {"Polygon", "MultiPolygon"}
    return {"MultiPolygon"} if polygonal else set()


def _normalised(spec: LayerSpec, geoms: np.ndarray) -> np.ndarray:
    """Polygonal layers and barriers are stored as Multi geometries, so that a layer can be written
    for QGIS with a single geometry type and read back unchanged."""
    out = geoms.copy()
    present = np.array([g is not None for g in geoms], dtype=bool)
    multi = bool(_multi_of(spec)) or spec.name == "barriers"
    if multi:
        for i in np.flatnonzero(present):
            g = out[i]
            if g.geom_type == "Polygon":
                out[i] = shapely.MultiPolygon([g])
            elif g.geom_type == "LineString":
                out[i] = shapely.MultiLineString([g])
    return out


def _repair(spec: LayerSpec, fid: str, geom: shapely.Geometry, repairs: list[Repair],
            issues: IssueLog) -> shapely.Geometry | None:
    """make_valid, accepted only when a polygon keeps its area (a bow-tie or a collapsed ring does not)."""
    reason = shapely.is_valid_reason(geom)
    repaired = shapely.make_valid(geom)
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        repaired = _polygonal_part(repaired)
        drawn = _shoelace_area(geom)
        if repaired is None or drawn == 0 or abs(repaired.area - drawn) / drawn > SAFE_REPAIR_AREA_SHARE:
            issues.add(Issue(spec.name, fid, "geometry", "",
                             f"has an invalid geometry ({reason}) that cannot be repaired safely (a repair "
                             f"would change its area by more than {SAFE_REPAIR_AREA_SHARE:.0%})", kind="geometry"))
            return None
    if repaired is None or repaired.is_empty or not repaired.is_valid:
        issues.add(Issue(spec.name, fid, "geometry", "", f"has an invalid geometry ({reason})", kind="geometry"))
        return None
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
