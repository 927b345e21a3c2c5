"""Events in PostGIS: the catalogue versions, the calendar, events, their transitions and statistics.

The only SQL of events. A change to an event is two calls in one transaction: :func:`lock_event`
(``SELECT … FOR UPDATE`` and the If-Match comparison under that lock, so two changes made from one
ETag give one success and one 412) and :func:`save_change` (the new fields, ``version + 1`` and the
transition row, append-only).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from sqlalchemy import Connection, func, insert, select, text, update

from gridmap.domain import STORAGE_EPSG
from gridmap.errors import InvalidInput, NotFound
from gridmap.storage.query import execute_values_sql, jsonb, rows
from gridmap.storage.schema import event, event_catalogue, event_category, event_transition, work_calendar
from gridmap.versions import check_version

FINAL = ("closed", "visited", "duplicate")
CLOSED = ("closed", "visited")
#: Columns of an event as the services read it (geometry as lon/lat).
_COLUMNS = [c for c in event.c if c.name != "geom"]


# ---------------------------------------------------------------- catalogue and calendar


def catalogue(conn: Connection, version: int | None = None) -> tuple[int, list[dict]]:
    """A catalogue version (default the current, the highest) and its categories by code."""
    if version is None:
        version = conn.execute(select(func.max(event_catalogue.c.version))).scalar()
        if version is None:
            raise NotFound("派单目录为空 — no dispatch catalogue; run `gridmap db up` (migration 0017 seeds one)")
    found = rows(conn, select(event_category).where(event_category.c.version == version)
                 .order_by(event_category.c.code))
    if not found:
        raise NotFound(f"派单目录第 {version} 版不存在 — catalogue version {version} does not exist")
    return int(version), found


def save_catalogue(conn: Connection, categories: Sequence[dict], *, created_by: str | None = None,
                   note: str | None = None) -> int:
    """A new catalogue version with ``categories`` (code, name, role, agency, limit_working_days)."""
    conn.execute(text("LOCK TABLE event_catalogue IN EXCLUSIVE MODE"))
    version = int(conn.execute(select(func.coalesce(func.max(event_catalogue.c.version), 0))).scalar()) + 1
    conn.execute(insert(event_catalogue).values(version=version, created_by=created_by, note=note))
    conn.execute(insert(event_category), [{**c, "version": version} for c in categories])
    return version


def calendar_days(conn: Connection) -> list[tuple[date, str, str | None]]:
    return [(r.day, r.kind, r.name) for r in conn.execute(select(work_calendar).order_by(work_calendar.c.day))]


def set_calendar_day(conn: Connection, day: date, kind: str | None, name: str | None = None) -> None:
    """Mark a day holiday or workday (``kind`` None: back to its weekday)."""
    conn.execute(work_calendar.delete().where(work_calendar.c.day == day))
    if kind is not None:
        conn.execute(insert(work_calendar).values(day=day, kind=kind, name=name))


# ---------------------------------------------------------------- staff for routing


def level_staff(conn: Connection, *, community_code: str | None = None, street_code: str | None = None) -> list[dict]:
    """The staff of a community (its roster), or of a street's own pool (no community)."""
    if community_code is not None:
        sql = "SELECT id, name, role, agency FROM staff WHERE community_code = :c ORDER BY id"
        return rows(conn, text(sql).bindparams(c=community_code))
    sql = "SELECT id, name, role, agency FROM staff WHERE street_code = :s AND community_code IS NULL ORDER BY id"
    return rows(conn, text(sql).bindparams(s=street_code))


def staff_person(conn: Connection, staff_id: str) -> dict:
    found = rows(conn, text("SELECT id, name, role, agency FROM staff WHERE id = :i").bindparams(i=staff_id))
    if not found:
        raise NotFound(f"人员 {staff_id} 不存在 — no staff member {staff_id}")
    return found[0]


# ---------------------------------------------------------------- events


