"""Bulk events: historical imports (all or nothing, errors by row), exports, the catalogue as CSV.

Import CSV columns: ``source_id`` (the old system's id, unique), ``category``, ``description``, ``lon``,
``lat``, ``crs``, ``reported_at`` (ISO), ``status`` (any state; default closed), ``closed_at``,
``satisfaction`` (optional), ``channel`` (default import). Each row is routed to the current grid of
its point through the coverage service (and to the grid's own person of the catalogue's role or
agency, no fallback search) and gets its due time from the calendar.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from sqlalchemy import Connection

from gridmap.errors import GridmapError, InvalidInput
from gridmap.events import catalogue as cat_rules
from gridmap.events import lifecycle, routing
from gridmap.events.calendar import CST
from gridmap.interchange.text import decode_csv
from gridmap.services import events as service
from gridmap.services.coverage import CoverageCache, Cached, Query, lookup
from gridmap.storage import events as store

IMPORT_COLUMNS = ("source_id", "category", "description", "lon", "lat", "crs", "reported_at")
EXPORT_COLUMNS = ("id", "source_id", "category", "description", "channel", "status", "level", "lon", "lat",
                  "grid_code", "community_code", "street_code", "assignee_id", "assignee_name", "fallback",
                  "reported_at", "dispatched_at", "due_at", "closed_at", "closed_on_time", "satisfaction",
                  "duplicate_of", "escalations", "reopened")
MAX_ERRORS = 50


def export_catalogue(conn: Connection) -> str:
    _, found = store.catalogue(conn)
    return cat_rules.write_csv([cat_rules.from_row(r) for r in found])


def import_catalogue_csv(conn: Connection, data: bytes, *, source: str, note: str | None = None) -> int:
    return service.import_catalogue(conn, cat_rules.read_csv(decode_csv(data, source=source)),
                                    created_by="cli", note=note or f"imported from {source}")


def _time(value: str | None, what: str) -> datetime | None:
    if value is None or not str(value).strip():
        return None
    try:
        t = datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{what} {value!r} is not an ISO date-time") from None
    return t if t.tzinfo else t.replace(tzinfo=CST)


def import_events(conn: Connection, data: bytes, *, source: str) -> int:
    """Every row imported, or none (InvalidInput listing the bad rows)."""
    reader = csv.DictReader(io.StringIO(decode_csv(data, source=source)))
    missing = [c for c in IMPORT_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(f"{source}: 缺少列 missing columns {', '.join(missing)}")
    version, found = store.catalogue(conn)
    cats = {r["code"]: cat_rules.from_row(r) for r in found}
    calendar = service.work_calendar(conn)
    source_cov = Cached(CoverageCache(), _opener(conn))
    records, transitions, errors, ids = [], [], [], set()
    for n, row in enumerate(reader, start=2):
        try:
            records.append(_record(row, cats=cats, version=version, calendar=calendar, source=source_cov,
                                   conn=conn))
            if row["source_id"] in ids:
                raise InvalidInput(f"source_id {row['source_id']} appears twice")
            ids.add(row["source_id"])
        except GridmapError as exc:
            errors.append(f"row {n}: {exc.detail}")
    taken = store.source_ids_taken(conn, sorted(ids))
    errors += [f"source_id {s} was imported before" for s in sorted(taken)]
    if errors:
        more = f" (and {len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
        raise InvalidInput(f"{source}: nothing imported; " + "; ".join(errors[:MAX_ERRORS]) + more)
    new_ids = store.insert_events(conn, records)
    for event_id, rec in zip(new_ids, records):
        transitions.append({"event_id": event_id, "action": "report", "from_status": None, "to_status": rec["status"],
                            "actor": "import", "role": "system", "at": rec["reported_at"],
                            "note": f"历史事件导入 imported from {source}", "data": {"source_id": rec["source_id"]}})
    store.record_many(conn, transitions)
    return len(new_ids)


def _opener(conn: Connection):
    from contextlib import nullcontext

    return lambda: nullcontext(conn)


def _record(row: dict, *, cats, version, calendar, source, conn) -> dict:
    code = (row.get("category") or "").strip()
    if code not in cats:
        raise InvalidInput(f"unknown category {code!r}")
    cat = cats[code]
    reported = _time(row.get("reported_at"), "reported_at")
    if reported is None:
        raise InvalidInput("reported_at is required")
    status = (row.get("status") or "closed").strip()
    if status not in lifecycle.STATUSES:
        raise InvalidInput(f"status {status!r}: one of {', '.join(lifecycle.STATUSES)}")
    try:
        lon, lat = float(row["lon"]), float(row["lat"])
    except (TypeError, ValueError):
        raise InvalidInput("lon and lat must be numbers") from None
    answer = lookup(source, Query(lon=lon, lat=lat, crs=(row.get("crs") or "").strip() or None), role="admin")
    routed = routing.route(answer, cat, community_staff=[], street_staff=[])
    due = calendar.add_working_days(reported, cat.limit_working_days)
    closed = _time(row.get("closed_at"), "closed_at")
    if status in lifecycle.CLOSED and closed is None:
        raise InvalidInput("closed_at is required for a closed event")
    satisfaction = (row.get("satisfaction") or "").strip()
    return {"source_id": row["source_id"], "category": code, "catalogue_version": version,
            "description": (row.get("description") or "").strip() or cat.name,
            "channel": (row.get("channel") or "import").strip(), "status": status,
            "location": {"input": {"lon": lon, "lat": lat, "crs": row.get("crs")}}, "reporters": [], "photos": [],
            "reported_at": reported, "dispatched_at": reported, "due_at": due, "closed_at": closed,
            "closed_on_time": None if closed is None else closed <= due,
            "satisfaction": int(satisfaction) if satisfaction else None,
            "plan": answer["grid"]["plan"], "grid_code": answer["grid"]["code"],
            "community_code": (answer.get("community") or {}).get("code"),
            "street_code": (answer.get("street") or {}).get("code"),
            "compound_id": (answer.get("compound") or {}).get("id"),
            "assignee": routed.assignee, "assignee_id": (routed.assignee or {}).get("id"), "fallback": routed.fallback,
            "lon": float(answer["location"]["lon"]), "lat": float(answer["location"]["lat"])}


def export_events(conn: Connection) -> tuple[str, int]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    found = store.export_rows(conn)
    for r in found:
        person = r.get("assignee") or {}
        values = {**r, "assignee_name": person.get("name")}
        writer.writerow(["" if values.get(c) is None else (values[c].isoformat() if isinstance(values[c], datetime)
                                                            else values[c]) for c in EXPORT_COLUMNS])
    return buf.getvalue(), len(found)
