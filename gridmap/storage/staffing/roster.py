"""The roster (花名册): people added, changed and retired with their history, and what the API reads."""

from __future__ import annotations

import json

import pandas as pd
from sqlalchemy import Connection, text

from gridmap.errors import InvalidInput, NotFound

STAFF_FIELDS = ("id", "name", "role", "agency", "phone", "phone_public", "community_code", "street_code")


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


def staff_record(conn: Connection, staff_id: str) -> dict:
    """One person (with ``active``), or NotFound."""
    row = conn.execute(text(
        "SELECT id, name, role, agency, phone, phone_public, community_code, street_code, "
        "coalesce(attrs->>'active', 'true') <> 'false' AS active FROM staff WHERE id = :id"),
        {"id": staff_id}).mappings().first()
    if row is None:
        raise NotFound(f"staff {staff_id!r} does not exist")
    return dict(row)


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


def _close_all(conn: Connection, staff_id: str, changed_by: str) -> dict:
    """Close every open post and officer link of a person."""
    counts = {}
    for table, key in (("staff_post", "posts"), ("officer_link", "officer_links")):
        counts[key] = conn.execute(text(
            f"UPDATE {table} SET valid_to = clock_timestamp(), changed_by = :by "
            "WHERE staff_id = :id AND valid_to IS NULL"), {"id": staff_id, "by": changed_by}).rowcount
    return counts


# ---------------------------------------------------------------- reads for the API


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
