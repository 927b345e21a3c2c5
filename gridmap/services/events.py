"""The dispatcher's closed loop (事件闭环): report → route → dispatch → … → close → callback, with the timer.

Orchestration only: the rules are in :mod:`gridmap.events` (catalogue, calendar, state table, routing,
duplicates, rates), the SQL in :mod:`gridmap.storage.events`, and the grid of a point or address comes
from THE coverage service (:func:`gridmap.services.coverage.lookup`), so an event lands in the grid
``/v1/lookup`` gives for its point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection

from gridmap.coverage.privacy import may_see_phone
from gridmap.errors import InvalidInput, InvalidTransition
from gridmap.events import lifecycle, routing
from gridmap.events.calendar import WorkCalendar
from gridmap.events.catalogue import Category, from_row
from gridmap.events.rules import CHANNELS, open311_status, rates
from gridmap.services.coverage import Query, Source, lookup
from gridmap.storage import events as store
from gridmap.versions import etag

MAX_DESCRIPTION = 2000
MAX_PHOTOS = 10


@dataclass(frozen=True)
class Limits:
    """The settings events run by (``gridmap.config.Settings.event_*``)."""

    duplicate_m: float = 50.0
    duplicate_hours: float = 72.0
    warning_hours: float = 4.0
    escalation_working_days: int = 1


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


# ---------------------------------------------------------------- catalogue


def categories(conn: Connection) -> list[dict]:
    version, found = store.catalogue(conn)
    return [from_row(r).as_dict(version) for r in found]


def category_of(conn: Connection, code: str, version: int | None = None) -> tuple[int, Category]:
    version, found = store.catalogue(conn, version)
    for r in found:
        if r["code"] == code:
            return version, from_row(r)
    known = ", ".join(r["code"] for r in found)
    raise InvalidInput(f"未知事件类别 {code!r} — unknown category {code!r}; one of {known}")


def import_catalogue(conn: Connection, cats: list[Category], *, created_by: str | None = None,
                     note: str | None = None) -> int:
    return store.save_catalogue(conn, [{"code": c.code, "name": c.name, "role": c.role, "agency": c.agency,
                                        "limit_working_days": c.limit_working_days} for c in cats],
                                created_by=created_by, note=note)


def work_calendar(conn: Connection) -> WorkCalendar:
    return WorkCalendar.of(store.calendar_days(conn))


# ---------------------------------------------------------------- views


def view(row: Mapping, *, role: str, history: list[dict] | None = None, now: datetime | None = None) -> dict:
    """An event as a caller of ``role`` may see it: the reporter's phone only where the privacy rule allows."""
    now = now or now_utc()
    due = row.get("due_at")
    overdue = bool(due is not None and row["status"] not in lifecycle.FINAL and due < now)

    def reporter(name, phone) -> dict | None:
        if name is None and phone is None:
            return None
        person = {"name": name, "phone": phone, "phone_public": False}
        return {"name": name, "phone": phone if may_see_phone(person, role) else None}

    out = {
        "id": int(row["id"]),
        "status": row["status"],
        "status_zh": lifecycle.STATUS_ZH[row["status"]],
        "category": row["category"],
        "catalogue_version": row["catalogue_version"],
        "description": row["description"],
        "channel": row["channel"],
        "address": row.get("address"),
        "location": {"lon": round(float(row["lon"]), 7), "lat": round(float(row["lat"]), 7), "crs": "EPSG:4490",
                     "input": (row.get("location") or {}).get("input")},
        "grid": {"code": row.get("grid_code"), "plan": row.get("plan")},
        "community": {"code": row.get("community_code")},
        "street": {"code": row.get("street_code")},
        "compound_id": row.get("compound_id"),
        "level": row["level"],
        "assignee": row.get("assignee"),
        "fallback": row.get("fallback"),
        "reported_at": _iso(row["reported_at"]),
        "dispatched_at": _iso(row.get("dispatched_at")),
        "due_at": _iso(due),
        "overdue": overdue,
        "warned_at": _iso(row.get("warned_at")),
        "escalations": row.get("escalations", 0),
        "closed_at": _iso(row.get("closed_at")),
        "closed_on_time": row.get("closed_on_time"),
        "satisfaction": row.get("satisfaction"),
        "supervised": row.get("supervised", False),
        "reopened": row.get("reopened", 0),
        "duplicate_of": row.get("duplicate_of"),
        "photos": row.get("photos") or [],
        "reporter": reporter(row.get("reporter_name"), row.get("reporter_phone")),
        "reporters": [reporter(r.get("name"), r.get("phone")) for r in (row.get("reporters") or [])],
        "version": row["version"],
        "etag": etag("event", row["version"]),
    }
    if role == "public":  # no personal data: neither reporters nor the people it is assigned to
        for key in ("reporter", "reporters", "assignee", "description", "address", "photos", "compound_id"):
            out.pop(key)
    if history is not None:
        out["history"] = [{"action": h["action"], "action_zh": lifecycle.ACTION_ZH.get(h["action"], h["action"]),
                           "from_status": h["from_status"], "to_status": h["to_status"],
                           "by": None if role == "public" else h["actor"], "role": h["role"], "at": _iso(h["at"]),
                           "note": None if role == "public" else h["note"],
                           "data": {} if role == "public" else h["data"]} for h in history]
    return out


