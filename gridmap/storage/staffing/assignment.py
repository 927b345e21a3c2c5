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
from psycopg2.extras import execute_values
from sqlalchemy import Connection, text

from gridmap.assign import Assignment

PLAN_LEVELS = ("grid_branch", "building_group")
COMMITTEES = ("street_committee", "community_committee")


# ---------------------------------------------------------------- reading


def read_assignment(conn: Connection, plan: str, communities: list[str] | None = None) -> Assignment:
    """Open posts of ``plan``, open officer links and the plan's party organisations.

    With ``communities`` only those communities; ``compounds``, ``grids`` and
    ``staff`` are filled so that :meth:`Assignment.report` works, and ``gaps``
    come from the last stored staffing run.
    """
    if communities is None:
        communities = list(pd.read_sql(text("SELECT code FROM community ORDER BY code"), conn)["code"])
    params = {"plan": plan, "comms": communities}
    posts = pd.read_sql(text(
        """SELECT p.staff_id, p.role, p.grid_code, p.building_id,
                  coalesce(left(p.grid_code, 12), s.community_code) AS community_code
           FROM staff_post p JOIN staff s ON s.id = p.staff_id
           WHERE p.valid_to IS NULL AND p.plan = :plan
             AND coalesce(left(p.grid_code, 12), s.community_code) = ANY(:comms)
           ORDER BY p.staff_id, p.role, p.grid_code, p.building_id"""), conn, params=params)
    links = pd.read_sql(text(
        """SELECT l.staff_id, l.agency, l.compound_id, k.community_code,
                  (s.community_code IS DISTINCT FROM k.community_code) AS street_fallback
           FROM officer_link l JOIN compound k ON k.id = l.compound_id JOIN staff s ON s.id = l.staff_id
           WHERE l.valid_to IS NULL AND k.community_code = ANY(:comms)
           ORDER BY l.compound_id, l.agency"""), conn, params=params)
    orgs = pd.read_sql(text(
        """SELECT id, name, level, parent_id, street_code, community_code, grid_code, building_id,
                  secretary_staff_id, coalesce((attrs->>'generated')::boolean, false) AS generated
           FROM party_org
           WHERE (plan = :plan OR level IN ('street_committee', 'community_committee'))
             AND (community_code = ANY(:comms) OR (community_code IS NULL AND street_code IN
                  (SELECT street_code FROM community WHERE code = ANY(:comms))))
           ORDER BY id"""), conn, params=params)
    return Assignment(
        party_orgs=orgs, posts=_objects(posts), officer_links=_objects(links), gaps=_stored_gaps(conn, plan),
        compounds=pd.read_sql(text("SELECT k.id, k.community_code, c.street_code, k.households FROM compound k "
                                   "JOIN community c ON c.code = k.community_code "
                                   "WHERE k.community_code = ANY(:comms) ORDER BY k.id"), conn, params=params),
        grids=pd.read_sql(text("SELECT code, community_code, households FROM grid WHERE plan = :plan "
                               "AND community_code = ANY(:comms) ORDER BY code"), conn, params=params),
        staff=pd.read_sql(text("SELECT id, role, coalesce(agency, '') AS agency, "
                               "coalesce(community_code, '') AS community_code, "
                               "coalesce(street_code, left(community_code, 9)) AS street_code FROM staff "
                               "WHERE coalesce(attrs->>'active', 'true') <> 'false' ORDER BY id"), conn),
    )


def read_current(conn: Connection, plan: str, communities: list[str], base: str | None) -> Assignment | None:
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

    gaps = conn.execute(text("SELECT report->'staffing'->'gaps' FROM plan WHERE name = :p"), {"p": plan}).scalar()
    return pd.DataFrame(gaps or [], columns=list(GAP_COLUMNS))


# ---------------------------------------------------------------- writing


