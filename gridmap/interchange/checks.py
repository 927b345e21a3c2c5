"""Checks across the layers of an import file and what is already stored (pure).

不重不漏 starts at the community layer: communities must not overlap each
other or leave their street; compounds must lie in their community; a
building outside its own compound is accepted within a tolerance (with a
warning naming it and its distance) and refused beyond it; an address must
not point at another compound's building nor lie far from its building or
compound; every reference must name a feature of the file or the database.
Areas and distances are measured in the metric CRS of :mod:`gridmap.crs`.

The database is reached through an injected callable: :func:`wanted` says
which stored features a file refers to, the caller fetches them as a
:class:`Stored`, and :func:`check_across` appends :class:`Issue` records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.errors import GEOSException

from gridmap.crs import metric_crs
from gridmap.domain import STORAGE_EPSG
from gridmap.interchange.layers import LAYERS
from gridmap.interchange.issues import DEFAULT_CAP, ERROR, WARNING, Issue, IssueLog, plain

#: Share of a compound's area that must lie inside its community (less is refused).
COMPOUND_INSIDE_SHARE = 0.95
#: Reprojection noise: a point on a boundary may come out this far off it.
EPSILON_M = 0.01


@dataclass(frozen=True)
class CheckOptions:
    """Tolerances of the cross-layer checks (the CLI fills them from Settings)."""

    building_tolerance_m: float = 150.0  # a building (or address) this far outside its compound is accepted
    boundary_tolerance_m2: float = 1.0  # overlap of communities, or a community outside its street
    strict: bool = False  # refuse every building outside its compound (and make every warning an error)
    max_issues: int = DEFAULT_CAP  # issues listed per severity; the rest are counted


@dataclass(frozen=True)
class Reference:
    """``layer.column`` names a feature of ``target`` by its key."""

    layer: str
    column: str
    target: str


REFERENCES = (
    Reference("streets", "district_code", "districts"),
    Reference("communities", "street_code", "streets"),
    Reference("compounds", "community_code", "communities"),
    Reference("buildings", "compound_id", "compounds"),
    Reference("addresses", "compound_id", "compounds"),
    Reference("addresses", "building_id", "buildings"),
    Reference("service_points", "community_code", "communities"),
    Reference("staff", "community_code", "communities"),
    Reference("staff", "street_code", "streets"),
    Reference("grids", "community_code", "communities"),
)
#: What the checks read of a stored feature: its key first, then its parent; geometry where it has one.
CONTEXT_COLUMNS = {
    "districts": ("code",),
    "streets": ("code", "district_code"),
    "communities": ("code", "street_code"),
    "compounds": ("id", "community_code"),
    "buildings": ("id", "compound_id"),
}
SINGULAR = {"districts": "district", "streets": "street", "communities": "community", "compounds": "compound",
            "buildings": "building"}


@dataclass(frozen=True)
class Wanted:
    """The stored features a file needs for its checks."""

    keys: dict[str, frozenset[str]]  # layer -> keys the file refers to but does not hold
    extent: tuple[float, float, float, float] | None  # EPSG:4490 bounds of the file's communities


@dataclass(frozen=True)
class Stored:
    """Stored features (CONTEXT_COLUMNS + geometry in EPSG:4490): those wanted and the communities near the file's."""

    layers: dict[str, pd.DataFrame] = field(default_factory=dict)


def wanted(layers: dict[str, pd.DataFrame]) -> Wanted:
    """Which stored features the checks of ``layers`` need."""
    keys: dict[str, set[str]] = {}
    for ref in REFERENCES:
        df = layers.get(ref.layer)
        if df is None or ref.column not in df.columns:
            continue
        names = {plain(v) for v in df[ref.column]} - {""}
        held = _keys(layers.get(ref.target), ref.target)
        keys.setdefault(ref.target, set()).update(names - held)
    communities = layers.get("communities")
    extent = None
    if isinstance(communities, gpd.GeoDataFrame) and communities.geometry.notna().any():
        extent = tuple(float(v) for v in communities.geometry.dropna().total_bounds)
    return Wanted({k: frozenset(v) for k, v in keys.items() if v}, extent)


def _keys(df: pd.DataFrame | None, layer: str) -> set[str]:
    if df is None:
        return set()
    key = CONTEXT_COLUMNS[layer][0]
    return {plain(v) for v in df[key]} - {""} if key in df.columns else set()


