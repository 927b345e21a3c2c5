"""The stored assignment: read what is held now, write a new result keeping history.

Posts (staff_post) and officer links (officer_link) keep their history: a
row that no longer holds is closed (valid_to, changed_by), never deleted;
an unchanged one stays open. Grid branches and building groups belong to a
plan, so their stored ids carry it: 'PB-<grid>@<plan>', 'BG-<building>@<plan>'.
"""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
from sqlalchemy import Boolean, Connection, Table, delete, false, func, select, update
from sqlalchemy.dialects import postgresql

from gridmap.assign import Assignment
from gridmap.storage.query import bulk_insert, jsonb, read_frame
from gridmap.storage.schema import (
    community,
    compound,
    grid,
    officer_link,
    party_org,
    plan as plan_table,
    staff,
    staff_post,
)
from gridmap.storage.staffing.inputs import COMMITTEES
from gridmap.storage.staffing.roster import active

PLAN_LEVELS = ("grid_branch", "building_group")


# ---------------------------------------------------------------- reading


def read_assignment(conn: Connection, plan: str, communities: list[str] | None = None) -> Assignment:
    """Open posts of ``plan``, open officer links and the plan's party organisations.

    With ``communities`` only those communities; ``compounds``, ``grids`` and
    ``staff`` are filled so that :meth:`Assignment.report` works, and ``gaps``
    come from the last stored staffing run.
    """
    c, k, s, p, lk, o, g = community.c, compound.c, staff.c, staff_post.c, officer_link.c, party_org.c, grid.c
    if communities is None:
        communities = list(conn.execute(select(c.code).order_by(c.code)).scalars())
    post_community = func.coalesce(func.left(p.grid_code, 12), s.community_code)
    posts = read_frame(conn, select(p.staff_id, p.role, p.grid_code, p.building_id,
                                    post_community.label("community_code"))
                       .join_from(staff_post, staff, s.id == p.staff_id)
                       .where(p.valid_to.is_(None) & (p.plan == plan) & post_community.in_(communities))
                       .order_by(p.staff_id, p.role, p.grid_code, p.building_id))
    links = read_frame(conn, select(lk.staff_id, lk.agency, lk.compound_id, k.community_code,
                                    s.community_code.is_distinct_from(k.community_code).label("street_fallback"))
                       .join_from(officer_link, compound, k.id == lk.compound_id).join(staff, s.id == lk.staff_id)
                       .where(lk.valid_to.is_(None) & k.community_code.in_(communities))
                       .order_by(lk.compound_id, lk.agency))
    their_streets = select(c.street_code).where(c.code.in_(communities))
    orgs = read_frame(conn, select(o.id, o.name, o.level, o.parent_id, o.street_code, o.community_code, o.grid_code,
                                   o.building_id, o.secretary_staff_id,
                                   func.coalesce(o.attrs["generated"].astext.cast(Boolean), false())
                                   .label("generated"))
                      .where(((o.plan == plan) | o.level.in_(COMMITTEES))
                             & (o.community_code.in_(communities)
                                | (o.community_code.is_(None) & o.street_code.in_(their_streets))))
                      .order_by(o.id))
    return Assignment(
        party_orgs=orgs, posts=_objects(posts), officer_links=_objects(links), gaps=_stored_gaps(conn, plan),
        compounds=read_frame(conn, select(k.id, k.community_code, c.street_code, k.households)
                             .join_from(compound, community, c.code == k.community_code)
                             .where(k.community_code.in_(communities)).order_by(k.id)),
        grids=read_frame(conn, select(g.code, g.community_code, g.households)
                         .where((g.plan == plan) & g.community_code.in_(communities)).order_by(g.code)),
        staff=read_frame(conn, select(s.id, s.role, func.coalesce(s.agency, "").label("agency"),
                                      func.coalesce(s.community_code, "").label("community_code"),
                                      func.coalesce(s.street_code, func.left(s.community_code, 9))
                                      .label("street_code"))
                         .where(active(s.attrs)).order_by(s.id)),
    )


def read_current(conn: Connection, plan: str, communities: list[str], *, base: str | None) -> Assignment | None:
    """What is held now, for stability: the plan's own posts, else those of ``base`` (the
    current generation's plan, whose unchanged grid codes carry over); open officer links."""
    current = read_assignment(conn, plan, communities)
    if current.posts.empty and base and base != plan:
        current.posts = read_assignment(conn, base, communities).posts
    if current.posts.empty and current.officer_links.empty:
        return None
    return current