def find_duplicate(conn: Connection, *, category: str, lon: float, lat: float, at: datetime, metres: float,
                   hours: float) -> int | None:
    """The open event of ``category`` nearest the point within ``metres`` and ``hours`` before ``at``
    (the first report, itself not a duplicate), locked; None if there is none."""
    sql = text(f"""
        SELECT id FROM event
        WHERE category = :cat AND status NOT IN ('closed', 'visited', 'duplicate')
          AND reported_at BETWEEN :at - make_interval(secs => :secs) AND :at + make_interval(secs => :secs)
          AND geom && ST_Expand(ST_SetSRID(ST_MakePoint(:lon, :lat), {STORAGE_EPSG}), :deg)
          AND ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), {STORAGE_EPSG})::geography, :m)
        ORDER BY ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), {STORAGE_EPSG})::geography), id
        LIMIT 1 FOR UPDATE""")
    found = conn.execute(sql, {"cat": category, "at": at, "secs": hours * 3600.0, "lon": lon, "lat": lat,
                               "deg": metres / 90_000.0, "m": metres}).scalar()
    return None if found is None else int(found)


def insert_event(conn: Connection, values: dict, *, lon: float, lat: float) -> int:
    """A new event row; returns its id."""
    values = {k: (jsonb(v) if k in ("location", "reporters", "photos", "assignee", "attrs") and v is not None else v)
              for k, v in values.items()}
    values["geom"] = func.ST_SetSRID(func.ST_MakePoint(lon, lat), STORAGE_EPSG)
    return int(conn.execute(insert(event).values(**values).returning(event.c.id)).scalar())


def insert_events(conn: Connection, records: Sequence[dict]) -> list[int]:
    """Many events at once (imports, the benchmark): each record has the event's columns plus lon, lat."""
    if not records:
        return []
    cols = [c for c in records[0] if c not in ("lon", "lat")]
    json_cols = {"location", "reporters", "photos", "assignee", "attrs"}
    names = ", ".join(event.c[c].name for c in cols)
    template = "(" + ", ".join(f"%({c})s::jsonb" if c in json_cols else f"%({c})s" for c in cols) \
        + f", ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), {STORAGE_EPSG}))"
    values = [{**r, **{c: json.dumps(r[c], ensure_ascii=False, default=str) for c in json_cols if c in r}}
              for r in records]
    out = execute_values_sql(conn, f"INSERT INTO event ({names}, geom) VALUES %s RETURNING id", values,
                             template=template, fetch=True)
    return [int(r[0]) for r in out]


def record(conn: Connection, event_id: int, *, action: str, from_status: str | None, to_status: str,
           actor: str | None = None, role: str | None = None, note: str | None = None, data: dict | None = None,
           at: datetime | None = None) -> None:
    """Append one transition."""
    values = {"event_id": event_id, "action": action, "from_status": from_status, "to_status": to_status,
              "actor": actor, "role": role, "note": note, "data": jsonb(data or {})}
    if at is not None:
        values["at"] = at
    conn.execute(insert(event_transition).values(**values))


def record_many(conn: Connection, records: Sequence[dict]) -> None:
    if not records:
        return
    values = [{"actor": None, "role": None, "note": None, **r, "data": json.dumps(r.get("data") or {},
                                                                                     ensure_ascii=False, default=str)}
              for r in records]
    execute_values_sql(conn, "INSERT INTO event_transition (event_id, action, from_status, to_status, actor, role, "
                       "note, data, at) VALUES %s", values,
                       template="(%(event_id)s, %(action)s, %(from_status)s, %(to_status)s, %(actor)s, %(role)s, "
                                "%(note)s, %(data)s::jsonb, %(at)s)")


def _select():
    return select(*_COLUMNS, func.ST_X(event.c.geom).label("lon"), func.ST_Y(event.c.geom).label("lat"),
                  (event.c.due_at < func.now()).label("past_due"))


def get_event(conn: Connection, event_id: int) -> dict:
    found = rows(conn, _select().where(event.c.id == event_id))
    if not found:
        raise NotFound(f"事件 {event_id} 不存在 — no event {event_id}")
    return found[0]


