"""Events (事件): the catalogue, reporting, the lifecycle actions with If-Match, statistics, and the timer."""

from __future__ import annotations

import asyncio
import logging
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import ConnDep, RoleDep, coverage_source, get_conn, require
from api.etag import expected_version
from gridmap.errors import InvalidInput
from gridmap.services import events as service
from gridmap.versions import etag

router = APIRouter(prefix="/v1", tags=["events"])
Dispatcher = Depends(require("dispatcher"))
log = logging.getLogger(__name__)


def limits_of(request: Request) -> service.Limits:
    s = request.app.state.settings
    return service.Limits(duplicate_m=s.event_duplicate_m, duplicate_hours=s.event_duplicate_hours,
                          warning_hours=s.event_warning_hours,
                          escalation_working_days=s.event_escalation_working_days)


def actor_of(request: Request, role: str) -> str:
    key = request.headers.get("x-api-key") or request.headers.get("authorization", "")[7:].strip()
    return f"{role}:{key[:7]}" if key else role


def _with_etag(body: dict, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"ETag": etag("event", body["version"])})


def _date(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name}={value!r} is not a date (YYYY-MM-DD)") from None
    if parsed.tzinfo is None:
        from gridmap.events.calendar import CST

        parsed = parsed.replace(tzinfo=CST)
    return parsed


@router.get("/event-categories")
def event_categories(conn: ConnDep) -> list[dict]:
    """The current dispatch catalogue (派单目录): code, name, responsible, limit in working days, version."""
    return service.categories(conn)


@router.post("/events", status_code=201, dependencies=[Dispatcher])
def create_event(request: Request, conn: ConnDep, role: RoleDep,
                 body: Annotated[dict[str, Any], Body(examples=[{"category": "street_vending", "description": "占道",
                                                                  "lon": 120.35, "lat": 31.5, "crs": "wgs84"}])]
                 ) -> JSONResponse:
    """Report an event at a point (lon, lat, crs) or an address: routed to the grid the coverage service gives and
    to the responsible person of the catalogue's role or agency (dispatcher role); a duplicate of an open event
    of the same category nearby is linked to it instead."""
    out = service.create(conn, coverage_source(request, conn), body, role=role, actor=actor_of(request, role),
                         limits=limits_of(request))
    return _with_etag(out, 201)


@router.get("/events/stats")
def event_stats(conn: ConnDep, start: Annotated[str | None, Query(alias="from")] = None,
                to: str | None = None, by: str | None = None) -> dict:
    """Reported, closed, 办结率, 按期办结率, overdue, median hours to close, satisfaction; by grid, community,
    street, category or month."""
    return service.statistics(conn, start=_date(start, "from"), end=_date(to, "to"), by=by)


@router.get("/events", dependencies=[Dispatcher])
def list_events(conn: ConnDep, role: RoleDep, status: str | None = None, grid: str | None = None,
                community: str | None = None, overdue: bool | None = None, limit: int = 100,
                cursor: str | None = None) -> dict:
    """Events newest first, filtered; ``next_cursor`` pages on (dispatcher role)."""
    return service.listing(conn, role=role, status=status, grid=grid, community=community, overdue=overdue,
                           limit=limit, cursor=cursor)


@router.get("/events/{event_id}/status")
def event_status(event_id: int, conn: ConnDep) -> dict:
    """A resident's view of their event by id: state and dates only, no personal data (public)."""
    return service.public_status(conn, event_id)


@router.get("/events/{event_id}")
def get_event(event_id: int, conn: ConnDep, role: RoleDep) -> JSONResponse:
    """An event with its history (the public sees no personal data)."""
    return _with_etag(service.get(conn, event_id, role=role))


@router.post("/events/{event_id}/actions", dependencies=[Dispatcher])
def event_action(event_id: int, request: Request, conn: ConnDep, role: RoleDep,
                 body: Annotated[dict[str, Any], Body(examples=[{"action": "accept", "note": "签收"}])],
                 if_match: Annotated[str | None, Header()] = None) -> JSONResponse:
    """One action of the state table (accept, start, handle, verify, close, callback, return, reassign, extend,
    supervise, escalate, reopen, duplicate) with If-Match: 412 stale, 409 forbidden by the state table."""
    seen = expected_version(if_match, kind="event")
    out = service.act(conn, event_id, body, expected_version=seen, role=role, actor=actor_of(request, role),
                      limits=limits_of(request))
    return _with_etag(out)


# ---------------------------------------------------------------- the timer inside `gridmap serve`


def _opener(app: FastAPI):
    override = app.dependency_overrides.get(get_conn)
    if override is not None:
        return contextmanager(override)
    return app.state.engine.begin


def tick_once(app: FastAPI) -> dict:
    s = app.state.settings
    limits = service.Limits(duplicate_m=s.event_duplicate_m, duplicate_hours=s.event_duplicate_hours,
                            warning_hours=s.event_warning_hours,
                            escalation_working_days=s.event_escalation_working_days)
    with _opener(app)() as conn:
        return service.tick(conn, limits=limits)


async def run_timer(app: FastAPI, interval: float) -> None:
    """Every ``interval`` seconds, one timer pass (warnings, escalations); errors are logged, never fatal."""
    while True:
        await asyncio.sleep(interval)
        try:
            result = await run_in_threadpool(tick_once, app)
            app.state.last_event_tick = result
        except Exception:  # noqa: BLE001 - the timer must outlive a database restart
            log.exception("event timer pass failed")
