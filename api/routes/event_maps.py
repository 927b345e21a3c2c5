"""The events pages: the dispatcher map (/maps/events), its data, and an event's page with its history."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from api.deps import ConnDep, RoleDep, require
from gridmap.errors import NotFound
from gridmap.maps.events import event_page, events_map_page, my_event_page
from gridmap.services import events as service
from gridmap.storage import events as store

router = APIRouter(prefix="/maps", tags=["maps"])
STATIC_URL = "/maps/static"


@router.get("/events", response_class=HTMLResponse)
def events_map() -> HTMLResponse:
    """Dispatcher map: events by state, overdue in red, counts per grid (its data needs the dispatcher role)."""
    return HTMLResponse(events_map_page(static_url=STATIC_URL))


@router.get("/events.json", dependencies=[Depends(require("dispatcher"))])
def events_map_data(conn: ConnDep, role: RoleDep, status: str | None = None, grid: str | None = None,
                    community: str | None = None, overdue: bool | None = None, limit: int = 1000) -> dict:
    found = service.listing(conn, role=role, status=status, grid=grid, community=community, overdue=overdue,
                            limit=limit)["events"]
    return {"events": [{"id": e["id"], "status": e["status"], "status_zh": e["status_zh"], "category": e["category"],
                        "overdue": e["overdue"], "grid": e["grid"]["code"], "lon": e["location"]["lon"],
                        "lat": e["location"]["lat"]} for e in found],
            "counts": store.counts_by_grid(conn)}


@router.get("/my-event", response_class=HTMLResponse)
def my_event(conn: ConnDep, id: str | None = None) -> HTMLResponse:
    """Public: a resident's own event status by its id (state, category, grid, dates; no personal data)."""
    if id is None or not id.strip():
        return HTMLResponse(my_event_page(None, asked=None))
    if not id.strip().isdigit():
        return HTMLResponse(my_event_page(None, asked=id, detail="事件编号应为数字 — the event id is a number"),
                            status_code=422)
    try:
        return HTMLResponse(my_event_page(service.public_status(conn, int(id)), asked=id))
    except NotFound as exc:
        return HTMLResponse(my_event_page(None, asked=id, detail=exc.detail), status_code=404)


@router.get("/events/{event_id}", response_class=HTMLResponse)
def event_html(event_id: int, conn: ConnDep, role: RoleDep) -> HTMLResponse:
    """An event with its history; the public sees its state and dates only."""
    return HTMLResponse(event_page(service.get(conn, event_id, role=role)))
