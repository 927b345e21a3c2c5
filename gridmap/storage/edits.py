"""Plan edits in the database: the plan row under lock, snapshots of grids and memberships,
the append-only edit log, leases on grids, review states and copies of plans.

A change is a transition between two snapshots of the grids it touches (their rows and
memberships; a code absent from a snapshot is a grid that does not exist in it). The log row
holds the snapshot after (``payload.after``) and before (``inverse``), so undo and redo apply
one of them exactly. Everything runs in the caller's transaction.
"""

from __future__ import annotations

from datetime import timedelta

import shapely
from geoalchemy2 import functions as gfunc
from sqlalchemy import Connection, and_, delete, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql

from gridmap.errors import InvalidInput, Leased, NotFound, PlanError
from gridmap.storage.query import bulk_insert, geometry_from_hex, jsonb, rows
from gridmap.storage.schema import (building, community, compound, grid, grid_lease, grid_member, plan as plan_table,
                                    plan_community, plan_edit, staff_post)
from gridmap.versions import check_version

GRID_FIELDS = ("code", "name", "community_code", "households", "attrs")


# ---------------------------------------------------------------- the plan row


def lock_plan(conn: Connection, name: str, *, expected_version: int | None = None, draft: bool = True) -> dict:
    """The plan's row (name, status, version, review, params), locked until the transaction ends;
    NotFound, PlanError (not a draft) or StaleVersion (``expected_version`` is not the current one)."""
    p = plan_table.c
    row = conn.execute(select(p.name, p.status, p.version, p.review, p.params).where(p.name == name)
                       .with_for_update()).mappings().first()
    if row is None:
        raise NotFound(f"方案不存在 (plan {name!r} does not exist)")
    check_version(expected_version, row["version"], kind="plan")
    if draft and row["status"] != "draft":
        raise PlanError(f"方案 {name} 已{'发布' if row['status'] == 'published' else '停用'} (plan {name!r} is "
                        f"{row['status']}); copy it to a new draft: gridmap plan copy {name} NEW")
    return dict(row)


def plan_version(conn: Connection, name: str) -> tuple[int, str | None]:
    """(version, review) of a plan; NotFound when there is none."""
    p = plan_table.c
    row = conn.execute(select(p.version, p.review).where(p.name == name)).first()
    if row is None:
        raise NotFound(f"方案不存在 (plan {name!r} does not exist)")
    return int(row[0]), row[1]


def record(conn: Connection, plan: str, *, version: int, op: str, payload: dict, inverse: dict, author: str,
           reason: str | None, households_moved: int = 0, review: str | None = None) -> int:
    """Append the log row of version ``version + 1`` and make it the plan's version; an edit clears
    the review state (``review`` sets it for a review step). Returns the new version."""
    new = version + 1
    conn.execute(insert(plan_edit).values(plan=plan, version=new, op=op, payload=jsonb(payload),
                                          inverse=jsonb(inverse), author=author, reason=reason,
                                          households_moved=int(households_moved)))
    conn.execute(update(plan_table).where(plan_table.c.name == plan).values(version=new, review=review))
    return new


def edit_log(conn: Connection, plan: str, *, full: bool = False) -> list[dict]:
    """The plan's log, oldest first (without the snapshots unless ``full``)."""
    e = plan_edit.c
    cols = [e.version, e.op, e.author, e.reason, e.at, e.households_moved]
    summary = e.payload.op("-")(literal("after")).label("payload")
    query = select(*cols, e.payload if full else summary, *([e.inverse] if full else [])) \
        .where(e.plan == plan).order_by(e.version)
    return rows(conn, query)


def log_entry(conn: Connection, plan: str, version: int) -> dict:
    e = plan_edit.c
    row = conn.execute(select(e.version, e.op, e.payload, e.inverse, e.author).where(
        (e.plan == plan) & (e.version == version))).mappings().first()
    if row is None:
        raise NotFound(f"plan {plan!r} has no version {version} in its log")
    return dict(row)


def stack_ops(conn: Connection, plan: str) -> list[dict]:
    """(version, op, payload without snapshots) of every row: enough to replay the undo stack."""
    e = plan_edit.c
    return rows(conn, select(e.version, e.op, e.payload.op("-")(literal("after")).label("payload"))
                .where(e.plan == plan).order_by(e.version))


