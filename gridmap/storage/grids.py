"""Write partition results as draft plans; read a plan's grids and members back."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict

import geopandas as gpd
import pandas as pd
import shapely
from geoalchemy2 import functions as gfunc
from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from gridmap.domain import STORAGE_EPSG
from gridmap.errors import InvalidFile, PlanError
from gridmap.storage.export import read_layer
from gridmap.storage.plans import cover_communities, ensure_plan, plan_status
from gridmap.storage.query import bulk_insert, jsonb, read_frame, read_geoframe
from gridmap.storage.schema import barrier, building, community, compound, grid, grid_member, plan as plan_table

#: Columns that put a community in a district, street or community scope.
SCOPE_COLUMN = {"district": func.left(community.c.code, 6), "street": community.c.street_code,
                "community": community.c.code}


def write_plan(
    conn: Connection,
    plan: str,
    grids: gpd.GeoDataFrame,
    members: pd.DataFrame,
    communities: list[str],
    report: dict,
    *,
    params: dict | None = None,
) -> int:
    """Replace the grids of ``communities`` in draft ``plan`` with ``grids``; returns grids written.

    The plan then covers ``communities`` (publishing replaces exactly the communities a plan
    covers). The report's per-community lists (``violations``, ``communities``) keep the
    entries of the plan's other communities. Runs in a savepoint: a failure leaves the plan
    as it was.
    """
    with conn.begin_nested():
        ensure_plan(conn, plan, params=params)
        conn.execute(delete(grid).where((grid.c.plan == plan) & grid.c.community_code.in_(list(communities))))
        _insert_grids(conn, plan, grids)
        _insert_members(conn, plan, members)
        cover_communities(conn, plan, list(communities))
        p = plan_table.c
        stored = conn.execute(select(p.report).where(p.name == plan)).scalar() or {}
        conn.execute(update(plan_table).where(p.name == plan)
                     .values(report=jsonb(merge_report(stored, report, communities=communities)),
                             params=p.params.op("||")(jsonb(params or {}))))
        _log_rewrite(conn, plan, grids=len(grids), communities=len(communities),
                     source=(params or {}).get("source") or "partition")
    return len(grids)


def _log_rewrite(conn: Connection, plan: str, *, grids: int, communities: int, source: str) -> None:
    """A new version and a log row: editors holding the old ETag get 412, a review is cleared,
    and undo stops here (the grids it would restore were rewritten)."""
    from gridmap.storage.edits import plan_version, record

    version, _ = plan_version(conn, plan)
    record(conn, plan, version=version, op="rewrite", payload={"source": source, "grids": grids,
                                                               "communities": communities},
           inverse={}, author=f"gridmap {source}", reason=None)


#: Report entries that belong to one community each (``community_code``).
PER_COMMUNITY = ("violations", "communities")


def merge_report(stored: dict, new: dict, *, communities: list[str]) -> dict:
    """``new`` over ``stored``; per-community lists keep the entries of other communities."""
    inside = set(communities)
    out = {**stored, **new}
    for key in PER_COMMUNITY:
        if key in new:
            kept = [e for e in stored.get(key) or [] if e.get("community_code") not in inside]
            out[key] = kept + list(new[key] or [])
    return out


def _insert_grids(conn: Connection, plan: str, grids: gpd.GeoDataFrame) -> None:
    if grids.empty:
        return
    wkb = shapely.to_wkb(grids.geometry.values, hex=True, output_dimension=2)
    attrs = grids["attrs"] if "attrs" in grids else [{}] * len(grids)
    values = [(plan, r.code, r.name, r.community_code, int(r.households), json.dumps(a or {}, ensure_ascii=False), w)
              for r, a, w in zip(grids.itertuples(), attrs, wkb)]
    geom = f"ST_Multi(ST_SetSRID(ST_GeomFromWKB(decode(%s, 'hex')), {STORAGE_EPSG}))"
    # The statement-level trigger of migration 0003 subdivides each page of grids in one query.
    bulk_insert(conn, grid, ("plan", "code", "name", "community_code", "households", "attrs", "geom"), values,
                template=f"(%s, %s, %s, %s, %s, CAST(%s AS jsonb), {geom})", page_size=1000)


def _insert_members(conn: Connection, plan: str, members: pd.DataFrame) -> None:
    if members.empty:
        return
    values = [(plan, r.grid_code, r.compound_id, _none(r.building_id), int(r.households))
              for r in members.itertuples()]
    bulk_insert(conn, grid_member, ("plan", "grid_code", "compound_id", "building_id", "households"), values,
                page_size=5000)


def _none(value: object) -> object:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) or value == "" else value


def read_grids(conn: Connection, plan: str, *, community_codes: list[str] | None = None) -> gpd.GeoDataFrame:
    """Grids of ``plan`` (optionally of some communities) as a GeoDataFrame."""
    where = grid.c.plan == plan
    if community_codes is not None:
        where = where & grid.c.community_code.in_(list(community_codes))
    return read_layer(conn, "grids", where=where)


def read_members(conn: Connection, plan: str) -> pd.DataFrame:
    m = grid_member.c
    return read_frame(conn, select(m.grid_code, m.compound_id, m.building_id, m.households)
                      .where(m.plan == plan).order_by(m.grid_code, m.compound_id, m.building_id))


def partition_inputs(conn: Connection, scope: str, code: str) -> dict[str, gpd.GeoDataFrame]:
    """Communities, compounds, buildings and barriers of a district, street or community."""
    return _inputs(conn, SCOPE_COLUMN[scope] == code)


def _inputs(conn: Connection, in_scope: ColumnElement[bool], *, barriers: bool = True) -> dict[str, gpd.GeoDataFrame]:
    c, k, b = community.c, compound.c, building.c
    communities = read_geoframe(conn, select(
        c.code, func.coalesce(c.attrs["short_name"].astext, c.name).label("name"), c.kind, c.street_code,
        c.geom.label("geometry")).where(in_scope).order_by(c.code))
    compounds = read_geoframe(conn, select(
        k.id, k.name, k.community_code, k.households, k.geom.label("geometry"))
        .join_from(compound, community, c.code == k.community_code).where(in_scope).order_by(k.id))
    buildings = read_geoframe(conn, select(
        b.id, b.compound_id, b.households, b.geom.label("geometry"))
        .join_from(building, compound, k.id == b.compound_id).join(community, c.code == k.community_code)
        .where(in_scope).order_by(b.id))
    out = {"communities": communities, "compounds": compounds, "buildings": buildings}
    if barriers:
        area = select(gfunc.ST_Union(c.geom)).where(in_scope).scalar_subquery()
        # In id order: the engine's result depends on the barriers' order, which must not change between imports.
        out["barriers"] = read_geoframe(conn, select(barrier.c.kind, barrier.c["class"],
                                                     barrier.c.geom.label("geometry"))
                                        .where(gfunc.ST_Intersects(barrier.c.geom, area)).order_by(barrier.c.id))
    return out


def write_drawn_plan(conn: Connection, plan: str, grids: gpd.GeoDataFrame, *, source: str,
                     on_moves: Callable | None = None) -> dict:
    """Grids drawn elsewhere (an import file's grids layer) as draft ``plan``: members derived from
    geometry, checked by the engine's rules, stored with a report like a partition's.

    Replaces the plan's grids of the communities the layer covers; refused (PlanError) for a
    published or retired plan. Returns the summary and the violation counts. Into an existing
    draft whose grid codes stay the same, a pure membership change is handed to ``on_moves``
    (``on_moves(conn, plan, moves=..., geoms=...)``, see :func:`membership_moves`) instead of
    rewriting the grids, so that it is logged as one ``move`` per moved compound.
    """
    from gridmap.partition.drawn import check_drawn
    from gridmap.partition.rules import DEFAULT_RULES
    from gridmap.publishing import unproved

    codes = sorted(set(grids["community_code"].astype(str)))
    inputs = _inputs(conn, community.c.code.in_(codes), barriers=False)
    unknown = sorted(set(codes) - set(inputs["communities"]["code"]))
    if unknown:
        raise InvalidFile(f"{source}: layer grids names communities that are not stored: {unknown[:10]}; "
                          "import the communities layer first")
    drawn = check_drawn(inputs["communities"], inputs["compounds"], inputs["buildings"], grids,
                        rules=DEFAULT_RULES)
    result = drawn.result
    status = plan_status(conn, plan)
    if status is not None and _unchanged(conn, plan, result.grids, result.members, communities=codes):
        return {"plan": plan, "grids": 0, "unchanged": len(grids), "communities": len(codes), "members": 0,
                "violations": 0, "unproved": 0, "notes": 0}
    if status in ("published", "retired"):
        raise PlanError(f"{source}: layer grids is plan {plan!r}, which is {status}: a grids layer only ever "
                        f"writes a draft; import it as a new one (gridmap import FILE --plan NAME)")
    if status == "draft" and on_moves is not None:
        found = membership_moves(conn, plan, result.grids, result.members, communities=codes)
        if found is not None:
            answer = on_moves(conn, plan, moves=found["moves"], geoms=found["geoms"])
            return {"plan": plan, "grids": 0, "unchanged": len(grids) - len(found["geoms"]),
                    "communities": len(codes), "members": 0, "violations": answer.get("violations", 0),
                    "unproved": 0, "notes": len(drawn.notes), "moves": answer.get("moves", [])}
    violations = [asdict(v) for v in result.violations]
    report = {"summary": result.summary(), "base_plan": None, "source": "import", "file": source,
              "communities": json.loads(result.community_report.to_json(orient="records", force_ascii=False)),
              "violations": violations, "notes": drawn.notes}
    params = {"source": "import", "file": source, "rules": {k: asdict(v) for k, v in DEFAULT_RULES.items()}}
    write_plan(conn, plan, result.grids, result.members, codes, report, params=params)
    return {"plan": plan, "grids": len(result.grids), "unchanged": 0, "communities": len(codes),
            "members": len(result.members), "violations": len(violations), "unproved": len(unproved(violations)),
            "notes": len(drawn.notes)}


def membership_moves(conn: Connection, plan: str, grids: gpd.GeoDataFrame, members: pd.DataFrame, *,
                     communities: list[str]) -> dict | None:
    """The moves that turn the plan's grids of ``communities`` into checked ``grids``/``members``,
    or None when it is not a pure membership change (codes added or removed, a compound gained or
    lost, nothing moved, or a grid no move touches reshaped).

    ``moves``: one per compound and target grid, ``{"compound_id", "buildings" (building ids of a
    split compound's member rows, else []), "units" ([compound_id, building_id] pairs), "from"
    (grid codes), "to", "households"}``; ``geoms``: the imported polygon of every grid a move touches.
    """
    stored = read_grids(conn, plan, community_codes=communities)
    if set(stored["code"]) != set(grids["code"].astype(str)):
        return None
    held = read_members(conn, plan)
    held = held[held["grid_code"].str[:12].isin(communities)]

    def keyed(df: pd.DataFrame) -> dict:
        return {(str(r.compound_id), None if r.building_id is None or r.building_id != r.building_id
                 else str(r.building_id)): (str(r.grid_code), int(r.households))
                for r in df.itertuples(index=False)}

    was, now = keyed(held), keyed(members)
    if set(was) != set(now):
        return None
    groups: dict[tuple[str, str], dict] = {}
    for unit in sorted(k for k in now if now[k][0] != was[k][0]):
        to = now[unit][0]
        g = groups.setdefault((unit[0], to), {"compound_id": unit[0], "buildings": [], "units": [], "from": set(),
                                              "to": to, "households": 0})
        g["units"].append(list(unit))
        g["from"].add(was[unit][0])
        g["households"] += was[unit][1]
        if unit[1] is not None:
            g["buildings"].append(unit[1])
    if not groups:
        return None
    moves = [{**g, "from": sorted(g["from"])} for g in groups.values()]
    touched = {c for m in moves for c in [m["to"], *m["from"]]}
    mine = stored.set_index("code").geometry
    theirs = grids.assign(code=grids["code"].astype(str)).set_index("code").geometry
    for code in sorted(set(mine.index) - touched):
        a, b = shapely.normalize(mine[code]), shapely.normalize(_as_multi(theirs[code]))
        if not shapely.equals_exact(a, b, tolerance=1e-9):
            return None
    return {"moves": moves, "geoms": {c: _as_multi(theirs[c]) for c in sorted(touched)}}


def _as_multi(g):
    g = shapely.force_2d(g)
    return shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g


def _unchanged(conn: Connection, plan: str, grids: gpd.GeoDataFrame, members: pd.DataFrame, *,
               communities: list[str]) -> bool:
    """Whether checked ``grids`` and their ``members`` are exactly the plan's of ``communities``
    (codes, names, households, members and polygons, ring order and orientation aside): then
    re-importing an export changes nothing."""
    stored = read_grids(conn, plan, community_codes=communities)
    if len(stored) != len(grids) or set(stored["code"]) != set(grids["code"].astype(str)):
        return False
    held = read_members(conn, plan)
    held = held[held["grid_code"].str[:12].isin(communities)]
    key = ["grid_code", "compound_id", "building_id", "households"]
    if set(map(tuple, held[key].astype(object).where(held[key].notna(), None).values)) != \
            set(map(tuple, members[key].astype(object).where(members[key].notna(), None).values)):
        return False
    mine = stored.set_index("code")
    theirs = grids.assign(code=grids["code"].astype(str)).set_index("code").loc[mine.index]
    same = (mine["name"] == theirs["name"].astype(str)) & \
        (mine["households"].astype("int64") == pd.to_numeric(theirs["households"], errors="coerce"))
    multi = [shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g
             for g in shapely.force_2d(theirs.geometry.values)]
    shapes = shapely.equals_exact(shapely.normalize(mine.geometry.values), shapely.normalize(multi), tolerance=1e-9)
    return bool(same.all() and shapes.all())
