"""Editing a plan by hand over HTTP: edits with If-Match, undo/redo, the log, diffs and review.

Every change sends the plan's ETag it saw (``If-Match: "plan-v<n>"``; missing → 428, stale → 412)
and answers 200 with the new ETag and the affected grids (households, violations). A grid
another author's edit holds a lease on → 423 with the holder. Approve and reject need the
approver role; everything else the planner role.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from api.deps import ConnDep, require
from api.etag import expected_version
from api.routes.staffing import ActorDep
from gridmap.errors import InvalidInput
from gridmap.services import editing

router = APIRouter(prefix="/v1/plans", tags=["editing"], dependencies=[Depends(require("planner"))])
pages = APIRouter(prefix="/maps", tags=["maps"], dependencies=[Depends(require("planner"))])
Approver = [Depends(require("approver"))]
IfMatch = Annotated[str | None, Header(description='the plan\'s ETag you saw, e.g. "plan-v3"')]
Codes = list[Annotated[str, Field(min_length=1, max_length=64)]]


class EditRequest(BaseModel):
    """One edit: ``move`` (compounds and buildings ``to`` a grid), ``split`` (``grid`` + ``compounds``),
    ``merge`` / ``rebalance`` / ``lock`` / ``unlock`` (``grids``)."""

    op: Literal["move", "split", "merge", "rebalance", "lock", "unlock"]
    grid: str | None = Field(default=None, pattern=r"^\d{15}$")
    compounds: Codes = Field(default_factory=list, max_length=500)
    buildings: Codes = Field(default_factory=list, max_length=500)
    to: str | None = Field(default=None, pattern=r"^\d{15}$")
    grids: list[Annotated[str, Field(pattern=r"^\d{15}$")]] = Field(default_factory=list, max_length=500)
    reason: str | None = Field(default=None, max_length=2000)


class ReviewRequest(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


def _answer(response: Response, result: dict) -> dict:
    response.headers["ETag"] = result["etag"]
    return result


@router.post("/{plan}/edits")
def edit(plan: str, body: EditRequest, conn: ConnDep, actor: ActorDep, response: Response,
         if_match: IfMatch = None) -> dict:
    """Apply one edit to draft ``plan``; 200 with the new ETag and the affected grids (planner role)."""
    seen = expected_version(if_match, kind="plan")
    if body.op == "move":
        if not body.to:
            raise InvalidInput('a move names its target grid: "to": GRID_CODE')
        result = editing.move(conn, plan, to=body.to, compounds=body.compounds, buildings=body.buildings,
                              author=actor, reason=body.reason, expected_version=seen)
    elif body.op == "split":
        if not body.grid:
            raise InvalidInput('a split names its grid: "grid": GRID_CODE')
        result = editing.split(conn, plan, grid=body.grid, compounds=body.compounds, author=actor,
                               reason=body.reason, expected_version=seen)
    elif body.op == "rebalance":
        result = editing.rebalance(conn, plan, grids=body.grids, author=actor, reason=body.reason,
                                   expected_version=seen)
    elif body.op == "merge":
        result = editing.merge(conn, plan, grids=body.grids, author=actor, reason=body.reason,
                               expected_version=seen)
    else:
        result = editing.set_lock(conn, plan, grids=body.grids, locked=body.op == "lock", author=actor,
                                  reason=body.reason, expected_version=seen)
    return _answer(response, result)


@router.post("/{plan}/undo")
def undo(plan: str, conn: ConnDep, actor: ActorDep, response: Response, if_match: IfMatch = None) -> dict:
    """Revert the latest change (a new version; planner role)."""
    return _answer(response, editing.undo(conn, plan, author=actor,
                                          expected_version=expected_version(if_match, kind="plan")))


@router.post("/{plan}/redo")
def redo(plan: str, conn: ConnDep, actor: ActorDep, response: Response, if_match: IfMatch = None) -> dict:
    """Re-apply the latest undone change (a new version; planner role)."""
    return _answer(response, editing.redo(conn, plan, author=actor,
                                          expected_version=expected_version(if_match, kind="plan")))


@router.get("/{plan}/log")
def log(plan: str, conn: ConnDep, response: Response) -> dict:
    """Who did what to the plan, oldest first, and whether undo and redo are possible."""
    return _answer(response, editing.log(conn, plan))


@router.get("/{plan}/check")
def check(plan: str, conn: ConnDep, response: Response) -> dict:
    """The full rule check of the plan's own grids."""
    return _answer(response, editing.check(conn, plan))


@router.get("/{a}/diff/{b}")
def diff(a: str, b: str, conn: ConnDep) -> dict:
    """Plan ``a`` against ``b`` (plan names, ``current`` or generation ids) over the communities ``b`` covers."""
    return editing.diff(conn, a, b)


@router.post("/{plan}/submit")
def submit(plan: str, conn: ConnDep, actor: ActorDep, response: Response, if_match: IfMatch = None,
           body: ReviewRequest | None = None) -> dict:
    """Hand the plan in for approval; the full rule check is recorded (planner role)."""
    return _answer(response, editing.submit(conn, plan, author=actor, reason=(body or ReviewRequest()).reason,
                                            expected_version=expected_version(if_match, kind="plan",
                                                                              required=False)))


@router.post("/{plan}/approve", dependencies=Approver)
def approve(plan: str, conn: ConnDep, actor: ActorDep, response: Response, if_match: IfMatch = None,
            body: ReviewRequest | None = None) -> dict:
    """Approve a submitted plan (approver role); it may then be published."""
    return _decide(plan, conn=conn, actor=actor, response=response, if_match=if_match, body=body, approve=True)


@router.post("/{plan}/reject", dependencies=Approver)
def reject(plan: str, conn: ConnDep, actor: ActorDep, response: Response, if_match: IfMatch = None,
           body: ReviewRequest | None = None) -> dict:
    """Reject a submitted plan with a reason (approver role)."""
    return _decide(plan, conn=conn, actor=actor, response=response, if_match=if_match, body=body, approve=False)


def _decide(plan: str, *, conn, actor: str, response: Response, if_match: str | None, body: ReviewRequest | None,
            approve: bool) -> dict:
    """The approver's decision on a submitted plan, with the version the caller saw when it sends one."""
    return _answer(response, editing.decide(conn, plan, approve=approve, author=actor,
                                            reason=(body or ReviewRequest()).reason,
                                            expected_version=expected_version(if_match, kind="plan",
                                                                              required=False)))


@router.get("/{plan}/map")
def map_data(plan: str, conn: ConnDep, response: Response,
             bbox: Annotated[str | None, Query(description="west,south,east,north (EPSG:4490)")] = None) -> dict:
    """What the editor draws: grids with households and bounds, compounds, the current generation's outlines."""
    box = None
    if bbox:
        try:
            box = tuple(float(x) for x in bbox.split(","))
        except ValueError:
            box = ()
        if len(box) != 4 or not (box[0] < box[2] and box[1] < box[3]):
            raise InvalidInput(f"bbox {bbox[:80]!r} must be west,south,east,north with west < east, south < north")
    return _answer(response, editing.editor_data(conn, plan, bbox=box))


@pages.get("/editor", response_class=HTMLResponse)
def editor(conn: ConnDep, plan: Annotated[str, Query(description="the draft plan to edit")]) -> HTMLResponse:
    """The plan editor (planner role): pick compounds, a neighbouring grid, move; undo/redo; the log."""
    from gridmap.maps.editor import editor_page
    from gridmap.storage.plans import require_plan

    require_plan(conn, plan)
    return HTMLResponse(editor_page(plan, static_url="/maps/static"))
