"""Posts (staff_post) opened, changed and closed one at a time; a closed row stays as history."""

from __future__ import annotations

from sqlalchemy import Connection, exists, func, insert, select, update

from gridmap.assign.rules import post_stays_in_community
from gridmap.errors import InvalidInput, NotFound
from gridmap.storage.plans import require_plan
from gridmap.storage.schema import building, grid, staff_post
from gridmap.storage.staffing.roster import staff_record

POST_FIELDS = ("id", "staff_id", "role", "plan", "grid_code", "building_id", "valid_from", "valid_to", "changed_by")


def open_post(conn: Connection, staff_id: str, plan: str, *, changed_by: str, role: str | None = None,
              grid_code: str | None = None, building_id: str | None = None) -> dict:
    """Give a person a post on a grid (or building) of ``plan``; role defaults to his roster role."""
    person = staff_record(conn, staff_id)
    role = role or person["role"]
    _check_post(conn, person, role=role, plan=plan, grid_code=grid_code, building_id=building_id)
    post_id = conn.execute(insert(staff_post).values(
        staff_id=staff_id, role=role, plan=plan, grid_code=grid_code, building_id=building_id,
        valid_from=func.clock_timestamp(), changed_by=changed_by).returning(staff_post.c.id)).scalar()
    return post_record(conn, post_id)


def update_post(conn: Connection, post_id: int, changes: dict, *, changed_by: str) -> dict:
    """Close an open post and open its successor with ``changes`` (staff_id, role, grid_code, building_id)."""
    old = post_record(conn, post_id)
    if old["valid_to"] is not None:
        raise InvalidInput(f"post {post_id} was closed at {old['valid_to']}; open a new one instead")
    new = {k: changes.get(k, old[k]) for k in ("staff_id", "role", "grid_code", "building_id")}
    close_post(conn, post_id, changed_by=changed_by)
    return {"closed": post_record(conn, post_id),
            "post": open_post(conn, new["staff_id"], old["plan"], changed_by=changed_by, role=new["role"],
                              grid_code=new["grid_code"], building_id=new["building_id"])}


def close_post(conn: Connection, post_id: int, *, changed_by: str) -> dict:
    """End an open post now; the row stays as history."""
    old = post_record(conn, post_id)
    if old["valid_to"] is not None:
        raise InvalidInput(f"post {post_id} was already closed at {old['valid_to']}")
    conn.execute(update(staff_post).where(staff_post.c.id == post_id)
                 .values(valid_to=func.clock_timestamp(), changed_by=changed_by))
    return post_record(conn, post_id)


def post_record(conn: Connection, post_id: int) -> dict:
    p = staff_post.c
    row = conn.execute(select(*(p[f] for f in POST_FIELDS)).where(p.id == post_id)).mappings().first()
    if row is None:
        raise NotFound(f"post {post_id} does not exist")
    return dict(row)


def _check_post(conn: Connection, person: dict, *, role: str, plan: str, grid_code: str | None,
                building_id: str | None) -> None:
    from gridmap.domain import ROLES

    if not person["active"]:
        raise InvalidInput(f"staff_id: {person['id']!r} has left the roster")
    if role not in ROLES:
        raise InvalidInput(f"role: {role!r} is not a role; allowed: {list(ROLES)}")
    require_plan(conn, plan)
    if grid_code is None and building_id is None:
        raise InvalidInput("grid_code: name a grid or a building for the post")
    if grid_code is not None:
        community = conn.execute(select(grid.c.community_code)
                                 .where((grid.c.plan == plan) & (grid.c.code == grid_code))).scalar()
        if community is None:
            raise InvalidInput(f"grid_code: {grid_code!r} is not a grid of plan {plan!r}")
        if not post_stays_in_community(person["community_code"], community):
            raise InvalidInput(f"grid_code: {grid_code} is in community {community}, but {person['id']} "
                               f"belongs to {person['community_code'] or 'a street pool'} "
                               "(posts stay in the community)")
    if building_id is not None and not _exists(conn, building.c.id == building_id):
        raise InvalidInput(f"building_id: {building_id!r} does not exist")
    p = staff_post.c
    same = conn.execute(select(p.id).where(
        p.valid_to.is_(None) & (p.staff_id == person["id"]) & (p.role == role) & (p.plan == plan)
        & p.grid_code.is_not_distinct_from(grid_code) & p.building_id.is_not_distinct_from(building_id))).scalar()
    if same:
        raise InvalidInput(f"{person['id']} already holds this post (post {same})")


def _exists(conn: Connection, where) -> bool:
    return bool(conn.execute(select(exists().where(where))).scalar())