def set_version(conn: Connection, plan: str, version: int) -> None:
    conn.execute(update(plan_table).where(plan_table.c.name == plan).values(version=version))


def set_review_only(conn: Connection, plan: str, review: str | None) -> None:
    conn.execute(update(plan_table).where(plan_table.c.name == plan).values(review=review))


# ---------------------------------------------------------------- snapshots


def snapshot(conn: Connection, plan: str, codes: list[str]) -> dict:
    """The grids ``codes`` of ``plan`` (rows with WKB) and their members, as JSON-ready data."""
    g, m = grid.c, grid_member.c
    codes = sorted(set(codes))
    grids = [{**{f: r[f] for f in GRID_FIELDS}, "wkb": r["wkb"]} for r in conn.execute(
        select(*(g[f] for f in GRID_FIELDS), func.encode(gfunc.ST_AsBinary(g.geom), "hex").label("wkb"))
        .where((g.plan == plan) & g.code.in_(codes)).order_by(g.code)).mappings()]
    members = rows(conn, select(m.grid_code, m.compound_id, m.building_id, m.households)
                   .where((m.plan == plan) & m.grid_code.in_(codes))
                   .order_by(m.grid_code, m.compound_id, m.building_id))
    return {"codes": codes, "grids": grids, "members": members}


def apply_snapshot(conn: Connection, plan: str, snap: dict) -> None:
    """Make the grids ``snap['codes']`` of ``plan`` exactly as ``snap`` says: rows updated in place
    (their ids and posts kept), created or deleted; their memberships replaced."""
    g, m = grid.c, grid_member.c
    codes = list(snap["codes"])
    wanted = {r["code"]: r for r in snap["grids"]}
    existing = set(conn.execute(select(g.code).where((g.plan == plan) & g.code.in_(codes))).scalars())
    conn.execute(delete(grid_member).where((m.plan == plan) & m.grid_code.in_(codes)))
    gone = sorted(existing - set(wanted))
    if gone:
        conn.execute(delete(grid).where((g.plan == plan) & g.code.in_(gone)))
    for code, r in wanted.items():
        values = {"name": r["name"], "community_code": r["community_code"], "households": int(r["households"]),
                  "attrs": jsonb(r.get("attrs") or {}), "geom": gfunc.ST_Multi(geometry_from_hex(literal(r["wkb"])))}
        if code in existing:
            conn.execute(update(grid).where((g.plan == plan) & (g.code == code)).values(**values))
        else:
            conn.execute(insert(grid).values(plan=plan, code=code, **values))
    if snap["members"]:
        bulk_insert(conn, grid_member, ("plan", "grid_code", "compound_id", "building_id", "households"),
                    [(plan, x["grid_code"], x["compound_id"], x["building_id"], int(x["households"]))
                     for x in snap["members"]])


def grid_wkb(geom) -> str:
    return shapely.to_wkb(geom, hex=True, output_dimension=2)


# ---------------------------------------------------------------- what an edit reads


def units_of(conn: Connection, plan: str, *, compounds: list[str], buildings: list[str]) -> list[dict]:
    """The member rows of the named compounds (all of a split compound's) and buildings, with their
    compound's community; InvalidInput naming what is not in the plan."""
    m, k = grid_member.c, compound.c
    found = rows(conn, select(m.grid_code, m.compound_id, m.building_id, m.households, k.community_code)
                 .join_from(grid_member, compound, k.id == m.compound_id)
                 .where((m.plan == plan) & or_(m.compound_id.in_(compounds), m.building_id.in_(buildings)))
                 .order_by(m.compound_id, m.building_id))
    missing = sorted((set(compounds) - {r["compound_id"] for r in found})
                     | (set(buildings) - {r["building_id"] for r in found}))
    if missing:
        raise InvalidInput(f"不在方案中 (not in any grid of plan {plan!r}): {missing[:10]}; "
                           "name compounds with --compound ID and buildings of a split compound with --building ID")
    return found


