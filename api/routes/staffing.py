"""Staffing endpoints: who staffs a grid, an officer's compounds, counts, roster and post edits.

Phones are private unless the person's ``phone_public`` is true: the public
role gets every other phone omitted. Edits need the planner role and are
recorded in the post history (closed rows are never deleted).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.access import check_plan
from api.etag import etag, expected_version
from api.deps import SESSION_COOKIE, ConnDep, RoleDep, api_key_of, require
from gridmap.coverage import privacy
from gridmap.errors import PlanError
from gridmap.domain import ENFORCEMENT_AGENCIES, ROLES
from gridmap.storage import staffing
from gridmap.storage.plans import current_plan, require_plan
from gridmap.services.workflows import assign_scope, scope_of

router = APIRouter(prefix="/v1", tags=["staffing"])
Planner = Depends(require("planner"))
Dispatcher = Depends(require("dispatcher"))
Role = Literal[ROLES]  # type: ignore[valid-type]
IfMatch = Annotated[str | None, Header(description='the ETag you read, e.g. "staff-v3" (required: 428 without, '
                                                   "412 when stale)")]


def get_actor(request: Request, role: RoleDep) -> str:
    """Who makes an edit, for changed_by: the role and the API key's public prefix."""
    key = api_key_of(request)
    return f"{role}:{key[:7]}" if key else (f"{role}:session" if request.cookies.get(SESSION_COOKIE) else role)


ActorDep = Annotated[str, Depends(get_actor)]


class StaffIn(BaseModel):
    """A person on the roster (the interchange staff layer's columns)."""

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    role: Role
    agency: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    phone_public: bool = False
    community_code: str | None = Field(default=None, pattern=r"^\d{12}$")
    street_code: str | None = Field(default=None, pattern=r"^\d{9}$")


