"""The roster (花名册): people added, changed and retired with their history, and what the API reads."""

from __future__ import annotations

import pandas as pd
from geoalchemy2 import functions as gfunc
from sqlalchemy import Connection, Text, and_, cast, exists, false, func, literal, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql.elements import ColumnElement

from gridmap.errors import InvalidInput, NotFound
from gridmap.versions import check_version
from gridmap.storage.query import jsonb, rows
from gridmap.storage.schema import (
    community,
    compound,
    grid,
    grid_member,
    officer_link,
    party_org,
    staff,
    staff_post,
    street,
)

STAFF_FIELDS = ("id", "name", "role", "agency", "phone", "phone_public", "community_code", "street_code")


def active(attrs: ColumnElement) -> ColumnElement[bool]:
    """On the roster: retiring sets ``attrs.active`` to false and keeps the row for history."""
    return func.coalesce(attrs["active"].astext, "true") != "false"


def stored_codes(conn: Connection) -> tuple[set[str], set[str]]:
    """Codes of the stored communities and streets."""
    comms = set(conn.execute(select(community.c.code)).scalars())
    streets = set(conn.execute(select(street.c.code)).scalars())
    return comms, streets


def write_roster(conn: Connection, roster: pd.DataFrame, *, source: str, commit: bool = True) -> dict:
    """Upsert the roster's people (all or nothing); people not in it are left as they are."""
    from gridmap.interchange import Interchange
    from gridmap.storage.load import write_interchange_data

    people = roster.reset_index(drop=True).assign(active=True)
    report = write_interchange_data(conn, Interchange(layers={"staff": people}, source=source), commit=commit)
    count = report.layers["staff"]
    return {"inserted": count.inserted, "updated": count.updated, "unchanged": count.unchanged,
            "committed": report.committed}