def write_assignment(
    conn: Connection,
    plan: str,
    result: Assignment,
    communities: pd.DataFrame,
    streets: pd.DataFrame,
    changed_by: str,
    record: dict | None = None,
) -> dict:
    """Write ``result`` for the communities it was computed for, all in one savepoint.

    ``streets.whole`` marks streets entirely in scope: only there are the
    street pools' officer-only posts closed. ``record`` (report, scope) is
    stored under plan.report['staffing'] with the gaps merged into earlier ones.
    Returns counts of rows opened, closed and kept.
    """
    codes = list(communities["code"])
    whole = list(streets.loc[streets["whole"], "code"])
    with conn.begin_nested():
        now = conn.execute(text("SELECT clock_timestamp()")).scalar()
        orgs = _write_orgs(conn, plan, result.party_orgs, codes)
        posts = _write_posts(conn, plan, result.posts, codes, whole, now, changed_by)
        links = _write_links(conn, result.officer_links, codes, now, changed_by)
        _write_record(conn, plan, result.gaps, codes, list(streets["code"]), {**(record or {}), "at": now})
    return {"party_orgs": orgs, "posts": posts, "officer_links": links}


def _write_orgs(conn: Connection, plan: str, orgs: pd.DataFrame, communities: list[str]) -> dict:
    """Generated committees upserted; grid branches and building groups of the plan replaced."""
    made = orgs[orgs["generated"].astype(bool) & orgs["level"].isin(COMMITTEES)]
    rows = [_org_row(r, None) for r in made.sort_values("level", key=_level_rank, kind="stable").to_dict("records")]
    rows += [_org_row(r, plan) for r in orgs[orgs["level"].isin(PLAN_LEVELS)]
             .sort_values("level", key=_level_rank, kind="stable").to_dict("records")]
    sql = """INSERT INTO party_org AS t (id, name, level, parent_id, street_code, community_code, plan, grid_code,
                 building_id, secretary_staff_id, attrs) VALUES %s
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, parent_id = EXCLUDED.parent_id,
                 street_code = EXCLUDED.street_code, community_code = EXCLUDED.community_code,
                 grid_code = EXCLUDED.grid_code, building_id = EXCLUDED.building_id,
                 secretary_staff_id = EXCLUDED.secretary_staff_id, attrs = t.attrs || EXCLUDED.attrs"""
    _execute_values(conn, sql, rows, "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, CAST(%s AS jsonb))")
    keep = [r[0] for r in rows]
    stale = conn.execute(
        text("DELETE FROM party_org WHERE plan = :plan AND level IN ('grid_branch', 'building_group') "
             "AND community_code = ANY(:comms) AND NOT (id = ANY(:keep))"),
        {"plan": plan, "comms": communities, "keep": keep}).rowcount
    return {"written": len(rows), "removed": stale}


def _level_rank(levels: pd.Series) -> pd.Series:
    return levels.map({"street_committee": 0, "community_committee": 1, "grid_branch": 2, "building_group": 3})


def stored_org_id(org_id: str, plan: str | None) -> str:
    """The stored id of an organisation: plan-scoped ones carry their plan."""
    return f"{org_id}@{plan}" if plan and org_id.split("-")[0] in ("PB", "BG") else org_id


def _org_row(org: dict, plan: str | None) -> tuple:
    parent = org["parent_id"]
    return (
        stored_org_id(org["id"], plan), org["name"], org["level"],
        stored_org_id(parent, plan) if parent else None, org["street_code"], org["community_code"], plan,
        org["grid_code"], org["building_id"], org["secretary_staff_id"],
        json.dumps({"generated": bool(org["generated"])}),
    )