class StaffPatch(BaseModel):
    """Fields to change; a new role, agency or home closes the person's posts and links."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    role: Role | None = None
    agency: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    phone_public: bool | None = None
    community_code: str | None = Field(default=None, pattern=r"^\d{12}$")
    street_code: str | None = Field(default=None, pattern=r"^\d{9}$")


class PostIn(BaseModel):
    """A post on a grid or building; plan defaults to the current generation's, role to the person's."""

    role: Role | None = None
    grid_code: str | None = Field(default=None, pattern=r"^\d{15}$")
    building_id: str | None = Field(default=None, max_length=64)
    plan: str | None = Field(default=None, max_length=64)


class PostPatch(BaseModel):
    """Hand the post to someone else or move it: the old row is closed, a new one opened."""

    staff_id: str | None = Field(default=None, min_length=1, max_length=64)
    role: Role | None = None
    grid_code: str | None = Field(default=None, pattern=r"^\d{15}$")
    building_id: str | None = Field(default=None, max_length=64)


class AssignRequest(BaseModel):
    """Which communities to staff, in which plan (default: the current generation's)."""

    district: str | None = None
    street: str | None = None
    community: str | None = None
    plan: str | None = Field(default=None, max_length=64)
    time_limit: float = Field(default=10.0, ge=0, le=600)


# ---------------------------------------------------------------- reads


@router.get("/grids/{code}/staff")
def grid_staff(code: str, conn: ConnDep, role: RoleDep, plan: str | None = None) -> dict:
    """A grid's party branch and secretary, head, workers by role, building chiefs and the
    officers of each compound. The public sees phones only where ``phone_public`` is true."""
    plan = _readable_plan(conn, plan, role)
    found = staffing.grid_staff(conn, plan, code)
    return _grid_view(found, public=role == "public")


@router.get("/officers/{staff_id}/compounds", dependencies=[Dispatcher])
def officer_compounds(staff_id: str, conn: ConnDep) -> dict:
    """The compounds an enforcement officer is linked to now (dispatcher role)."""
    return staffing.officer_compounds(conn, staff_id)


@router.get("/stats")
def stats(conn: ConnDep, role: RoleDep, plan: str | None = None) -> dict:
    """Counts in the style of the source reports: branches, 1+5+N posts, officers, loads, gaps."""
    plan = _readable_plan(conn, plan, role)
    from gridmap.services.events import totals as event_totals

    return {"plan": plan, **staffing.read_assignment(conn, plan).report(), "events": event_totals(conn)}


@router.get("/staff/{staff_id}/history", dependencies=[Dispatcher])
def history(staff_id: str, conn: ConnDep) -> dict:
    """Every post and officer link a person has held, with when and who changed it (dispatcher role)."""
    return staffing.staff_history(conn, staff_id)


# ---------------------------------------------------------------- edits (planner)


@router.get("/staff", dependencies=[Planner])
def list_staff(conn: ConnDep,
               limit: Annotated[int, Query(ge=1, le=1000, description="people per page")] = 100,
               offset: Annotated[int, Query(ge=0, le=10_000_000, description="people to skip")] = 0,
               role: Annotated[Role | None, Query(description="only this role")] = None,
               community_code: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
               street_code: Annotated[str | None, Query(pattern=r"^\d{9}$")] = None,
               agency: Annotated[str | None, Query(max_length=64)] = None,
               q: Annotated[str | None, Query(min_length=1, max_length=100, description="part of a name or id")] = None,
               include_retired: bool = False) -> dict:
    """The roster (花名册), by id, a page at a time with the ``total`` matching the filters (planner role).
    Each person carries ``version``; ``GET /v1/staff/{id}`` gives it as an ETag."""
    return staffing.list_staff(conn, limit=limit, offset=offset, role=role, community_code=community_code,
                               street_code=street_code, agency=agency, active_only=not include_retired, q=q)


@router.get("/staff/{staff_id}", dependencies=[Planner])
def get_staff(staff_id: str, conn: ConnDep, response: Response) -> dict:
    """One person; the ``ETag`` (``"staff-v<n>"``) is what PATCH and DELETE need as If-Match (planner role)."""
    person = staffing.staff_record(conn, staff_id)
    response.headers["ETag"] = etag("staff", person["version"])
    return person


@router.post("/staff", status_code=201, dependencies=[Planner],
             responses={200: {"description": "the same person was sent before: the record made then"}})
def create_staff(body: StaffIn, conn: ConnDep, actor: ActorDep, response: Response) -> dict:
    """Add a person to the roster (planner role). Idempotent by ``id``: the same person sent twice is one
    record (the second answer 200 with it); another person under a used id is a 422."""
    person, created = staffing.create_staff(conn, body.model_dump(), changed_by=actor)
    response.status_code = 201 if created else 200
    response.headers["ETag"] = etag("staff", person["version"])
    return person


@router.patch("/staff/{staff_id}", dependencies=[Planner])
def update_staff(staff_id: str, body: StaffPatch, conn: ConnDep, actor: ActorDep, response: Response,
                 if_match: IfMatch = None) -> dict:
    """Change a person's fields (planner role); needs ``If-Match`` with the person's ETag (428 without,
    412 when someone changed him since)."""
    seen = expected_version(if_match, kind="staff")
    result = staffing.update_staff(conn, staff_id, body.model_dump(exclude_unset=True), changed_by=actor,
                                   expected_version=seen)
    response.headers["ETag"] = etag("staff", result["staff"]["version"])
    return result


@router.delete("/staff/{staff_id}", dependencies=[Planner])
def retire_staff(staff_id: str, conn: ConnDep, actor: ActorDep, response: Response, if_match: IfMatch = None) -> dict:
    """Take a person off the roster; his posts and links are closed, the history kept (planner role;
    ``If-Match`` as for PATCH)."""
    seen = expected_version(if_match, kind="staff")
    result = staffing.retire_staff(conn, staff_id, changed_by=actor, expected_version=seen)
    response.headers["ETag"] = etag("staff", result["staff"]["version"])
    return result


@router.post("/staff/{staff_id}/posts", status_code=201, dependencies=[Planner],
             responses={200: {"description": "the person holds this post already: that post"}})
def open_post(staff_id: str, body: PostIn, conn: ConnDep, actor: ActorDep, response: Response) -> dict:
    """Give a person a post (planner role). Idempotent: the same open post asked for twice is one post
    (the second answer 200 with it)."""
    plan = body.plan or _current(conn)
    created: list[bool] = []
    post = staffing.open_post(conn, staff_id, plan, changed_by=actor, role=body.role, grid_code=body.grid_code,
                              building_id=body.building_id, created=created)
    response.status_code = 201 if created and created[0] else 200
    response.headers["ETag"] = etag("post", post["version"])
    return post


@router.get("/posts/{post_id}", dependencies=[Planner])
def get_post(post_id: Annotated[int, Path(ge=1, le=2**62)], conn: ConnDep, response: Response) -> dict:
    """One post, open or closed, with its ``ETag`` (``"post-v<n>"``) for PATCH and DELETE (planner role)."""
    post = staffing.post_record(conn, post_id)
    response.headers["ETag"] = etag("post", post["version"])
    return post


@router.patch("/posts/{post_id}", dependencies=[Planner])
def update_post(post_id: Annotated[int, Path(ge=1, le=2**62)], body: PostPatch, conn: ConnDep, actor: ActorDep,
                response: Response, if_match: IfMatch = None) -> dict:
    """Close a post and open its successor with the changes (planner role). Needs ``If-Match`` with the
    post's ETag: of two hand-overs made from one ETag, one succeeds and the other gets 412."""
    seen = expected_version(if_match, kind="post")
    result = staffing.update_post(conn, post_id, body.model_dump(exclude_unset=True), changed_by=actor,
                                  expected_version=seen)
    response.headers["ETag"] = etag("post", result["post"]["version"])
    return result


@router.delete("/posts/{post_id}", dependencies=[Planner])
def close_post(post_id: Annotated[int, Path(ge=1, le=2**62)], conn: ConnDep, actor: ActorDep, response: Response,
               if_match: IfMatch = None) -> dict:
    """End a post now; the row stays in the history (planner role; ``If-Match`` as for PATCH)."""
    seen = expected_version(if_match, kind="post")
    post = staffing.close_post(conn, post_id, changed_by=actor, expected_version=seen)
    response.headers["ETag"] = etag("post", post["version"])
    return post


@router.post("/staffing/assign", dependencies=[Planner])
def assign(body: AssignRequest, conn: ConnDep, actor: ActorDep) -> dict:
    """Staff the grids of a scope by rule and store the result (planner role)."""
    scope, code = scope_of(body.district, body.street, body.community)
    return assign_scope(conn, scope, code, plan=body.plan, time_limit=body.time_limit, changed_by=actor)


# ---------------------------------------------------------------- shaping


def _current(conn: Connection) -> str:
    plan = current_plan(conn)
    if plan is None:
        raise PlanError("there is no current generation; name a plan")
    return plan


def _readable_plan(conn: Connection, plan: str | None, role: str) -> str:
    """The plan asked for (default current); drafts are for planners only."""
    if plan is None:
        return _current(conn)
    require_plan(conn, plan)
    check_plan(conn, plan, role)
    return plan


def _person(row: dict | None, public: bool) -> dict | None:
    """A person as shown: the phone only where the caller may see it."""
    if row is None or row.get("staff_id") is None:
        return None
    out = {"id": row["staff_id"], "name": row["name"], "role": row["role"], "agency": row["agency"]}
    if privacy.may_see_phone(row, "public" if public else privacy.PRIVATE_PHONES_FROM):
        out["phone"] = row["phone"]
    return out


def _grid_view(found: dict, public: bool) -> dict:
    posts = found["posts"]
    heads = [_person(p, public) for p in posts if p["post_role"] == "grid_head"]
    workers: dict[str, list[dict]] = {}
    for p in posts:
        if p["post_role"] not in ("grid_head", "building_chief"):
            workers.setdefault(p["post_role"], []).append(_person(p, public))
    groups = {o["building_id"]: o["id"] for o in found["party_orgs"] if o["level"] == "building_group"}
    chiefs = [{"building_id": p["building_id"], "party_group": groups.get(p["building_id"]),
               "chief": _person(p, public)} for p in posts if p["post_role"] == "building_chief"]
    branch = next((o for o in found["party_orgs"] if o["level"] == "grid_branch"), None)
    return {
        "plan": found["plan"],
        "grid": found["grid"],
        "branch": None if branch is None else {
            "id": branch["id"], "name": branch["name"], "secretary": _person(branch["secretary"], public)},
        "head": heads[0] if heads else None,
        "heads": heads,
        "workers": workers,
        "building_chiefs": chiefs,
        "officers": _officers(found["officers"], public),
    }


def _officers(rows: list[dict], public: bool) -> list[dict]:
    """One entry per compound with its officer of each agency (None = uncovered)."""
    out: dict[str, dict] = {}
    for r in rows:
        entry = out.setdefault(r["compound_id"], {
            "compound_id": r["compound_id"], "name": r["compound_name"], "households": r["households"],
            **{a: None for a in ENFORCEMENT_AGENCIES}})
        if r["agency"]:
            entry[r["agency"]] = _person(r, public)
    return list(out.values())
