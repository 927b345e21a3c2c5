"""Posts (staff_post) opened, changed and closed one at a time; a closed row stays as history."""

from __future__ import annotations

from sqlalchemy import Connection, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from gridmap.assign.rules import post_stays_in_community
from gridmap.errors import InvalidInput, NotFound
from gridmap.storage.plans import require_plan
from gridmap.storage.schema import building, grid, staff_post
from gridmap.storage.staffing.roster import staff_record
from gridmap.versions import check_version

POST_FIELDS = ("id", "staff_id", "role", "plan", "grid_code", "building_id", "valid_from", "valid_to", "changed_by",
               "replaces_id", "version")


def open_post(conn: Connection, staff_id: str, plan: str, *, changed_by: str, role: str | None = None,
              grid_code: str | None = None, building_id: str | None = None, replaces_id: int | None = None,
              created: list[bool] | None = None) -> dict:
    """Give a person a post on a grid (or building) of ``plan``; role defaults to his roster role.

    Idempotent: the same open post (person, role, plan, grid, building) asked for again is the post
    already held (``created`` gets False appended), even when both requests arrive at once.
    """
    person = staff_record(conn, staff_id)
    role = role or person["role"]
    _check_post(conn, person, role=role, plan=plan, grid_code=grid_code, building_id=building_id)
    post_id = conn.execute(pg_insert(staff_post).values(
        staff_id=staff_id, role=role, plan=plan, grid_code=grid_code, building_id=building_id,
        valid_from=func.clock_timestamp(), changed_by=changed_by, replaces_id=replaces_id)
        .on_conflict_do_nothing().returning(staff_post.c.id)).scalar()
    if created is not None:
        created.append(post_id is not None)
    if post_id is None:
        if replaces_id is not None:
            raise InvalidInput(f"{staff_id} already holds this post; close post {replaces_id} instead")
        post_id = _open_twin(conn, staff_id, role=role, plan=plan, grid_code=grid_code, building_id=building_id)
    return post_record(conn, post_id)


def update_post(conn: Connection, post_id: int, changes: dict, *, changed_by: str,
                expected_version: int | None = None) -> dict:
    """Close an open post and open its successor with ``changes`` (staff_id, role, grid_code, building_id).
    ``expected_version`` is checked under the post's row lock; a post is handed on once."""
    old = _locked(conn, post_id, expected_version)
    new = {k: changes.get(k, old[k]) for k in ("staff_id", "role", "grid_code", "building_id")}
    _close(conn, post_id, changed_by=changed_by)
    return {"closed": post_record(conn, post_id),
            "post": open_post(conn, new["staff_id"], old["plan"], changed_by=changed_by, role=new["role"],
                              grid_code=new["grid_code"], building_id=new["building_id"], replaces_id=post_id)}


def close_post(conn: Connection, post_id: int, *, changed_by: str, expected_version: int | None = None) -> dict:
    """End an open post now; the row stays as history."""
    _locked(conn, post_id, expected_version)
    _close(conn, post_id, changed_by=changed_by)
    return post_record(conn, post_id)


def _close(conn: Connection, post_id: int, *, changed_by: str) -> None:
    conn.execute(update(staff_post).where(staff_post.c.id == post_id)
                 .values(valid_to=func.clock_timestamp(), changed_by=changed_by))


def _locked(conn: Connection, post_id: int, expected_version: int | None) -> dict:
    """The open post under its row lock, at the version the caller saw (412 when stale)."""
    old = post_record(conn, post_id, lock=True)
    check_version(expected_version, old["version"], kind="post")
    if old["valid_to"] is not None:
        raise InvalidInput(f"post {post_id} was closed at {old['valid_to']}; open a new one instead")
    return old


def post_record(conn: Connection, post_id: int, *, lock: bool = False) -> dict:
    p = staff_post.c
    query = select(*(p[f] for f in POST_FIELDS)).where(p.id == post_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound(f"post {post_id} does not exist")
    return dict(row)


def _open_twin(conn: Connection, staff_id: str, *, role: str, plan: str, grid_code: str | None,
               building_id: str | None) -> int:
    p = staff_post.c
    return conn.execute(select(p.id).where(
        p.valid_to.is_(None) & (p.staff_id == staff_id) & (p.role == role) & (p.plan == plan)
        & p.grid_code.is_not_distinct_from(grid_code) & p.building_id.is_not_distinct_from(building_id))).scalar()


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


def _exists(conn: Connection, where) -> bool:
    return bool(conn.execute(select(exists().where(where))).scalar())