def _write_posts(conn: Connection, plan: str, posts: pd.DataFrame, communities: list[str],
                 whole_streets: list[str], now: datetime, changed_by: str) -> dict:
    """Close open posts of the scope that the new result lacks; open the new ones."""
    held = pd.read_sql(text(
        """SELECT p.id, p.staff_id, p.role, p.grid_code, p.building_id
           FROM staff_post p JOIN staff s ON s.id = p.staff_id
           WHERE p.valid_to IS NULL AND p.plan = :plan
             AND (left(p.grid_code, 12) = ANY(:comms)
                  OR (p.grid_code IS NULL AND (s.community_code = ANY(:comms)
                      OR (s.community_code IS NULL AND s.street_code = ANY(:streets)))))"""),
        conn, params={"plan": plan, "comms": communities, "streets": whole_streets})
    old = {_post_key(r): r["id"] for r in held.to_dict("records")}
    new = {_post_key(r) for r in posts.to_dict("records")}
    close = [pid for key, pid in old.items() if key not in new]
    opened = [(k[0], k[1], plan, k[2], k[3], now, changed_by) for k in sorted(new - set(old), key=str)]
    _close(conn, "staff_post", close, now, changed_by)
    _execute_values(conn, "INSERT INTO staff_post (staff_id, role, plan, grid_code, building_id, valid_from, "
                    "changed_by) VALUES %s", opened)
    return {"opened": len(opened), "closed": len(close), "kept": len(old) - len(close)}


def _post_key(post: dict) -> tuple:
    return (post["staff_id"], post["role"], _none(post["grid_code"]), _none(post["building_id"]))


def _none(value: object) -> object:
    return None if value is None or value == "" or (isinstance(value, float) and pd.isna(value)) else value


def _write_links(conn: Connection, links: pd.DataFrame, communities: list[str], now: datetime,
                 changed_by: str) -> dict:
    """Close open links of the scope's compounds that changed officer or vanished; open the new ones."""
    held = pd.read_sql(text(
        """SELECT l.id, l.staff_id, l.agency, l.compound_id FROM officer_link l
           JOIN compound k ON k.id = l.compound_id
           WHERE l.valid_to IS NULL AND k.community_code = ANY(:comms)"""), conn, params={"comms": communities})
    old = {(r["compound_id"], r["agency"]): (r["staff_id"], r["id"]) for r in held.to_dict("records")}
    new = {(r["compound_id"], r["agency"]): r["staff_id"] for r in links.to_dict("records")}
    close = [lid for key, (sid, lid) in old.items() if new.get(key) != sid]
    opened = [(sid, agency, cid, now, changed_by) for (cid, agency), sid in sorted(new.items())
              if old.get((cid, agency), (None,))[0] != sid]
    _close(conn, "officer_link", close, now, changed_by)
    _execute_values(conn, "INSERT INTO officer_link (staff_id, agency, compound_id, valid_from, changed_by) "
                    "VALUES %s", opened)
    return {"opened": len(opened), "closed": len(close), "kept": len(old) - len(close)}


def _close(conn: Connection, table: str, ids: list[int], now: datetime, changed_by: str) -> None:
    if ids:
        conn.execute(text(f"UPDATE {table} SET valid_to = :now, changed_by = :by WHERE id = ANY(:ids)"),
                     {"now": now, "by": changed_by, "ids": [int(i) for i in ids]})


def _write_record(conn: Connection, plan: str, gaps: pd.DataFrame, communities: list[str],
                  streets: list[str], record: dict) -> None:
    """plan.report['staffing']: the last run's record and every community's latest gaps."""
    before = _stored_gaps(conn, plan)
    here = before["community_code"].isin(communities) | (
        before["community_code"].isna() & before["street_code"].isin(streets))
    merged = pd.concat([before[~here], gaps], ignore_index=True) if len(before[~here]) else gaps
    staffing = {**record, "gaps": json.loads(merged.to_json(orient="records", force_ascii=False))}
    conn.execute(text("UPDATE plan SET report = jsonb_set(report, '{staffing}', CAST(:s AS jsonb)) "
                      "WHERE name = :p"),
                 {"p": plan, "s": json.dumps(staffing, ensure_ascii=False, default=str)})


def _execute_values(conn: Connection, sql: str, rows: list[tuple], template: str | None = None) -> None:
    if not rows:
        return
    with conn.connection.dbapi_connection.cursor() as cur:
        execute_values(cur, sql, rows, template=template, page_size=2000)
