"""Open311 GeoReport v2 at /open311/v2/ so that existing civic clients can report and follow events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request

from api.deps import ConnDep, coverage_source
from api.routes.events import limits_of
from gridmap.domain import ROLE_RANK
from gridmap.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from gridmap.events import open311
from gridmap.services import events as service

router = APIRouter(prefix="/open311/v2", tags=["open311"])
SPEC = "http://wiki.open311.org/GeoReport_v2"


def _role(conn, key: str | None) -> str:
    from gridmap.storage.keys import role_for_key

    return role_for_key(conn, key) if key else "public"


def _names(conn) -> dict[str, str]:
    return {c["code"]: c["name"] for c in service.categories(conn)}


@router.get("/discovery.json")
def discovery(request: Request) -> dict:
    base = str(request.base_url).rstrip("/") + "/open311/v2/"
    return {"changeset": "2026-12-02T00:00:00+08:00", "contact": "gridmap 指挥中心",
            "key_service": "gridmap keys create --role dispatcher",
            "endpoints": [{"specification": SPEC, "url": base, "changeset": "2026-12-02T00:00:00+08:00",
                           "type": "production", "formats": ["application/json"]}]}


@router.get("/services.json")
def services(conn: ConnDep) -> list[dict]:
    return [open311.service(c) for c in service.categories(conn)]


@router.get("/services/{code}.json")
def service_definition(code: str, conn: ConnDep) -> dict:
    if code not in _names(conn):
        raise NotFound(f"no service {code}")
    return {"service_code": code, "attributes": []}


def _request(conn, event: dict, names: dict) -> dict:
    updated = event["history"][-1]["at"] if event.get("history") else event["reported_at"]
    return open311.request(event, service_name=names.get(event["category"]), updated=updated)


@router.get("/requests.json")
def requests(conn: ConnDep, service_request_id: str | None = None, service_code: str | None = None,
             status: str | None = None, api_key: str | None = None,
             limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict]:
    role = _role(conn, api_key)
    names = _names(conn)
    if service_request_id:
        ids = [int(i) for i in service_request_id.split(",") if i.strip().isdigit()]
        found = [service.get(conn, i, role=role) for i in ids]
    else:
        found = service.listing(conn, role=role, limit=limit)["events"]
    out = [_request(conn, e, names) for e in found]
    if service_code:
        out = [r for r in out if r["service_code"] in service_code.split(",")]
    if status:
        out = [r for r in out if r["status"] in status.split(",")]
    return out


@router.post("/requests.json", status_code=201)
def post_request(request: Request, conn: ConnDep, api_key: Annotated[str | None, Form()] = None,
                 service_code: Annotated[str | None, Form()] = None,
                 lat: Annotated[float | None, Form()] = None, long: Annotated[float | None, Form()] = None,
                 address_string: Annotated[str | None, Form()] = None,
                 description: Annotated[str | None, Form()] = None,
                 first_name: Annotated[str | None, Form()] = None, last_name: Annotated[str | None, Form()] = None,
                 phone: Annotated[str | None, Form()] = None, media_url: Annotated[str | None, Form()] = None
                 ) -> list[dict]:
    if not api_key:
        raise Unauthorized("api_key is required to post a service request")
    role = _role(conn, api_key)
    if ROLE_RANK[role] < ROLE_RANK["dispatcher"]:
        raise Forbidden("this api_key may not post requests")
    if not service_code:
        raise InvalidInput("service_code is required")
    body = {"category": service_code, "description": description or service_code, "channel": "open311",
            "reporter_name": " ".join(p for p in (last_name, first_name) if p) or None, "reporter_phone": phone,
            "photos": [media_url] if media_url else []}
    if lat is not None and long is not None:
        body.update(lon=long, lat=lat, crs="wgs84")
    else:
        body["address"] = address_string
    out = service.create(conn, coverage_source(request, conn), body, role=role, actor=f"open311:{api_key[:7]}",
                         limits=limits_of(request))
    return [{"service_request_id": str(out["id"]), "service_notice": None, "account_id": None}]


@router.get("/requests/{request_id}.json")
def one_request(request_id: int, conn: ConnDep, api_key: str | None = None) -> list[dict]:
    role = _role(conn, api_key)
    return [_request(conn, service.get(conn, request_id, role=role), _names(conn))]
