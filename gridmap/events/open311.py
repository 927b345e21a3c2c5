"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) shapes of the catalogue and of events (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from gridmap.domain import AGENCY_ZH, ROLE_ZH
from gridmap.events.rules import open311_status, status_note

SERVICE_FIELDS = ("service_code", "service_name", "description", "metadata", "type", "keywords", "group")
REQUEST_FIELDS = ("service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url")


def service(category: Mapping) -> dict:
    who = AGENCY_ZH.get(category.get("agency")) or ROLE_ZH.get(category.get("role")) or category["responsible"]
    return {"service_code": category["code"], "service_name": category["name"],
            "description": f"{category['name']}：{who}处置，时限 {category['limit_working_days']} 个工作日",
            "metadata": False, "type": "realtime", "keywords": category["code"].replace("_", ","),
            "group": who}


def agency_responsible(event: Mapping) -> str | None:
    person = event.get("assignee") or {}
    if person.get("agency"):
        return AGENCY_ZH.get(person["agency"], person["agency"])
    if event.get("grid", {}).get("code"):
        return f"网格 {event['grid']['code']}"
    return None


def request(event: Mapping, *, service_name: str | None, updated: str | None) -> dict:
    """One service request from an event view (as the caller's role may see it)."""
    return {"service_request_id": str(event["id"]), "status": open311_status(event["status"]),
            "status_notes": status_note(event), "service_name": service_name, "service_code": event["category"],
            "description": event.get("description"), "agency_responsible": agency_responsible(event),
            "service_notice": None, "requested_datetime": event["reported_at"], "updated_datetime": updated,
            "expected_datetime": event.get("due_at"), "address": event.get("address"), "address_id": None,
            "zipcode": None, "lat": event["location"]["lat"], "long": event["location"]["lon"],
            "media_url": (event.get("photos") or [None])[0]}