def check_across(layers: dict[str, pd.DataFrame], stored: Stored, *, options: CheckOptions, log: IssueLog) -> None:
    """Append every cross-layer problem of ``layers`` (checked one by one already) to ``log``."""
    pools = {name: _Pool.of(name, layers.get(name), stored.layers.get(name)) for name in CONTEXT_COLUMNS}
    found: list[Issue] = []
    found += _references(layers, pools)
    metric = _metric_crs(layers)
    if metric is not None:
        for pool in pools.values():
            pool.project(metric)
        found += _communities(layers, pools, metric, options)
        found += _compounds(layers, pools, metric, options)
        found += _buildings(layers, pools, metric, options)
        found += _addresses(layers, pools, metric, options)
    told = {(i.layer, i.feature, i.column) for i in log.issues}  # one problem per cell: a bad code is not also unknown
    for issue in found:
        if issue.kind == "reference" and (issue.layer, issue.feature, issue.column) in told:
            continue
        if options.strict and issue.severity == WARNING:
            issue = Issue(issue.layer, issue.feature, issue.column, issue.value,
                          issue.problem + " (refused: --strict)", ERROR, issue.kind)
        log.add(issue)


@dataclass
class _Pool:
    """The features of one layer that references can name: the file's, then stored ones it does not replace."""

    frame: pd.DataFrame  # indexed by key; geometry (EPSG:4490) or None
    metric: np.ndarray | None = None  # geometries in the metric CRS, aligned with frame

    @classmethod
    def of(cls, layer: str, mine: pd.DataFrame | None, stored: pd.DataFrame | None) -> _Pool:
        cols = CONTEXT_COLUMNS[layer]
        parts = []
        for df in (mine, stored):
            if df is None or cols[0] not in df.columns:
                continue
            part = pd.DataFrame({c: (df[c].map(plain) if c in df.columns else "") for c in cols})
            part["geometry"] = df.geometry.values if isinstance(df, gpd.GeoDataFrame) else None
            part["stored"] = df is stored
            parts.append(part[part[cols[0]] != ""])
        if not parts:
            return cls(pd.DataFrame(columns=[*cols[1:], "geometry", "stored"], index=pd.Index([], name=cols[0])))
        frame = pd.concat(parts, ignore_index=True)
        # a key the file holds twice is an error of its own; what it stands for is unknown, so it is not checked
        twice = frame[~frame["stored"]].loc[lambda f: f[cols[0]].duplicated(), cols[0]]
        frame = frame.drop_duplicates(cols[0], keep="first").set_index(cols[0])
        frame.loc[frame.index.isin(twice), [*cols[1:], "geometry"]] = None
        for col in cols[1:]:
            frame[col] = frame[col].fillna("")
        return cls(frame)

    def project(self, metric: str) -> None:
        geoms = gpd.GeoSeries(self.frame["geometry"].values, crs=STORAGE_EPSG)
        self.metric = np.asarray(geoms.to_crs(metric).values, dtype=object)

    def geometry_of(self, keys: pd.Series) -> np.ndarray:
        """Metric geometries of ``keys`` (None where unknown or without geometry)."""
        pos = self.frame.index.get_indexer(keys)
        out = np.full(len(keys), None, dtype=object)
        out[pos >= 0] = self.metric[pos[pos >= 0]]
        return out


def _references(layers: dict[str, pd.DataFrame], pools: dict[str, _Pool]) -> list[Issue]:
    out = []
    for ref in REFERENCES:
        df = layers.get(ref.layer)
        if df is None or ref.column not in df.columns:
            continue
        values = df[ref.column].map(plain)
        bad = (values != "") & ~values.isin(pools[ref.target].frame.index)
        ids = feature_ids(ref.layer, df)
        what = SINGULAR[ref.target]
        for fid, value in zip(ids[bad], values[bad]):
            out.append(Issue(ref.layer, fid, ref.column, value,
                             f"names {what} {value}, which is in neither the file nor the database "
                             f"(add it to the file's {ref.target} layer or import it first)", kind="reference"))
    return out


def feature_ids(layer: str, df: pd.DataFrame) -> pd.Series:
    """How messages name each feature: its key, or '#n' (1-based position) when it has none."""
    spec = LAYERS.get(layer)
    key = spec.key if spec else None
    numbers = pd.Series([f"#{i + 1}" for i in range(len(df))], index=df.index)
    if not key or key not in df.columns:
        return numbers
    ids = df[key].map(plain)
    return ids.where(ids != "", numbers)