def lock_event(conn: Connection, event_id: int, *, expected_version: int | None) -> dict:
    """The event locked for a change (FOR UPDATE); StaleVersion (412) when ``expected_version`` is not its version."""
    found = rows(conn, _select().where(event.c.id == event_id).with_for_update(of=event))
    if not found:
        raise NotFound(f"事件 {event_id} 不存在 — no event {event_id}")
    check_version(expected_version, found[0]["version"], kind="event")
    return found[0]


def save_change(conn: Connection, event_id: int, changes: dict, *, transition: dict) -> int:
    """Write ``changes`` to a locked event, bump its version and append ``transition``; the new version."""
    values = {k: (jsonb(v) if k in ("assignee", "reporters", "attrs") and v is not None else v)
              for k, v in changes.items()}
    version = conn.execute(update(event).where(event.c.id == event_id)
                           .values(**values, version=event.c.version + 1).returning(event.c.version)).scalar()
    record(conn, event_id, **transition)
    return int(version)


def add_reporter(conn: Connection, event_id: int, reporter: dict) -> None:
    """Keep a duplicate's reporter on the first event, for the callback."""
    conn.execute(text("UPDATE event SET reporters = reporters || CAST(:r AS jsonb) WHERE id = :i"),
                 {"r": json.dumps([reporter], ensure_ascii=False, default=str), "i": event_id})


def history(conn: Connection, event_id: int) -> list[dict]:
    return rows(conn, select(event_transition).where(event_transition.c.event_id == event_id)
                .order_by(event_transition.c.id))


def list_events(conn: Connection, *, status: str | None = None, grid: str | None = None,
                community: str | None = None, overdue: bool | None = None, limit: int = 100,
                after: int | None = None) -> list[dict]:
    """Events newest first (by id), filtered; ``after`` is the cursor (the last id of the previous page)."""
    q = _select()
    if status is not None:
        q = q.where(event.c.status.in_(status.split(",")))
    if grid is not None:
        q = q.where(event.c.grid_code == grid)
    if community is not None:
        q = q.where(event.c.community_code == community)
    if overdue is not None:
        late = (event.c.due_at < func.now()) & event.c.status.not_in(FINAL)
        q = q.where(late if overdue else ~late | event.c.due_at.is_(None))
    if after is not None:
        q = q.where(event.c.id < after)
    return rows(conn, q.order_by(event.c.id.desc()).limit(limit))


def open_due(conn: Connection, *, before: datetime, limit: int = 100_000) -> list[dict]:
    """Open events whose limit ends before ``before`` (for the timer: warnings and escalations)."""
    q = (select(event.c.id, event.c.version, event.c.status, event.c.level, event.c.due_at, event.c.warned_at,
                event.c.community_code, event.c.street_code, event.c.escalated_at)
         .where(event.c.status.not_in(FINAL), event.c.due_at < before).order_by(event.c.due_at).limit(limit))
    return rows(conn, q)


def escalate_many(conn: Connection, changes: Sequence[dict]) -> None:
    """The timer's escalations in one statement per page (id, level, assignee, assignee_id, due_at)."""
    if not changes:
        return
    values = [{**c, "assignee": json.dumps(c["assignee"], ensure_ascii=False)} for c in changes]
    execute_values_sql(conn, """UPDATE event e SET level = v.level, assignee = v.assignee::jsonb,
            assignee_id = v.assignee_id, due_at = v.due_at::timestamptz, escalated_at = v.at::timestamptz,
            escalations = e.escalations + 1, warned_at = NULL, version = e.version + 1
        FROM (VALUES %s) AS v (id, level, assignee, assignee_id, due_at, at) WHERE e.id = v.id""", values,
                       template="(%(id)s, %(level)s, %(assignee)s, %(assignee_id)s, %(due_at)s, %(at)s)")


def warn_many(conn: Connection, ids: Sequence[int], *, at: datetime) -> None:
    if ids:
        conn.execute(text("UPDATE event SET warned_at = :at, version = version + 1 WHERE id = ANY(:ids)"),
                     {"at": at, "ids": list(ids)})