def public_status(conn: Connection, event_id: int) -> dict:
    """What a resident may see of their own event by its id: state, category, grid, dates; no personal data."""
    row = store.get_event(conn, event_id)
    return {"id": int(row["id"]), "status": row["status"], "status_zh": lifecycle.STATUS_ZH[row["status"]],
            "open311_status": open311_status(row["status"]), "category": row["category"],
            "grid": {"code": row.get("grid_code")}, "reported_at": _iso(row["reported_at"]),
            "due_at": _iso(row.get("due_at")), "closed_at": _iso(row.get("closed_at"))}


def _iso(value) -> str | None:
    return None if value is None else value.isoformat()


def get(conn: Connection, event_id: int, *, role: str) -> dict:
    return view(store.get_event(conn, event_id), role=role, history=store.history(conn, event_id))


def listing(conn: Connection, *, role: str, status: str | None = None, grid: str | None = None,
            community: str | None = None, overdue: bool | None = None, limit: int = 100,
            cursor: str | None = None) -> dict:
    if status is not None:
        bad = [s for s in status.split(",") if s not in lifecycle.STATUSES]
        if bad:
            raise InvalidInput(f"status {', '.join(bad)} unknown; one of {', '.join(lifecycle.STATUSES)}")
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be 1–1000")
    after = None
    if cursor is not None:
        if not str(cursor).isdigit():
            raise InvalidInput(f"cursor {cursor!r} is not one this API gave (an event id)")
        after = int(cursor)
    found = store.list_events(conn, status=status, grid=grid, community=community, overdue=overdue,
                              limit=limit + 1, after=after)
    more = len(found) > limit
    found = found[:limit]
    return {"events": [view(r, role=role) for r in found],
            "next_cursor": str(found[-1]["id"]) if more and found else None}


# ---------------------------------------------------------------- creation


def _location_query(body: Mapping) -> Query:
    address = body.get("address")
    lon, lat = body.get("lon"), body.get("lat")
    if address is None and (lon is None or lat is None):
        raise InvalidInput("事件须有位置：lon、lat（和 crs）或 address — give lon, lat and crs, or address")
    if address is None:
        try:
            lon, lat = float(lon), float(lat)
        except (TypeError, ValueError):
            raise InvalidInput("lon and lat must be numbers") from None
    return Query(lon=lon, lat=lat, crs=body.get("crs"), address=address)


