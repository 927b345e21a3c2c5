"""Small rules of events written once: duplicates, warnings, the statistics' rates, Open311 statuses."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta

from gridmap.events.lifecycle import CLOSED, STATUS_ZH

#: An open event of the same category this near and this recent is a duplicate (defaults of Settings).
DUPLICATE_DISTANCE_M = 50.0
DUPLICATE_WINDOW_H = 72.0
CHANNELS = ("hotline", "grid_worker", "app", "open311", "import")
STATS_BY = ("grid", "community", "street", "category", "month")


def is_duplicate(first: Mapping, second: Mapping, *, distance_m: float, metres: float = DUPLICATE_DISTANCE_M,
                 hours: float = DUPLICATE_WINDOW_H) -> bool:
    """Whether ``second`` repeats ``first`` (same category, ``distance_m`` apart, within the window)."""
    if first["category"] != second["category"] or first["status"] in (*CLOSED, "duplicate"):
        return False
    gap = abs(second["reported_at"] - first["reported_at"])
    return distance_m <= metres and gap <= timedelta(hours=hours)


def should_warn(due_at: datetime | None, now: datetime, *, warn_hours: float) -> bool:
    """A warning (预警) is due when the limit ends within ``warn_hours`` and has not passed."""
    return due_at is not None and now < due_at <= now + timedelta(hours=warn_hours)


def rates(row: Mapping) -> dict:
    """The reports' own terms from counts: 办结率 closed/total, 按期办结率 on time/closed."""
    total, closed, on_time = int(row.get("total") or 0), int(row.get("closed") or 0), int(row.get("on_time") or 0)
    median = row.get("median_hours_to_close")
    satisfaction = row.get("satisfaction")
    return {
        "total": total,
        "closed": closed,
        "closure_rate": round(closed / total, 4) if total else None,
        "on_time": on_time,
        "on_time_rate": round(on_time / closed, 4) if closed else None,
        "overdue": int(row.get("overdue") or 0),
        "open": total - closed - int(row.get("duplicates") or 0),
        "duplicates": int(row.get("duplicates") or 0),
        "escalated": int(row.get("escalated") or 0),
        "reopened": int(row.get("reopened") or 0),
        "median_hours_to_close": None if median is None or not math.isfinite(float(median))
        else round(float(median), 2),
        "satisfaction": None if satisfaction is None else round(float(satisfaction), 2),
        "callbacks": int(row.get("callbacks") or 0),
    }


def open311_status(status: str) -> str:
    """GeoReport v2 knows two statuses: closed (办结, 回访, 重复) and open (everything else)."""
    return "closed" if status in (*CLOSED, "duplicate") else "open"


def status_note(event: Mapping) -> str:
    note = f"{STATUS_ZH.get(event['status'], event['status'])} ({event['status']})"
    if event.get("duplicate_of"):
        note += f"; duplicate of {event['duplicate_of']}"
    if event.get("overdue"):
        note += "; 已超期 overdue"
    return note