# ---------------------------------------------------------------- statistics

_GROUPS = {
    "grid": "e.grid_code",
    "community": "e.community_code",
    "street": "e.street_code",
    "category": "e.category",
    "month": "to_char(e.reported_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')",
}
_NAMES = {
    "grid": "(SELECT g.name FROM grid g WHERE g.code = e.grid_code AND g.plan = e.plan)",
    "community": "(SELECT c.name FROM community c WHERE c.code = e.community_code)",
    "street": "(SELECT s.name FROM street s WHERE s.code = e.street_code)",
    "category": "(SELECT ct.name FROM event_category ct WHERE ct.code = e.category AND ct.version = e.catalogue_version)",
}


def stats(conn: Connection, *, start: datetime | None = None, end: datetime | None = None,
          by: str | None = None) -> tuple[dict, list[dict]]:
    """Counts over events reported in [start, end): the totals and, with ``by``, one row per group."""
    measures = """count(*) AS total,
        count(*) FILTER (WHERE e.status IN ('closed', 'visited')) AS closed,
        count(*) FILTER (WHERE e.status IN ('closed', 'visited') AND e.closed_on_time) AS on_time,
        count(*) FILTER (WHERE e.status NOT IN ('closed', 'visited', 'duplicate') AND e.due_at < now()) AS overdue,
        count(*) FILTER (WHERE e.status = 'duplicate') AS duplicates,
        count(*) FILTER (WHERE e.escalations > 0) AS escalated,
        count(*) FILTER (WHERE e.reopened > 0) AS reopened,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM e.closed_at - e.reported_at) / 3600.0)
            FILTER (WHERE e.status IN ('closed', 'visited')) AS median_hours_to_close,
        avg(e.satisfaction) AS satisfaction,
        count(e.satisfaction) AS callbacks"""
    where, params = ["true"], {}
    if start is not None:
        where.append("e.reported_at >= :start")
        params["start"] = start
    if end is not None:
        where.append("e.reported_at < :end")
        params["end"] = end
    cond = " AND ".join(where)
    total = dict(conn.execute(text(f"SELECT {measures} FROM event e WHERE {cond}"), params).mappings().one())
    if by is None:
        return total, []
    if by not in _GROUPS:
        raise InvalidInput(f"by={by!r}: one of {', '.join(_GROUPS)}")
    key = _GROUPS[by]
    name = _NAMES.get(by, "NULL")
    sql = f"""SELECT k.key, {name.replace('e.', 'k.') if by != 'month' else 'NULL'} AS name, k.*
              FROM (SELECT {key} AS key, min(e.plan) AS plan, min(e.catalogue_version) AS catalogue_version,
                           min(e.grid_code) AS grid_code, min(e.community_code) AS community_code,
                           min(e.street_code) AS street_code, min(e.category) AS category, {measures}
                    FROM event e WHERE {cond} GROUP BY 1) k ORDER BY k.key"""
    groups = [dict(r) for r in conn.execute(text(sql), params).mappings()]
    return total, groups


def counts_by_grid(conn: Connection) -> list[dict]:
    """Open and overdue events per grid (the dispatcher map)."""
    return rows(conn, text("""SELECT grid_code, count(*) AS total,
            count(*) FILTER (WHERE status NOT IN ('closed', 'visited', 'duplicate')) AS open,
            count(*) FILTER (WHERE status NOT IN ('closed', 'visited', 'duplicate') AND due_at < now()) AS overdue
        FROM event WHERE grid_code IS NOT NULL GROUP BY grid_code ORDER BY grid_code"""))


def export_rows(conn: Connection, ids: Iterable[int] | None = None) -> list[dict]:
    q = _select().order_by(event.c.id)
    return rows(conn, q)


def source_ids_taken(conn: Connection, source_ids: Sequence[str]) -> set[str]:
    if not source_ids:
        return set()
    return set(conn.execute(select(event.c.source_id).where(event.c.source_id.in_(list(source_ids)))).scalars())