def _validated(body: Mapping) -> dict:
    description = str(body.get("description") or "").strip()
    if not description:
        raise InvalidInput("事件须有描述 — description is required")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"description has {len(description)} characters; at most {MAX_DESCRIPTION}")
    channel = body.get("channel") or "hotline"
    if channel not in CHANNELS:
        raise InvalidInput(f"channel {channel!r}: one of {', '.join(CHANNELS)}")
    photos = body.get("photos") or []
    if not isinstance(photos, list) or len(photos) > MAX_PHOTOS \
            or not all(isinstance(p, str) and p.startswith(("http://", "https://")) for p in photos):
        raise InvalidInput(f"photos must be a list of at most {MAX_PHOTOS} http(s) URLs")
    return {"description": description, "channel": channel, "photos": photos}


def create(conn: Connection, source: Source, body: Mapping, *, role: str, actor: str | None = None,
           limits: Limits = Limits(), now: datetime | None = None) -> dict:
    """Report an event: locate it through the coverage service, link it to an open duplicate nearby or route
    and dispatch it with its due time; the created event as ``role`` may see it."""
    now = now or now_utc()
    version, cat = category_of(conn, str(body.get("category") or ""))
    fields = _validated(body)
    answer = lookup(source, _location_query(body), role="admin")
    loc = answer["location"]
    lon, lat = float(loc["lon"]), float(loc["lat"])
    reporter = {"name": body.get("reporter_name"), "phone": body.get("reporter_phone")}
    base = {
        "category": cat.code, "catalogue_version": version, **fields,
        "address": body.get("address"), "location": {"input": loc.get("input"), "method": loc.get("method")},
        "reporter_name": reporter["name"], "reporter_phone": reporter["phone"], "reported_at": now,
        "plan": answer["grid"]["plan"], "generation_id": (answer["grid"].get("generation") or {}).get("id"),
        "grid_code": answer["grid"]["code"], "community_code": (answer.get("community") or {}).get("code"),
        "street_code": (answer.get("street") or {}).get("code"),
        "compound_id": (answer.get("compound") or {}).get("id"),
    }
    first = store.find_duplicate(conn, category=cat.code, lon=lon, lat=lat, at=now, metres=limits.duplicate_m,
                                 hours=limits.duplicate_hours)
    if first is not None:
        original = store.get_event(conn, first)
        event_id = store.insert_event(conn, {**base, "status": "duplicate", "duplicate_of": first,
                                             "assignee": original.get("assignee"),
                                             "assignee_id": original.get("assignee_id"),
                                             "fallback": original.get("fallback")}, lon=lon, lat=lat)
        if reporter["name"] or reporter["phone"]:
            store.add_reporter(conn, first, {**reporter, "event_id": event_id})
        store.record(conn, event_id, action="report", from_status=None, to_status="reported", actor=actor, role=role,
                     at=now)
        store.record(conn, event_id, action="duplicate", from_status="reported", to_status="duplicate", actor=actor,
                     role=role, at=now, note=f"与事件 {first} 重复 — duplicate of event {first}",
                     data={"duplicate_of": first})
    else:
        routed = routing.route(answer, cat, community_staff=_staff(conn, community=base["community_code"]),
                               street_staff=_staff(conn, street=base["street_code"]))
        due = work_calendar(conn).add_working_days(now, cat.limit_working_days)
        event_id = store.insert_event(conn, {**base, "status": "dispatched", "assignee": routed.assignee,
                                             "assignee_id": (routed.assignee or {}).get("id"),
                                             "fallback": routed.fallback, "dispatched_at": now, "due_at": due},
                                      lon=lon, lat=lat)
        store.record(conn, event_id, action="report", from_status=None, to_status="reported", actor=actor, role=role,
                     at=now)
        store.record(conn, event_id, action="dispatch", from_status="reported", to_status="dispatched", actor=actor,
                     role=role, at=now, note=_routing_note(cat, routed),
                     data={"assignee": routed.assignee, "fallback": routed.fallback,
                           "limit_working_days": cat.limit_working_days})
    return view(store.get_event(conn, event_id), role=role, now=now)