def grid_rows(conn: Connection, plan: str, codes: list[str]) -> dict[str, dict]:
    """Code -> grid row with its shapely geometry (EPSG:4490)."""
    g = grid.c
    out = {}
    for r in conn.execute(select(*(g[f] for f in GRID_FIELDS), gfunc.ST_AsBinary(g.geom).label("wkb"))
                          .where((g.plan == plan) & g.code.in_(sorted(set(codes))))).mappings():
        out[r["code"]] = {**{f: r[f] for f in GRID_FIELDS}, "geom": shapely.from_wkb(bytes(r["wkb"]))}
    return out


def member_geometries(conn: Connection, plan: str, code: str) -> list[dict]:
    """The members of one grid with the geometry each stands for: its building for a building
    member, else its compound."""
    m, k, b = grid_member.c, compound.c, building.c
    geom = func.coalesce(gfunc.ST_AsBinary(b.geom), gfunc.ST_AsBinary(k.geom))
    query = (select(m.compound_id, m.building_id, m.households, geom.label("wkb"))
             .join_from(grid_member, compound, k.id == m.compound_id)
             .outerjoin(building, b.id == m.building_id)
             .where((m.plan == plan) & (m.grid_code == code)).order_by(m.compound_id, m.building_id))
    return [{**dict(r), "geom": shapely.from_wkb(bytes(r["wkb"]))} for r in conn.execute(query).mappings()]


def community_load(conn: Connection, plan: str, community_code: str) -> tuple[int, int, str]:
    """(households, grids, kind) of one community in a plan."""
    g, c = grid.c, community.c
    hh, n = conn.execute(select(func.coalesce(func.sum(g.households), 0), func.count())
                         .where((g.plan == plan) & (g.community_code == community_code))).one()
    kind = conn.execute(select(c.kind).where(c.code == community_code)).scalar() or "urban"
    return int(hh), int(n), kind


def community_codes(conn: Connection, plan: str, community_code: str) -> list[str]:
    return list(conn.execute(select(grid.c.code).where((grid.c.plan == plan)
                                                       & (grid.c.community_code == community_code))).scalars())


def used_codes(conn: Connection, community_code: str) -> set[str]:
    """Every grid code a community has had: in any plan, or in any plan's edit log (retired codes
    are never given out again)."""
    from sqlalchemy import String, cast as sql_cast

    g, e = grid.c, plan_edit.c
    held = set(conn.execute(select(g.code).where(g.community_code == community_code)).scalars())
    logged = select(func.jsonb_array_elements_text(e.inverse["codes"]).label("code")) \
        .where(e.inverse.has_key("codes")).subquery()
    held |= set(conn.execute(select(logged.c.code).where(func.left(logged.c.code, 12)
                                                         == sql_cast(community_code, String))).scalars())
    return held


def community_name(conn: Connection, code: str) -> str:
    c = community.c
    return conn.execute(select(func.coalesce(c.attrs["short_name"].astext, c.name)).where(c.code == code)).scalar() \
        or code


def replace_violations(conn: Connection, plan: str, codes: list[str], violations: list[dict]) -> None:
    """The plan report's violations of grids ``codes`` replaced by ``violations`` (the rest kept)."""
    p = plan_table.c
    report = conn.execute(select(p.report).where(p.name == plan)).scalar() or {}
    inside = set(codes)
    kept = [v for v in report.get("violations") or [] if v.get("grid_code") not in inside]
    conn.execute(update(plan_table).where(p.name == plan)
                 .values(report=p.report.op("||")(jsonb({"violations": kept + violations}))))


def report_violations(conn: Connection, plan: str) -> list[dict]:
    p = plan_table.c
    return list((conn.execute(select(p.report).where(p.name == plan)).scalar() or {}).get("violations") or [])


# ---------------------------------------------------------------- leases