def _objects(df: pd.DataFrame) -> pd.DataFrame:
    return df.astype(object).where(df.notna(), None)


def _stored_gaps(conn: Connection, plan: str) -> pd.DataFrame:
    from gridmap.assign.result import GAP_COLUMNS

    p = plan_table.c
    gaps = conn.execute(select(p.report["staffing"]["gaps"]).where(p.name == plan)).scalar()
    return pd.DataFrame(gaps or [], columns=list(GAP_COLUMNS))


# ---------------------------------------------------------------- writing


def write_assignment(
    conn: Connection,
    plan: str,
    result: Assignment,
    *,
    communities: pd.DataFrame,
    streets: pd.DataFrame,
    changed_by: str,
    record: dict | None = None,
    relink: bool = True,
) -> dict:
    """Write ``result`` for the communities it was computed for, all in one savepoint.

    Officer links are live whatever the plan; ``relink=False`` (staffing a draft) keeps every
    open link and only links compounds that have no officer of an agency.

    ``streets.whole`` marks streets entirely in scope: only there are the
    street pools' officer-only posts closed. ``record`` (report, scope) is
    stored under plan.report['staffing'] with the gaps merged into earlier ones.
    Returns counts of rows opened, closed and kept.
    """
    codes = list(communities["code"])
    whole = list(streets.loc[streets["whole"], "code"])
    with conn.begin_nested():
        now = conn.execute(select(func.clock_timestamp())).scalar()
        orgs = _write_orgs(conn, plan, result.party_orgs, communities=codes)
        posts = _write_posts(conn, plan, result.posts, communities=codes, whole_streets=whole, now=now,
                             changed_by=changed_by)
        links = _write_links(conn, result.officer_links, communities=codes, now=now, changed_by=changed_by,
                             relink=relink)
        _write_record(conn, plan, result.gaps, communities=codes, streets=list(streets["code"]),
                      record={**(record or {}), "at": now})
    return {"party_orgs": orgs, "posts": posts, "officer_links": links}


def _write_orgs(conn: Connection, plan: str, orgs: pd.DataFrame, *, communities: list[str]) -> dict:
    """Generated committees upserted; grid branches and building groups of the plan replaced."""
    made = orgs[orgs["generated"].astype(bool) & orgs["level"].isin(COMMITTEES)]
    rows = [_org_row(r, None) for r in made.sort_values("level", key=_level_rank, kind="stable").to_dict("records")]
    rows += [_org_row(r, plan) for r in orgs[orgs["level"].isin(PLAN_LEVELS)]
             .sort_values("level", key=_level_rank, kind="stable").to_dict("records")]
    if rows:
        upsert = postgresql.insert(party_org)
        replaced = {c: upsert.excluded[c] for c in ("name", "parent_id", "street_code", "community_code",
                                                    "grid_code", "building_id", "secretary_staff_id")}
        # The level and plan of an id never change; attrs gathered over runs are kept.
        upsert = upsert.on_conflict_do_update(
            index_elements=[party_org.c.id],
            set_={**replaced, "attrs": party_org.c.attrs.op("||")(upsert.excluded.attrs)})
        conn.execute(upsert, rows)
    o = party_org.c
    stale = conn.execute(delete(party_org).where(
        (o.plan == plan) & o.level.in_(PLAN_LEVELS) & o.community_code.in_(communities)
        & o.id.not_in([r["id"] for r in rows]))).rowcount
    return {"written": len(rows), "removed": stale}


def _level_rank(levels: pd.Series) -> pd.Series:
    return levels.map({"street_committee": 0, "community_committee": 1, "grid_branch": 2, "building_group": 3})


def stored_org_id(org_id: str, plan: str | None) -> str:
    """The stored id of an organisation: plan-scoped ones carry their plan."""
    return f"{org_id}@{plan}" if plan and org_id.split("-")[0] in ("PB", "BG") else org_id


def _org_row(org: dict, plan: str | None) -> dict:
    parent = org["parent_id"]
    return {
        "id": stored_org_id(org["id"], plan), "name": org["name"], "level": org["level"],
        "parent_id": stored_org_id(parent, plan) if parent else None, "street_code": org["street_code"],
        "community_code": org["community_code"], "plan": plan, "grid_code": org["grid_code"],
        "building_id": org["building_id"], "secretary_staff_id": org["secretary_staff_id"],
        "attrs": {"generated": bool(org["generated"])},
    }