def _staff(conn: Connection, *, community: str | None = None, street: str | None = None) -> list[dict]:
    if community is None and street is None:
        return []
    return store.level_staff(conn, community_code=community, street_code=street)


def _routing_note(cat: Category, routed: routing.Routed) -> str:
    who = (routed.assignee or {}).get("name")
    if routed.fallback is None:
        return f"派单至 {who}（{cat.responsible}）— dispatched to {who} ({cat.responsible})"
    return (f"网格内无{cat.responsible}，按属地兜底派至{routing.LEVEL_ZH.get(routed.fallback.split('_')[0], '')} "
            f"{who} — no {cat.responsible} in the grid; fallback {routed.fallback}: {who}")


# ---------------------------------------------------------------- actions


def act(conn: Connection, event_id: int, body: Mapping, *, expected_version: int | None, role: str,
        actor: str | None = None, limits: Limits = Limits(), now: datetime | None = None) -> dict:
    """Take one action of the state table on an event (under its row lock); the event after it."""
    now = now or now_utc()
    action = str(body.get("action") or "")
    row = store.lock_event(conn, event_id, expected_version=expected_version)
    by = body.get("by") or actor
    data = {k: v for k, v in body.items() if k not in ("action", "note", "by")}
    step = lifecycle.transition(row, action, by=by, data=body)
    changes: dict = {"status": step.to_status}
    calendar = work_calendar(conn)
    extra: dict = {}
    if "handled_by" in step.changes:
        changes["handled_by"] = step.changes["handled_by"]
    if step.changes.get("closed") is True:
        changes["closed_at"] = now
        changes["closed_on_time"] = row["due_at"] is None or now <= row["due_at"]
    elif step.changes.get("closed") is False:
        changes["closed_at"] = None
        changes["closed_on_time"] = None
    if "satisfaction" in step.changes:
        changes["satisfaction"] = step.changes["satisfaction"]
    if step.changes.get("reopened"):
        changes["reopened"] = row["reopened"] + 1
        changes["closed_at"] = None
        changes["closed_on_time"] = None
    if step.changes.get("supervised"):
        changes["supervised"] = True
    if action == "reassign":
        person = routing.person(store.staff_person(conn, str(body["assignee_id"])))
        changes.update(assignee=person, assignee_id=person["id"], fallback="reassigned")
        extra["assignee"] = person
    if action == "return":
        extra["returned_by"] = row.get("assignee")
    if step.changes.get("redispatch"):
        _, cat = category_of(conn, row["category"], row["catalogue_version"])
        changes.update(dispatched_at=now, due_at=calendar.add_working_days(now, cat.limit_working_days),
                       warned_at=None)
        extra["due_at"] = changes["due_at"].isoformat()
    if action == "extend":
        base = max(row["due_at"], now) if row["due_at"] is not None else now
        changes.update(due_at=calendar.add_working_days(base, step.changes["extend_days"]), warned_at=None)
        extra.update(due_at=changes["due_at"].isoformat(), approved_by=body.get("approved_by"))
    if action == "escalate":
        changes.update(_escalation(conn, row, calendar=calendar, limits=limits, now=now))
        extra.update(level=changes["level"], assignee=changes["assignee"])
    if action == "duplicate":
        first = int(body["duplicate_of"])
        if first == event_id:
            raise InvalidInput("an event cannot duplicate itself")
        store.get_event(conn, first)
        changes["duplicate_of"] = first
    store.save_change(conn, event_id, changes, transition={
        "action": action, "from_status": step.from_status, "to_status": step.to_status, "actor": by, "role": role,
        "note": body.get("note") or body.get("reason"), "at": now, "data": {**_jsonable(data), **extra}})
    return view(store.get_event(conn, event_id), role=role, history=store.history(conn, event_id), now=now)


def _jsonable(data: Mapping) -> dict:
    return {k: v for k, v in data.items() if isinstance(v, (str, int, float, bool, type(None), list, dict))}


