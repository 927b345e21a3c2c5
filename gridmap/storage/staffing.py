"""Staffing in PostGIS: read the engine's inputs and the stored assignment, write a new one.

Posts (staff_post) and officer links (officer_link) keep their history: a
row that no longer holds is closed (valid_to, changed_by), never deleted;
an unchanged one stays open. Grid branches and building groups belong to a
plan, so their stored ids carry it: 'PB-<grid>@<plan>', 'BG-<building>@<plan>'.
"""

from __future__ import annotations

import json
from datetime import datetime

import geopandas as gpd
import pandas as pd
from psycopg2.extras import execute_values
from sqlalchemy import Connection, text

from gridmap.domain import STORAGE_EPSG
from gridmap.assign import Assignment
from gridmap.errors import InvalidInput, NotFound
from gridmap.storage.grids import read_grids

PLAN_LEVELS = ("grid_branch", "building_group")
COMMITTEES = ("street_committee", "community_committee")
TRUE_TEXT = frozenset({"true", "1", "yes", "y", "t", "是"})
SCOPE_COLUMN = {"district": "left(c.code, 6)", "street": "c.street_code", "community": "c.code"}


# ---------------------------------------------------------------- reading inputs


def scope_communities(conn: Connection, scope: str, code: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Communities (code, name, street_code) of a scope and the streets (code, name, whole) they lie in.

    ``whole`` says whether every community of the street is in the scope.
    """
    where = SCOPE_COLUMN[scope]
    comm = pd.read_sql(text(f"SELECT c.code, c.name, c.street_code FROM community c WHERE {where} = :code "
                            "ORDER BY c.code"), conn, params={"code": code})
    streets = pd.read_sql(
        text("SELECT s.code, s.name, (SELECT count(*) FROM community c WHERE c.street_code = s.code) AS total "
             "FROM street s WHERE s.code = ANY(:codes) ORDER BY s.code"),
        conn, params={"codes": sorted(set(comm["street_code"]))})
    inside = comm.groupby("street_code").size()
    streets["whole"] = streets["code"].map(inside).fillna(0).astype(int) == streets.pop("total")
    return comm, streets


def require_plan(conn: Connection, plan: str) -> str:
    """The plan's status, or NotFound."""
    status = conn.execute(text("SELECT status FROM plan WHERE name = :p"), {"p": plan}).scalar()
    if status is None:
        raise NotFound(f"plan {plan!r} does not exist")
    return status


def assign_inputs(conn: Connection, plan: str, scope: str, code: str) -> dict:
    """Everything :func:`gridmap.assign.assign_staff` needs for the communities of a scope."""
    comm, streets = scope_communities(conn, scope, code)
    if comm.empty:
        raise NotFound(f"no communities in {scope} {code}; import boundaries first")
    codes = list(comm["code"])
    grids = read_grids(conn, plan, community_codes=codes)
    if grids.empty:
        raise NotFound(f"plan {plan!r} has no grids in {scope} {code}; partition it first")
    return {
        "communities": comm,
        "streets": streets,
        "grids": grids,
        "compounds": _compounds(conn, plan, codes),
        "buildings": _buildings(conn, codes),
        "staff": read_roster(conn, codes, list(streets["code"])),
        "party_orgs": _committees(conn, codes, list(streets["code"])),
    }


def _compounds(conn: Connection, plan: str, codes: list[str]) -> gpd.GeoDataFrame:
    """Compounds with the plan's grid holding most of their households ('' when not a member)."""
    sql = """SELECT k.id, k.name, k.community_code, k.households,
                    (SELECT m.grid_code FROM grid_member m WHERE m.plan = :plan AND m.compound_id = k.id
                     GROUP BY m.grid_code ORDER BY sum(m.households) DESC, m.grid_code LIMIT 1) AS grid_code,
                    k.geom AS geometry
             FROM compound k WHERE k.community_code = ANY(:codes) ORDER BY k.id"""
    gdf = gpd.read_postgis(text(sql), conn, geom_col="geometry", params={"plan": plan, "codes": codes})
    gdf["grid_code"] = gdf["grid_code"].fillna("")
    return gdf.set_crs(STORAGE_EPSG, allow_override=True)


def _buildings(conn: Connection, codes: list[str]) -> gpd.GeoDataFrame:
    sql = """SELECT b.id, b.compound_id, b.households, coalesce(b.attrs->>'name', b.id) AS name,
                    b.geom AS geometry
             FROM building b JOIN compound k ON k.id = b.compound_id
             WHERE k.community_code = ANY(:codes) ORDER BY b.id"""
    gdf = gpd.read_postgis(text(sql), conn, geom_col="geometry", params={"codes": codes})
    return gdf.set_crs(STORAGE_EPSG, allow_override=True)


def read_roster(conn: Connection, communities: list[str], streets: list[str]) -> pd.DataFrame:
    """Active staff of the communities, plus the street pools (no community) of the streets."""
    sql = """SELECT id, name, role, coalesce(agency, '') AS agency, community_code, street_code,
                    attrs->>'building_id' AS building_id, attrs->>'grid_code' AS grid_code,
                    attrs->>'party_member' AS party_member
             FROM staff
             WHERE coalesce(attrs->>'active', 'true') <> 'false'
               AND (community_code = ANY(:comms) OR (community_code IS NULL AND street_code = ANY(:streets)))
             ORDER BY id"""
    df = pd.read_sql(text(sql), conn, params={"comms": communities, "streets": streets})
    df["party_member"] = [None if v is None else str(v).lower() in TRUE_TEXT for v in df["party_member"]]
    return df


def _committees(conn: Connection, communities: list[str], streets: list[str]) -> pd.DataFrame:
    sql = """SELECT id, name, level, parent_id, street_code, community_code, secretary_staff_id FROM party_org
             WHERE level IN ('street_committee', 'community_committee')
               AND (street_code = ANY(:streets) OR community_code = ANY(:comms)) ORDER BY id"""
    return pd.read_sql(text(sql), conn, params={"comms": communities, "streets": streets})


# ---------------------------------------------------------------- reading the stored assignment


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


# ---------------------------------------------------------------- writing an assignment


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


# ---------------------------------------------------------------- roster


def stored_codes(conn: Connection) -> tuple[set[str], set[str]]:
    """Codes of the stored communities and streets."""
    comms = {r[0] for r in conn.execute(text("SELECT code FROM community"))}
    streets = {r[0] for r in conn.execute(text("SELECT code FROM street"))}
    return comms, streets


def write_roster(conn: Connection, roster: pd.DataFrame, source: str, commit: bool = True) -> dict:
    """Upsert the roster's people (all or nothing); people not in it are left as they are."""
    from gridmap.interchange import Interchange
    from gridmap.storage.load import write_interchange_data

    people = roster.reset_index(drop=True).assign(active=True)
    report = write_interchange_data(conn, Interchange(layers={"staff": people}, source=source), commit=commit)
    count = report.layers["staff"]
    return {"inserted": count.inserted, "updated": count.updated, "unchanged": count.unchanged,
            "committed": report.committed}


# ---------------------------------------------------------------- reads for the API

STAFF_FIELDS = ("id", "name", "role", "agency", "phone", "phone_public", "community_code", "street_code")


def staff_record(conn: Connection, staff_id: str) -> dict:
    """One person (with ``active``), or NotFound."""
    row = conn.execute(text(
        "SELECT id, name, role, agency, phone, phone_public, community_code, street_code, "
        "coalesce(attrs->>'active', 'true') <> 'false' AS active FROM staff WHERE id = :id"),
        {"id": staff_id}).mappings().first()
    if row is None:
        raise NotFound(f"staff {staff_id!r} does not exist")
    return dict(row)


def grid_staff(conn: Connection, plan: str, grid_code: str) -> dict:
    """A grid of ``plan`` with its branch, posts (people) and the officers of each compound."""
    grid = conn.execute(text("SELECT code, name, community_code, households FROM grid "
                             "WHERE plan = :p AND code = :g"), {"p": plan, "g": grid_code}).mappings().first()
    if grid is None:
        raise NotFound(f"grid {grid_code!r} is not in plan {plan!r}")
    params = {"p": plan, "g": grid_code}
    orgs = conn.execute(text(
        "SELECT o.id, o.name, o.level, o.building_id, o.secretary_staff_id FROM party_org o "
        "WHERE o.plan = :p AND o.grid_code = :g ORDER BY o.level DESC, o.id"), params).mappings().all()
    posts = conn.execute(text(
        f"SELECT p.id AS post_id, p.role AS post_role, p.building_id, p.valid_from, {_PERSON} "
        "FROM staff_post p JOIN staff s ON s.id = p.staff_id "
        "WHERE p.valid_to IS NULL AND p.plan = :p AND p.grid_code = :g ORDER BY p.role, s.id"),
        params).mappings().all()
    officers = conn.execute(text(
        f"SELECT k.id AS compound_id, k.name AS compound_name, k.households, l.agency, {_PERSON} "
        f"FROM ({_GRID_COMPOUNDS}) k LEFT JOIN officer_link l ON l.compound_id = k.id AND l.valid_to IS NULL "
        "LEFT JOIN staff s ON s.id = l.staff_id ORDER BY k.id, l.agency"), params).mappings().all()
    people = {r["secretary_staff_id"] for r in orgs if r["secretary_staff_id"]}
    secretaries = _people(conn, people)
    return {"plan": plan, "grid": dict(grid),
            "party_orgs": [{**dict(o), "secretary": secretaries.get(o["secretary_staff_id"])} for o in orgs],
            "posts": [dict(p) for p in posts], "officers": [dict(o) for o in officers]}


_PERSON = ("s.id AS staff_id, s.name, s.role, s.agency, s.phone, s.phone_public, s.community_code, "
           "s.street_code")
# Compounds of a grid: the plan's members, or (a plan imported without members) those whose
# inner point lies in the grid.
_GRID_COMPOUNDS = """
    SELECT k.id, k.name, k.households FROM compound k
    WHERE k.id IN (SELECT compound_id FROM grid_member WHERE plan = :p AND grid_code = :g)
       OR (NOT EXISTS (SELECT 1 FROM grid_member WHERE plan = :p)
           AND EXISTS (SELECT 1 FROM grid g WHERE g.plan = :p AND g.code = :g
                       AND ST_Covers(g.geom, ST_PointOnSurface(k.geom))))"""


def _people(conn: Connection, ids: set[str]) -> dict[str, dict]:
    rows = conn.execute(text(f"SELECT {_PERSON} FROM staff s WHERE s.id = ANY(:ids)"),
                        {"ids": sorted(ids)}).mappings().all()
    return {r["staff_id"]: dict(r) for r in rows}


def officer_compounds(conn: Connection, staff_id: str) -> dict:
    """An officer and the compounds linked to him now."""
    person = staff_record(conn, staff_id)
    rows = conn.execute(text(
        "SELECT k.id AS compound_id, k.name, k.community_code, k.households, l.agency, l.valid_from "
        "FROM officer_link l JOIN compound k ON k.id = l.compound_id "
        "WHERE l.staff_id = :id AND l.valid_to IS NULL ORDER BY k.id"), {"id": staff_id}).mappings().all()
    return {"officer": person, "compounds": [dict(r) for r in rows]}


def staff_history(conn: Connection, staff_id: str) -> dict:
    """Every post and officer link a person has held, open or closed, oldest first."""
    person = staff_record(conn, staff_id)
    posts = conn.execute(text(
        "SELECT id, role, plan, grid_code, building_id, valid_from, valid_to, changed_by FROM staff_post "
        "WHERE staff_id = :id ORDER BY valid_from, id"), {"id": staff_id}).mappings().all()
    links = conn.execute(text(
        "SELECT id, agency, compound_id, valid_from, valid_to, changed_by FROM officer_link "
        "WHERE staff_id = :id ORDER BY valid_from, id"), {"id": staff_id}).mappings().all()
    return {"staff": person, "posts": [dict(p) for p in posts], "officer_links": [dict(r) for r in links]}


# ---------------------------------------------------------------- edits (history kept in staff_post)


def create_staff(conn: Connection, person: dict, changed_by: str) -> dict:
    """Add one person to the roster."""
    if conn.execute(text("SELECT 1 FROM staff WHERE id = :id"), {"id": person["id"]}).first():
        raise InvalidInput(f"id: staff {person['id']!r} already exists; PATCH it instead")
    _check_person(conn, person)
    conn.execute(text(
        "INSERT INTO staff (id, name, role, agency, phone, phone_public, community_code, street_code, attrs) "
        "VALUES (:id, :name, :role, :agency, :phone, :phone_public, :community_code, :street_code, "
        "CAST(:attrs AS jsonb))"), {**_columns(person), "attrs": json.dumps({"created_by": changed_by})})
    return staff_record(conn, person["id"])


def update_staff(conn: Connection, staff_id: str, changes: dict, changed_by: str) -> dict:
    """Change a person's fields; a new role, agency or home closes the posts and links he held."""
    before = staff_record(conn, staff_id)
    if not before["active"]:
        raise InvalidInput(f"staff {staff_id!r} has left the roster; create a new person instead")
    after = {**before, **changes, "id": staff_id}
    _check_person(conn, after)
    conn.execute(text(
        "UPDATE staff SET name = :name, role = :role, agency = :agency, phone = :phone, "
        "phone_public = :phone_public, community_code = :community_code, street_code = :street_code, "
        "attrs = attrs || CAST(:attrs AS jsonb) WHERE id = :id"),
        {**_columns(after), "attrs": json.dumps({"updated_by": changed_by})})
    moved = any(before[k] != after[k] for k in ("role", "agency", "community_code", "street_code"))
    closed = _close_all(conn, staff_id, changed_by) if moved else {"posts": 0, "officer_links": 0}
    return {"staff": staff_record(conn, staff_id), "closed": closed}


def retire_staff(conn: Connection, staff_id: str, changed_by: str) -> dict:
    """Take a person off the roster: posts and links closed, the row kept for history."""
    staff_record(conn, staff_id)
    closed = _close_all(conn, staff_id, changed_by)
    conn.execute(text("UPDATE party_org SET secretary_staff_id = NULL WHERE secretary_staff_id = :id"),
                 {"id": staff_id})
    conn.execute(text("UPDATE staff SET attrs = attrs || jsonb_build_object('active', false, "
                      "'retired_by', CAST(:by AS text), 'retired_at', clock_timestamp()) WHERE id = :id"),
                 {"id": staff_id, "by": changed_by})
    return {"staff": staff_record(conn, staff_id), "closed": closed}


def open_post(conn: Connection, staff_id: str, plan: str, changed_by: str, role: str | None = None,
              grid_code: str | None = None, building_id: str | None = None) -> dict:
    """Give a person a post on a grid (or building) of ``plan``; role defaults to his roster role."""
    person = staff_record(conn, staff_id)
    role = role or person["role"]
    _check_post(conn, person, role, plan, grid_code, building_id)
    row = conn.execute(text(
        "INSERT INTO staff_post (staff_id, role, plan, grid_code, building_id, valid_from, changed_by) "
        "VALUES (:s, :r, :p, :g, :b, clock_timestamp(), :by) RETURNING id"),
        {"s": staff_id, "r": role, "p": plan, "g": grid_code, "b": building_id, "by": changed_by}).scalar()
    return post_record(conn, row)


def update_post(conn: Connection, post_id: int, changes: dict, changed_by: str) -> dict:
    """Close an open post and open its successor with ``changes`` (staff_id, role, grid_code, building_id)."""
    old = post_record(conn, post_id)
    if old["valid_to"] is not None:
        raise InvalidInput(f"post {post_id} was closed at {old['valid_to']}; open a new one instead")
    new = {k: changes.get(k, old[k]) for k in ("staff_id", "role", "grid_code", "building_id")}
    close_post(conn, post_id, changed_by)
    return {"closed": post_record(conn, post_id),
            "post": open_post(conn, new["staff_id"], old["plan"], changed_by, new["role"], new["grid_code"],
                              new["building_id"])}


def close_post(conn: Connection, post_id: int, changed_by: str) -> dict:
    """End an open post now; the row stays as history."""
    old = post_record(conn, post_id)
    if old["valid_to"] is not None:
        raise InvalidInput(f"post {post_id} was already closed at {old['valid_to']}")
    conn.execute(text("UPDATE staff_post SET valid_to = clock_timestamp(), changed_by = :by WHERE id = :id"),
                 {"id": post_id, "by": changed_by})
    return post_record(conn, post_id)


def post_record(conn: Connection, post_id: int) -> dict:
    row = conn.execute(text("SELECT id, staff_id, role, plan, grid_code, building_id, valid_from, valid_to, "
                            "changed_by FROM staff_post WHERE id = :id"), {"id": post_id}).mappings().first()
    if row is None:
        raise NotFound(f"post {post_id} does not exist")
    return dict(row)


def _columns(person: dict) -> dict:
    out = {k: person.get(k) or None for k in STAFF_FIELDS}
    out["phone_public"] = bool(person.get("phone_public"))
    return out


def _check_person(conn: Connection, person: dict) -> None:
    from gridmap.interchange.roster import check_person

    check_person(person)
    for col, table in (("community_code", "community"), ("street_code", "street")):
        value = person.get(col)
        if value and not conn.execute(text(f"SELECT 1 FROM {table} WHERE code = :c"), {"c": value}).first():
            raise InvalidInput(f"{col}: {value!r} is not a stored {table}")


def _check_post(conn: Connection, person: dict, role: str, plan: str, grid: str | None,
                building: str | None) -> None:
    from gridmap.domain import ROLES

    if not person["active"]:
        raise InvalidInput(f"staff_id: {person['id']!r} has left the roster")
    if role not in ROLES:
        raise InvalidInput(f"role: {role!r} is not a role; allowed: {list(ROLES)}")
    require_plan(conn, plan)
    if grid is None and building is None:
        raise InvalidInput("grid_code: name a grid or a building for the post")
    if grid is not None:
        if not conn.execute(text("SELECT 1 FROM grid WHERE plan = :p AND code = :g"), {"p": plan, "g": grid}).first():
            raise InvalidInput(f"grid_code: {grid!r} is not a grid of plan {plan!r}")
        if person["community_code"] != grid[:12]:
            raise InvalidInput(f"grid_code: {grid} is in community {grid[:12]}, but {person['id']} belongs to "
                               f"{person['community_code'] or 'a street pool'} (posts stay in the community)")
    if building is not None and not conn.execute(text("SELECT 1 FROM building WHERE id = :b"), {"b": building}).first():
        raise InvalidInput(f"building_id: {building!r} does not exist")
    same = conn.execute(text(
        "SELECT id FROM staff_post WHERE valid_to IS NULL AND staff_id = :s AND role = :r AND plan = :p "
        "AND grid_code IS NOT DISTINCT FROM :g AND building_id IS NOT DISTINCT FROM :b"),
        {"s": person["id"], "r": role, "p": plan, "g": grid, "b": building}).scalar()
    if same:
        raise InvalidInput(f"{person['id']} already holds this post (post {same})")


def _close_all(conn: Connection, staff_id: str, changed_by: str) -> dict:
    """Close every open post and officer link of a person."""
    counts = {}
    for table, key in (("staff_post", "posts"), ("officer_link", "officer_links")):
        counts[key] = conn.execute(text(
            f"UPDATE {table} SET valid_to = clock_timestamp(), changed_by = :by "
            "WHERE staff_id = :id AND valid_to IS NULL"), {"id": staff_id, "by": changed_by}).rowcount
    return counts