def _write_posts(conn: Connection, plan: str, posts: pd.DataFrame, *, communities: list[str],
                 whole_streets: list[str], now: datetime, changed_by: str) -> dict:
    """Close open posts of the scope that the new result lacks; open the new ones."""
    p, s = staff_post.c, staff.c
    # A grid post is in scope by its grid; a building-only post by its holder's community, or
    # (street pools) by his street when the whole street is in scope.
    in_scope = func.left(p.grid_code, 12).in_(communities) | (p.grid_code.is_(None) & (
        s.community_code.in_(communities) | (s.community_code.is_(None) & s.street_code.in_(whole_streets))))
    held = read_frame(conn, select(p.id, p.staff_id, p.role, p.grid_code, p.building_id)
                      .join_from(staff_post, staff, s.id == p.staff_id)
                      .where(p.valid_to.is_(None) & (p.plan == plan) & in_scope))
    old = {_post_key(r): r["id"] for r in held.to_dict("records")}
    new = {_post_key(r) for r in posts.to_dict("records")}
    close = [pid for key, pid in old.items() if key not in new]
    opened = [(k[0], k[1], plan, k[2], k[3], now, changed_by) for k in sorted(new - set(old), key=str)]
    _close(conn, staff_post, close, now=now, changed_by=changed_by)
    bulk_insert(conn, staff_post, ("staff_id", "role", "plan", "grid_code", "building_id", "valid_from",
                                   "changed_by"), opened)
    return {"opened": len(opened), "closed": len(close), "kept": len(old) - len(close)}


def _post_key(post: dict) -> tuple:
    return (post["staff_id"], post["role"], _none(post["grid_code"]), _none(post["building_id"]))


def _none(value: object) -> object:
    return None if value is None or value == "" or (isinstance(value, float) and pd.isna(value)) else value


def _write_links(conn: Connection, links: pd.DataFrame, *, communities: list[str], now: datetime,
                 changed_by: str, relink: bool = True) -> dict:
    """Close open links of the scope's compounds that changed officer or vanished; open the new ones
    (``relink=False``: close none, open only where a compound has no officer of the agency)."""
    lk, k = officer_link.c, compound.c
    held = read_frame(conn, select(lk.id, lk.staff_id, lk.agency, lk.compound_id)
                      .join_from(officer_link, compound, k.id == lk.compound_id)
                      .where(lk.valid_to.is_(None) & k.community_code.in_(communities)))
    old = {(r["compound_id"], r["agency"]): (r["staff_id"], r["id"]) for r in held.to_dict("records")}
    new = {(r["compound_id"], r["agency"]): r["staff_id"] for r in links.to_dict("records")}
    close = [lid for key, (sid, lid) in old.items() if new.get(key) != sid] if relink else []
    opened = [(sid, agency, cid, now, changed_by) for (cid, agency), sid in sorted(new.items())
              if old.get((cid, agency), (None,))[0] != sid and (relink or (cid, agency) not in old)]
    _close(conn, officer_link, close, now=now, changed_by=changed_by)
    bulk_insert(conn, officer_link, ("staff_id", "agency", "compound_id", "valid_from", "changed_by"), opened)
    return {"opened": len(opened), "closed": len(close), "kept": len(old) - len(close)}


def _close(conn: Connection, table: Table, ids: list[int], *, now: datetime, changed_by: str) -> None:
    if ids:
        conn.execute(update(table).where(table.c.id.in_([int(i) for i in ids]))
                     .values(valid_to=now, changed_by=changed_by))


def _write_record(conn: Connection, plan: str, gaps: pd.DataFrame, *, communities: list[str],
                  streets: list[str], record: dict) -> None:
    """plan.report['staffing']: the last run's record and every community's latest gaps."""
    before = _stored_gaps(conn, plan)
    here = before["community_code"].isin(communities) | (
        before["community_code"].isna() & before["street_code"].isin(streets))
    merged = pd.concat([before[~here], gaps], ignore_index=True) if len(before[~here]) else gaps
    staffing = {**record, "gaps": json.loads(merged.to_json(orient="records", force_ascii=False))}
    p = plan_table.c
    conn.execute(update(plan_table).where(p.name == plan)
                 .values(report=func.jsonb_set(p.report, postgresql.array(["staffing"]), jsonb(staffing))))
