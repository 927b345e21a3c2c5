"""Routing (派单): who an event goes to, from the coverage answer of its point and the catalogue line.

An agency's event goes to the officer the compound is linked to (属地兜底, one per agency); a grid
role's to the grid's post of that role. Where that is empty: the community's staff of the role or
agency, then the street's, then the street's holder (its party secretary); the answer says which
(``fallback``: None, ``"community"``, ``"street"``, ``"street_holder"``). Escalation climbs
grid → community → street → district, each level's holder taking the event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gridmap.events.catalogue import Category

LEVELS = ("grid", "community", "street", "district")
LEVEL_ZH = {"grid": "网格", "community": "社区", "street": "街道", "district": "区"}
#: Who holds a level when the event is escalated to it (its party secretary, else a community worker).
HOLDER_ROLES = ("party_secretary", "community_worker")
#: The district level is the command centre (指挥中心), not a person in the staff table.
DISTRICT_HOLDER = {"id": None, "name": "区网格化服务管理中心", "role": "command_centre", "agency": None}


@dataclass(frozen=True)
class Routed:
    assignee: dict | None
    fallback: str | None


def person(row: Mapping | None) -> dict | None:
    if not row:
        return None
    return {"id": row.get("id"), "name": row.get("name"), "role": row.get("role"), "agency": row.get("agency")}


def _matches(row: Mapping, cat: Category) -> bool:
    if cat.agency is not None:
        return row.get("agency") == cat.agency
    return row.get("role") == cat.role


def _first(rows: Sequence[Mapping], cat: Category) -> Mapping | None:
    found = sorted((r for r in rows if _matches(r, cat)), key=lambda r: str(r.get("id")))
    return found[0] if found else None


def in_grid(answer: Mapping, cat: Category) -> Mapping | None:
    """The grid's own responsible person: the compound's officer, or the grid's post of the role."""
    if cat.agency is not None:
        linked = (answer.get("officers") or {}).get(cat.agency) or []
        return linked[0] if linked else None
    staff = answer.get("staff") or {}
    if cat.role == "grid_head":
        return staff.get("grid_head")
    if cat.role == "volunteer":
        rows = staff.get("volunteers") or []
    else:
        rows = (staff.get("workers") or {}).get(cat.role) or []
    return rows[0] if rows else None


def holder(rows: Sequence[Mapping]) -> Mapping | None:
    """The holder of a level among its staff: the party secretary, else a community worker."""
    for role in HOLDER_ROLES:
        found = sorted((r for r in rows if r.get("role") == role), key=lambda r: str(r.get("id")))
        if found:
            return found[0]
    return None


def route(answer: Mapping, cat: Category, *, community_staff: Sequence[Mapping],
          street_staff: Sequence[Mapping]) -> Routed:
    """The assignee of a new event and the fallback used (None when the grid itself had one)."""
    chain = ((None, lambda: in_grid(answer, cat)),
             ("community", lambda: _first(community_staff, cat)),
             ("street", lambda: _first(street_staff, cat)),
             ("street_holder", lambda: holder(street_staff)))
    for fallback, find in chain:
        found = find()
        if found:
            return Routed(person(found), fallback)
    return Routed(dict(DISTRICT_HOLDER), "district")


def next_level(level: str) -> str | None:
    k = LEVELS.index(level)
    return LEVELS[k + 1] if k + 1 < len(LEVELS) else None


def escalation_holder(level: str, *, community_staff: Sequence[Mapping], street_staff: Sequence[Mapping]) -> dict:
    """Who takes an event escalated to ``level`` (community, street, district); a missing holder passes up."""
    if level == "community":
        found = holder(community_staff) or holder(street_staff)
        if found:
            return person(found)
    if level in ("community", "street"):
        found = holder(street_staff)
        if found:
            return person(found)
    return dict(DISTRICT_HOLDER)