def _metric_crs(layers: dict[str, pd.DataFrame]) -> str | None:
    bounds = [df.geometry.dropna().total_bounds for df in layers.values()
              if isinstance(df, gpd.GeoDataFrame) and df.geometry.notna().any()]
    if not bounds:
        return None
    box = np.array(bounds)
    return metric_crs(float((np.nanmin(box[:, 0]) + np.nanmax(box[:, 2])) / 2))


def _metric(df: gpd.GeoDataFrame, metric: str) -> np.ndarray:
    return np.asarray(gpd.GeoSeries(df.geometry.values, crs=STORAGE_EPSG).to_crs(metric).values, dtype=object)


def _overlay_area(op, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Area of ``op(a, b)`` per pair; a pair that reprojection made invalid is repaired first."""
    try:
        return shapely.area(op(a, b))
    except GEOSException:
        return np.array([shapely.area(op(shapely.make_valid(x), shapely.make_valid(y))) for x, y in zip(a, b)])


def _m2(area: float) -> str:
    return f"{area:,.1f} m²" if area < 100 else f"{area:,.0f} m²"


def _m(distance: float) -> str:
    return f"{distance:.1f} m" if distance < 10 else f"{distance:,.0f} m"


def _communities(layers, pools, metric, options) -> list[Issue]:
    df = layers.get("communities")
    if df is None or not isinstance(df, gpd.GeoDataFrame) or "code" not in df.columns:
        return []
    tol = options.boundary_tolerance_m2
    codes = df["code"].map(plain).to_numpy()
    geoms = _metric(df, metric)
    out = []
    streets = pools["streets"].geometry_of(df["street_code"].map(plain)) if "street_code" in df.columns else None
    if streets is not None:
        has = ~(shapely.is_missing(geoms) | shapely.is_missing(streets))
        outside = np.zeros(len(df))
        outside[has] = _overlay_area(shapely.difference, geoms[has], streets[has])
        for i in np.flatnonzero(outside > tol):
            street = plain(df["street_code"].iloc[i])
            out.append(Issue("communities", codes[i], "geometry", "",
                             f"reaches {_m2(outside[i])} outside its street {street} (tolerance {tol:g} m²)",
                             kind="outside"))
    pool = pools["communities"]
    others = pool.metric
    valid = ~shapely.is_missing(others)
    tree = shapely.STRtree(np.where(valid, others, shapely.Point()))
    mine, theirs = tree.query(np.where(shapely.is_missing(geoms), shapely.Point(), geoms), predicate="intersects")
    other_codes = pool.frame.index.to_numpy()
    from_file = ~pool.frame["stored"].to_numpy(dtype=bool)
    pairs, seen = [], set()
    for i, j in zip(mine, theirs):
        a, b = codes[i], other_codes[j]
        if a == b or (from_file[j] and (b, a) in seen):
            continue
        seen.add((a, b))
        pairs.append((i, j))
    if pairs:
        left, right = np.array(pairs).T
        areas = _overlay_area(shapely.intersection, geoms[left], others[right])
        for i, j, area in zip(left, right, areas):
            if area > tol:
                where = "stored " if not from_file[j] else ""
                out.append(Issue("communities", codes[i], "geometry", "",
                                 f"overlaps {where}community {other_codes[j]} by {_m2(area)} "
                                 f"(tolerance {tol:g} m²)", kind="overlap"))
    return out


def _compounds(layers, pools, metric, options) -> list[Issue]:
    df = layers.get("compounds")
    if df is None or not isinstance(df, gpd.GeoDataFrame) or "community_code" not in df.columns:
        return []
    geoms = _metric(df, metric)
    target = pools["communities"].geometry_of(df["community_code"].map(plain))
    has = ~(shapely.is_missing(geoms) | shapely.is_missing(target))
    area = np.zeros(len(df))
    inside = np.zeros(len(df))
    area[has] = shapely.area(geoms[has])
    inside[has] = _overlay_area(shapely.intersection, geoms[has], target[has])
    outside = area - inside
    share = np.divide(inside, area, out=np.ones_like(area), where=area > 0)
    ids = feature_ids("compounds", df)
    out = []
    for i in np.flatnonzero(has & (outside > options.boundary_tolerance_m2)):
        code = plain(df["community_code"].iloc[i])
        if share[i] < COMPOUND_INSIDE_SHARE:
            out.append(Issue("compounds", ids.iloc[i], "geometry", "",
                             f"lies outside its community {code}: only {share[i]:.0%} of its area is inside "
                             f"(at least {COMPOUND_INSIDE_SHARE:.0%} required)", kind="outside"))
        else:
            out.append(Issue("compounds", ids.iloc[i], "geometry", "",
                             f"crosses the boundary of its community {code}: {_m2(outside[i])} "
                             f"({1 - share[i]:.1%}) lie outside", WARNING, kind="outside"))
    return out


def _buildings(layers, pools, metric, options) -> list[Issue]:
    df = layers.get("buildings")
    if df is None or not isinstance(df, gpd.GeoDataFrame) or "compound_id" not in df.columns:
        return []
    compound_ids = df["compound_id"].map(plain)
    target = pools["compounds"].geometry_of(compound_ids)
    geoms = _metric(df, metric)
    has = ~(shapely.is_missing(geoms) | shapely.is_missing(target))
    points = np.full(len(df), None, dtype=object)
    points[has] = shapely.point_on_surface(geoms[has])
    distance = np.zeros(len(df))
    distance[has] = shapely.distance(points[has], target[has])
    off = np.flatnonzero(has & (distance > EPSILON_M))
    if not len(off):
        return []
    ids = feature_ids("buildings", df)
    where = _containing(points[off], pools["compounds"])
    tol = options.building_tolerance_m
    out = []
    for k, i in enumerate(off):
        cid, d = compound_ids.iloc[i], distance[i]
        lies_in = f"; it lies in compound {where[k]}" if where[k] else ""
        if d <= tol:
            out.append(Issue("buildings", ids.iloc[i], "compound_id", cid,
                             f"lies {_m(d)} outside its compound {cid} (tolerance {tol:g} m){lies_in}; "
                             f"kept as a member of {cid}", WARNING, kind="building_outside"))
        else:
            out.append(Issue("buildings", ids.iloc[i], "compound_id", cid,
                             f"lies {_m(d)} outside its compound {cid} (at most {tol:g} m allowed){lies_in}",
                             kind="building_outside"))
    return out


def _containing(points: np.ndarray, pool: _Pool) -> list[str]:
    """For each point, a compound whose polygon holds it ('' when none)."""
    valid = ~shapely.is_missing(pool.metric)
    tree = shapely.STRtree(np.where(valid, pool.metric, shapely.Point()))
    hit_point, hit_poly = tree.query(points, predicate="within")
    names = [""] * len(points)
    keys = pool.frame.index.to_numpy()
    for p, g in zip(hit_point, hit_poly):
        names[p] = names[p] or str(keys[g])
    return names


def _addresses(layers, pools, metric, options) -> list[Issue]:
    df = layers.get("addresses")
    if df is None or not isinstance(df, gpd.GeoDataFrame):
        return []
    ids = feature_ids("addresses", df)
    compound_ids = df["compound_id"].map(plain) if "compound_id" in df.columns else pd.Series("", index=df.index)
    building_ids = df["building_id"].map(plain) if "building_id" in df.columns else pd.Series("", index=df.index)
    buildings = pools["buildings"]
    owner = buildings.frame["compound_id"].reindex(building_ids).fillna("").to_numpy()
    out = []
    clash = (building_ids != "").to_numpy() & (compound_ids != "").to_numpy() & (owner != "") & \
        (owner != compound_ids.to_numpy())
    for i in np.flatnonzero(clash):
        out.append(Issue("addresses", ids.iloc[i], "building_id", building_ids.iloc[i],
                         f"building {building_ids.iloc[i]} belongs to compound {owner[i]}, not to the address's "
                         f"compound {compound_ids.iloc[i]}", kind="address_building"))
    geoms = _metric(df, metric)
    by_building = buildings.geometry_of(building_ids)
    by_compound = pools["compounds"].geometry_of(compound_ids)
    target = np.where(shapely.is_missing(by_building), by_compound, by_building)
    has = ~(shapely.is_missing(geoms) | shapely.is_missing(target))
    distance = np.zeros(len(df))
    distance[has] = shapely.distance(geoms[has], target[has])
    tol = options.building_tolerance_m
    for i in np.flatnonzero(has & (distance > tol)):
        what = (f"building {building_ids.iloc[i]}" if not shapely.is_missing(by_building[i])
                else f"compound {compound_ids.iloc[i]}")
        out.append(Issue("addresses", ids.iloc[i], "geometry", "",
                         f"lies {_m(distance[i])} from its {what} (at most {tol:g} m allowed)", kind="address_far"))
    return out