def staff_record(conn: Connection, staff_id: str, *, lock: bool = False) -> dict:
    """One person (with ``active`` and ``version``), or NotFound; ``lock`` takes the row lock."""
    s = staff.c
    query = select(*(s[f] for f in STAFF_FIELDS), active(s.attrs).label("active"), s.version).where(s.id == staff_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound(f"staff {staff_id!r} does not exist")
    return dict(row)


def _locked(conn: Connection, staff_id: str, expected_version: int | None) -> dict:
    """The person under the row lock, checked against the version the caller saw (412 when stale)."""
    person = staff_record(conn, staff_id, lock=True)
    check_version(expected_version, person["version"], kind="staff")
    return person


def list_staff(conn: Connection, *, limit: int, offset: int, role: str | None = None,
               community_code: str | None = None, street_code: str | None = None, agency: str | None = None,
               active_only: bool = True, q: str | None = None) -> dict:
    """A page of the roster (by id) with the total that match the filters."""
    s = staff.c
    where = []
    if role:
        where.append(s.role == role)
    if community_code:
        where.append(s.community_code == community_code)
    if street_code:
        where.append(s.street_code == street_code)
    if agency:
        where.append(s.agency == agency)
    if active_only:
        where.append(active(s.attrs))
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(s.name.ilike(pattern) | s.id.ilike(pattern))
    cond = and_(true(), *where)
    total = conn.execute(select(func.count()).select_from(staff).where(cond)).scalar()
    items = rows(conn, select(*(s[f] for f in STAFF_FIELDS), active(s.attrs).label("active"), s.version)
                 .where(cond).order_by(s.id).limit(limit).offset(offset))
    return {"total": total, "limit": limit, "offset": offset, "items": items}


def create_staff(conn: Connection, person: dict, *, changed_by: str) -> tuple[dict, bool]:
    """Add one person to the roster; ``(record, created)``. The same person sent again (same fields) is
    the record already made (``created`` false), even when both arrive at once; a different person
    under a used id is refused."""
    _check_person(conn, person)
    # ON CONFLICT: a concurrent twin waits for the first insert, then finds the row.
    done = conn.execute(pg_insert(staff).values(**_columns(person), attrs=jsonb({"created_by": changed_by}))
                        .on_conflict_do_nothing(index_elements=["id"])).rowcount
    record = staff_record(conn, person["id"])
    if done:
        return record, True
    wanted = _columns(person)
    if not record["active"] or any(record[k] != wanted[k] for k in STAFF_FIELDS):
        raise InvalidInput(f"id: staff {person['id']!r} already exists with other fields; PATCH it instead "
                           "/ 该编号已存在")
    return record, False


def update_staff(conn: Connection, staff_id: str, changes: dict, *, changed_by: str,
                 expected_version: int | None = None) -> dict:
    """Change a person's fields; a new role, agency or home closes the posts and links he held.
    ``expected_version``: the version the caller saw, checked under the row lock (None: any)."""
    before = _locked(conn, staff_id, expected_version)
    if not before["active"]:
        raise InvalidInput(f"staff {staff_id!r} has left the roster; create a new person instead")
    after = {**before, **changes, "id": staff_id}
    _check_person(conn, after)
    conn.execute(update(staff).where(staff.c.id == staff_id)
                 .values(**_columns(after), attrs=staff.c.attrs.op("||")(jsonb({"updated_by": changed_by}))))
    moved = any(before[k] != after[k] for k in ("role", "agency", "community_code", "street_code"))
    closed = _close_all(conn, staff_id, changed_by=changed_by) if moved else {"posts": 0, "officer_links": 0}
    return {"staff": staff_record(conn, staff_id), "closed": closed}


def retire_staff(conn: Connection, staff_id: str, *, changed_by: str, expected_version: int | None = None) -> dict:
    """Take a person off the roster: posts and links closed, the row kept for history."""
    _locked(conn, staff_id, expected_version)
    closed = _close_all(conn, staff_id, changed_by=changed_by)
    conn.execute(update(party_org).where(party_org.c.secretary_staff_id == staff_id).values(secretary_staff_id=None))
    retired = func.jsonb_build_object("active", false(), "retired_by", cast(literal(changed_by), Text),
                                      "retired_at", func.clock_timestamp())
    conn.execute(update(staff).where(staff.c.id == staff_id).values(attrs=staff.c.attrs.op("||")(retired)))
    return {"staff": staff_record(conn, staff_id), "closed": closed}


def _columns(person: dict) -> dict:  # noqa: D103
    out = {k: person.get(k) or None for k in STAFF_FIELDS}
    out["phone_public"] = bool(person.get("phone_public"))
    return out


def _check_person(conn: Connection, person: dict) -> None:
    from gridmap.interchange.roster import check_person

    check_person(person)
    for col, table in (("community_code", community), ("street_code", street)):
        value = person.get(col)
        if value and not conn.execute(select(exists().where(table.c.code == value))).scalar():
            raise InvalidInput(f"{col}: {value!r} is not a stored {table.name}")


def _close_all(conn: Connection, staff_id: str, *, changed_by: str) -> dict:
    """Close every open post and officer link of a person."""
    counts = {}
    for table, key in ((staff_post, "posts"), (officer_link, "officer_links")):
        held = (table.c.staff_id == staff_id) & table.c.valid_to.is_(None)
        counts[key] = conn.execute(update(table).where(held)
                                   .values(valid_to=func.clock_timestamp(), changed_by=changed_by)).rowcount
    return counts


# ---------------------------------------------------------------- reads for the API


def grid_staff(conn: Connection, plan: str, grid_code: str) -> dict:
    """A grid of ``plan`` with its branch, posts (people) and the officers of each compound."""
    g, o, p, s, lk = grid.c, party_org.c, staff_post.c, staff.c, officer_link.c
    found = conn.execute(select(g.code, g.name, g.community_code, g.households)
                         .where((g.plan == plan) & (g.code == grid_code))).mappings().first()
    if found is None:
        raise NotFound(f"grid {grid_code!r} is not in plan {plan!r}")
    orgs = rows(conn, select(o.id, o.name, o.level, o.building_id, o.secretary_staff_id)
                .where((o.plan == plan) & (o.grid_code == grid_code)).order_by(o.level.desc(), o.id))
    posts = rows(conn, select(p.id.label("post_id"), p.role.label("post_role"), p.building_id, p.valid_from,
                              *_person(s))
                 .join_from(staff_post, staff, s.id == p.staff_id)
                 .where(p.valid_to.is_(None) & (p.plan == plan) & (p.grid_code == grid_code))
                 .order_by(p.role, s.id))
    k = _grid_compounds(plan, grid_code)
    # One "agency": the link's, which is the officer's own (a change of agency closes his links).
    officers = rows(conn, select(k.c.id.label("compound_id"), k.c.name.label("compound_name"), k.c.households,
                                 lk.agency, *(c for c in _person(s) if c.name != "agency"))
                    .select_from(k.outerjoin(officer_link, (lk.compound_id == k.c.id) & lk.valid_to.is_(None))
                                 .outerjoin(staff, s.id == lk.staff_id))
                    .order_by(k.c.id, lk.agency))
    secretaries = _people(conn, {r["secretary_staff_id"] for r in orgs if r["secretary_staff_id"]})
    return {"plan": plan, "grid": dict(found),
            "party_orgs": [{**o, "secretary": secretaries.get(o["secretary_staff_id"])} for o in orgs],
            "posts": posts, "officers": officers}


def _person(s) -> list[ColumnElement]:
    """A person's columns as the API shows them (the id as ``staff_id``)."""
    return [s.id.label("staff_id"), s.name, s.role, s.agency, s.phone, s.phone_public, s.community_code,
            s.street_code]


def _grid_compounds(plan: str, grid_code: str):
    """Compounds of a grid: the plan's members, or (a plan imported without members) those whose
    inner point lies in the grid."""
    k, m, g = compound.c, grid_member.c, grid.c
    members = select(m.compound_id).where((m.plan == plan) & (m.grid_code == grid_code))
    no_members = ~exists().where(m.plan == plan)
    covers = exists().where((g.plan == plan) & (g.code == grid_code)
                            & gfunc.ST_Covers(g.geom, gfunc.ST_PointOnSurface(k.geom)))
    return select(k.id, k.name, k.households).where(k.id.in_(members) | (no_members & covers)).subquery("k")


def _people(conn: Connection, ids: set[str]) -> dict[str, dict]:
    found = rows(conn, select(*_person(staff.c)).where(staff.c.id.in_(sorted(ids))))
    return {r["staff_id"]: r for r in found}


def officer_compounds(conn: Connection, staff_id: str) -> dict:
    """An officer and the compounds linked to him now."""
    person = staff_record(conn, staff_id)
    k, lk = compound.c, officer_link.c
    linked = rows(conn, select(k.id.label("compound_id"), k.name, k.community_code, k.households, lk.agency,
                               lk.valid_from)
                  .join_from(officer_link, compound, k.id == lk.compound_id)
                  .where((lk.staff_id == staff_id) & lk.valid_to.is_(None)).order_by(k.id))
    return {"officer": person, "compounds": linked}


def staff_history(conn: Connection, staff_id: str) -> dict:
    """Every post and officer link a person has held, open or closed, oldest first."""
    person = staff_record(conn, staff_id)
    p, lk = staff_post.c, officer_link.c
    posts = rows(conn, select(p.id, p.role, p.plan, p.grid_code, p.building_id, p.valid_from, p.valid_to,
                              p.changed_by).where(p.staff_id == staff_id).order_by(p.valid_from, p.id))
    links = rows(conn, select(lk.id, lk.agency, lk.compound_id, lk.valid_from, lk.valid_to, lk.changed_by)
                 .where(lk.staff_id == staff_id).order_by(lk.valid_from, lk.id))
    return {"staff": person, "posts": posts, "officer_links": links}