def _escalation(conn: Connection, row: Mapping, *, calendar: WorkCalendar, limits: Limits, now: datetime,
                staff_cache: dict | None = None) -> dict:
    level = routing.next_level(row["level"])
    if level is None:
        raise InvalidTransition("已在区级，无法再升级 — the event is already at the district level")
    cache = staff_cache if staff_cache is not None else {}

    def staff(kind: str, code: str | None) -> list[dict]:
        if (kind, code) not in cache:
            cache[(kind, code)] = _staff(conn, **{kind: code}) if code else []
        return cache[(kind, code)]

    person = routing.escalation_holder(level, community_staff=staff("community", row.get("community_code")),
                                       street_staff=staff("street", row.get("street_code")))
    return {"level": level, "assignee": person, "assignee_id": person.get("id"), "escalated_at": now,
            "escalations": row.get("escalations", 0) + 1,
            "due_at": calendar.add_working_days(now, limits.escalation_working_days), "warned_at": None}


# ---------------------------------------------------------------- the timer


#: States in which the time limit runs (the responsible person, or the dispatcher after a return, acts).
TIMED = (*lifecycle.WORKING, "returned")


def tick(conn: Connection, *, limits: Limits = Limits(), now: datetime | None = None) -> dict:
    """One pass of the timer over open events: a warning (预警) for each limit ending within
    ``warning_hours``, an escalation (升级) to the next level for each overdue one, all recorded."""
    now = now or now_utc()
    calendar = work_calendar(conn)
    due = store.open_due(conn, before=now + timedelta(hours=limits.warning_hours))
    warn, escalate, transitions, cache = [], [], [], {}
    for row in due:
        if row["status"] not in TIMED:
            continue
        if row["due_at"] <= now:
            if routing.next_level(row["level"]) is None:
                continue
            change = _escalation(conn, row, calendar=calendar, limits=limits, now=now, staff_cache=cache)
            escalate.append({"id": row["id"], "level": change["level"], "assignee": change["assignee"],
                             "assignee_id": change["assignee_id"], "due_at": change["due_at"], "at": now})
            transitions.append({"event_id": row["id"], "action": "escalate", "from_status": row["status"],
                                "to_status": row["status"], "actor": "timer", "role": "system", "at": now,
                                "note": f"超期自动升级：{routing.LEVEL_ZH[row['level']]} → "
                                        f"{routing.LEVEL_ZH[change['level']]} — overdue since "
                                        f"{row['due_at'].isoformat()}: escalated {row['level']} → {change['level']}",
                                "data": {"level": change["level"], "assignee": change["assignee"],
                                         "overdue_since": row["due_at"].isoformat(),
                                         "due_at": change["due_at"].isoformat()}})
        elif row["warned_at"] is None:
            warn.append(row["id"])
            transitions.append({"event_id": row["id"], "action": "warn", "from_status": row["status"],
                                "to_status": row["status"], "actor": "timer", "role": "system", "at": now,
                                "note": f"即将超期（{row['due_at'].isoformat()} 到期）— due soon",
                                "data": {"due_at": row["due_at"].isoformat()}})
    store.escalate_many(conn, escalate)
    store.warn_many(conn, warn, at=now)
    store.record_many(conn, transitions)
    return {"at": now.isoformat(), "checked": len(due), "warned": len(warn), "escalated": len(escalate),
            "escalated_ids": [e["id"] for e in escalate][:1000]}


# ---------------------------------------------------------------- statistics


def statistics(conn: Connection, *, start: datetime | None = None, end: datetime | None = None,
               by: str | None = None) -> dict:
    total, groups = store.stats(conn, start=start, end=end, by=by)
    out = {"from": _iso(start), "to": _iso(end), **rates(total)}
    if by is not None:
        out["by"] = [{"by": by, "key": g["key"], "name": g.get("name"), **rates(g)} for g in groups]
    return out


def totals(conn: Connection) -> dict:
    """The event totals ``/v1/stats`` carries."""
    total, _ = store.stats(conn)
    return rates(total)