def take_leases(conn: Connection, plan: str, codes: list[str], *, holder: str, seconds: float) -> str:
    """Lease grids ``codes`` of ``plan`` to ``holder`` for ``seconds`` (renewing theirs); Leased when
    another holder's lease on one of them has not run out. Returns when the leases end."""
    lease = grid_lease.c
    now = conn.execute(select(func.clock_timestamp())).scalar()
    held = conn.execute(select(lease.grid_code, lease.holder, lease.until)
                        .where((lease.plan == plan) & lease.grid_code.in_(sorted(set(codes)))
                               & (lease.until > now) & (lease.holder != holder))
                        .order_by(lease.grid_code).with_for_update()).first()
    if held is not None:
        raise Leased(f"网格 {held.grid_code} 正由 {held.holder} 编辑，至 {held.until:%H:%M:%S} (grid {held.grid_code} "
                     f"is being edited by {held.holder} until {held.until.isoformat()}); try again later",
                     holder=held.holder, until=held.until.isoformat())
    until = now + timedelta(seconds=seconds)
    stmt = postgresql.insert(grid_lease).values([{"plan": plan, "grid_code": c, "holder": holder, "until": until}
                                                 for c in sorted(set(codes))])
    conn.execute(stmt.on_conflict_do_update(index_elements=["plan", "grid_code"],
                                            set_={"holder": holder, "until": until}))
    return until.isoformat()


# ---------------------------------------------------------------- copies


def copy_plan(conn: Connection, source: str, target: str, *, communities: list[str] | None, params: dict) -> dict:
    """Draft ``target`` with ``source``'s grids, members and open posts of ``communities`` (default:
    every community with a grid in ``source``); refused when ``target`` exists."""
    p, g, m, s = plan_table.c, grid.c, grid_member.c, staff_post.c
    if conn.execute(select(p.name).where(p.name == target)).first() is not None:
        raise PlanError(f"方案 {target} 已存在 (plan {target!r} exists); choose a new name")
    codes = sorted(communities) if communities is not None else sorted(set(conn.execute(
        select(g.community_code).where(g.plan == source)).scalars()))
    if not codes:
        raise InvalidInput(f"plan {source!r} has no grids in the communities named")
    conn.execute(insert(plan_table).values(name=target, params=jsonb(params),
                                           report=jsonb({"source": "copy", "copied_from": source})))
    conn.execute(insert(plan_community).values([{"plan": target, "community_code": c} for c in codes]))
    inside = g.community_code.in_(codes)
    grids = conn.execute(insert(grid).from_select(
        ["plan", "code", "name", "community_code", "households", "attrs", "geom"],
        select(literal(target), g.code, g.name, g.community_code, g.households, g.attrs.op("-")("carried_from"),
               g.geom).where((g.plan == source) & inside))).rowcount
    members = conn.execute(insert(grid_member).from_select(
        ["plan", "grid_code", "compound_id", "building_id", "households"],
        select(literal(target), m.grid_code, m.compound_id, m.building_id, m.households)
        .where((m.plan == source) & func.left(m.grid_code, 12).in_(codes)))).rowcount
    posts = conn.execute(insert(staff_post).from_select(
        ["staff_id", "role", "plan", "grid_code", "building_id", "valid_from", "changed_by"],
        select(s.staff_id, s.role, literal(target), s.grid_code, s.building_id, s.valid_from, s.changed_by)
        .where((s.plan == source) & s.valid_to.is_(None) & s.grid_code.is_not(None)
               & func.left(s.grid_code, 12).in_(codes)).order_by(s.id))).rowcount
    source_report = conn.execute(select(p.report).where(p.name == source)).scalar() or {}
    violations = [{k: v for k, v in x.items() if k != "carried_from"} for x in source_report.get("violations") or []
                  if x.get("community_code") in set(codes)]
    conn.execute(update(plan_table).where(p.name == target)
                 .values(report=p.report.op("||")(jsonb({"violations": violations}))))
    return {"communities": len(codes), "grids": grids, "members": members, "posts": posts}


def plan_params(conn: Connection, name: str) -> dict:
    return conn.execute(select(plan_table.c.params).where(plan_table.c.name == name)).scalar() or {}


def scope_communities(conn: Connection, scope: str, code: str) -> list[str]:
    from gridmap.storage.grids import SCOPE_COLUMN

    return list(conn.execute(select(community.c.code).where(SCOPE_COLUMN[scope] == code)
                             .order_by(community.c.code)).scalars())


# ---------------------------------------------------------------- diffs


def member_map(conn: Connection, plan: str, communities: list[str]) -> dict[tuple[str, str | None], tuple[str, int]]:
    """(compound_id, building_id) -> (grid code, households) of a plan's members in ``communities``."""
    m = grid_member.c
    return {(r.compound_id, r.building_id): (r.grid_code, int(r.households)) for r in conn.execute(
        select(m.compound_id, m.building_id, m.grid_code, m.households)
        .where((m.plan == plan) & func.left(m.grid_code, 12).in_(communities)))}


