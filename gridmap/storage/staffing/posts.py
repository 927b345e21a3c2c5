"""Posts (staff_post) opened, changed and closed one at a time; a closed row stays as history."""

from __future__ import annotations

from sqlalchemy import Connection, text

from gridmap.errors import InvalidInput, NotFound
from gridmap.storage.plans import require_plan
from gridmap.storage.staffing.roster import staff_record


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