def grid_summaries(conn: Connection, plan: str, communities: list[str]) -> dict[str, dict]:
    g = grid.c
    return {r["code"]: dict(r) for r in conn.execute(
        select(g.code, g.name, g.households, func.md5(gfunc.ST_AsBinary(gfunc.ST_Normalize(g.geom))).label("shape"))
        .where((g.plan == plan) & g.community_code.in_(communities))).mappings()}


def open_posts(conn: Connection, plan: str, codes: list[str]) -> list[dict]:
    s = staff_post.c
    return rows(conn, select(s.staff_id, s.role, s.grid_code).where(
        and_(s.plan == plan, s.valid_to.is_(None), s.grid_code.in_(sorted(codes)))).order_by(s.grid_code, s.role,
                                                                                                s.staff_id))


def layer_frames(conn: Connection, plan: str, codes: list[str], compounds: list[str]):
    """(grids, compounds) GeoDataFrames for a diff's GeoPackage."""
    from gridmap.storage.query import read_geoframe

    g, k = grid.c, compound.c
    grids = read_geoframe(conn, select(g.code, g.name, g.community_code, g.households, g.geom.label("geometry"))
                          .where((g.plan == plan) & g.code.in_(sorted(codes))).order_by(g.code))
    comps = read_geoframe(conn, select(k.id.label("compound_id"), k.name, k.households, k.geom.label("geometry"))
                          .where(k.id.in_(sorted(compounds))).order_by(k.id))
    return grids, comps


# ---------------------------------------------------------------- the editor page's data


def editor_layers(conn: Connection, plan: str, *, bbox: tuple[float, float, float, float] | None,
                  ghost_plan: str | None, limit: int = 4000) -> dict:
    """GeoJSON of a plan's grids (households, locked) and compounds (their grid) in ``bbox``
    (EPSG:4490; None: everything), and the ghost outlines of ``ghost_plan``'s grids."""
    import json

    g, m, k = grid.c, grid_member.c, compound.c
    box = gfunc.ST_MakeEnvelope(*bbox, 4490) if bbox else None

    def where(col):
        return gfunc.ST_Intersects(col, box) if box is not None else literal(True)

    def fc(query) -> list[dict]:
        return [{"type": "Feature", "geometry": json.loads(r.pop("geojson")), "properties": r}
                for r in rows(conn, query.limit(limit))]

    simple = lambda col: func.ST_AsGeoJSON(gfunc.ST_SimplifyPreserveTopology(col, 0.00001), 6)  # noqa: E731
    grids = fc(select(g.code, g.name, g.community_code, g.households,
                      func.coalesce(g.attrs["locked"].as_boolean(), False).label("locked"),
                      simple(g.geom).label("geojson")).where((g.plan == plan) & where(g.geom)).order_by(g.code))
    comps = fc(select(k.id, k.name, k.households, func.min(m.grid_code).label("grid_code"),
                      func.count(m.grid_code).label("parts"), simple(k.geom).label("geojson"))
               .join_from(compound, grid_member, (m.compound_id == k.id) & (m.plan == plan))
               .where(where(k.geom)).group_by(k.id, k.name, k.households, k.geom).order_by(k.id))
    ghost = fc(select(g.code, simple(gfunc.ST_Boundary(g.geom)).label("geojson"))
               .where((g.plan == ghost_plan) & where(g.geom)).order_by(g.code)) if ghost_plan else []
    extent = conn.execute(select(func.ST_XMin(func.ST_Extent(g.geom)), func.ST_YMin(func.ST_Extent(g.geom)),
                                 func.ST_XMax(func.ST_Extent(g.geom)), func.ST_YMax(func.ST_Extent(g.geom)))
                          .where(g.plan == plan)).one()
    return {"grids": {"type": "FeatureCollection", "features": grids},
            "compounds": {"type": "FeatureCollection", "features": comps},
            "ghost": {"type": "FeatureCollection", "features": ghost},
            "bounds": list(extent), "truncated": len(grids) >= limit or len(comps) >= limit}
