"""Batch lookup (批量查询): many rows of coordinates or addresses answered in order, errors by row."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridmap.coverage.address import Resolved, resolve_address
from gridmap.coverage.answer import place
from gridmap.coverage.index import CoverageIndex
from gridmap.errors import AmbiguousLocation, GridmapError, InvalidInput, NotFound, OutOfRange

BATCH_COLUMNS = ("row", "id", "method", "confidence", "lon", "lat", "address", "grid_code", "grid_name",
                 "community_code", "community_name", "street_code", "street_name", "edge", "error", "detail")


@dataclass
class _Pending:
    row: int
    id: Any
    lon: float
    lat: float
    method: str = "coordinate"
    confidence: float = 1.0
    address: str | None = None


def batch_answers(index: CoverageIndex, rows: Sequence[Any], addresses: Any) -> list[dict]:
    """Answer a chunk of batch rows ({id, lon, lat, crs} or {id, address}) in order.

    ``addresses`` is a callable returning the AddressBook, called only if a
    row has an address. A bad row becomes an error row; it never stops the batch.
    """
    out: list[dict | None] = [None] * len(rows)
    pending: list[_Pending] = []
    coords: dict[str, list[tuple[int, Any, float, float]]] = {}
    for i, raw in enumerate(rows):
        try:
            kind, rid, values = parse_batch_row(raw)
            if kind == "address":
                pending.append(_resolved_row(i, rid, place(index, resolve_address(addresses(), values))))
            else:
                coords.setdefault(values[2], []).append((i, rid, values[0], values[1]))
        except (InvalidInput, NotFound, AmbiguousLocation) as exc:
            out[i] = error_row(i, _row_id(raw), exc)
    for crs, items in coords.items():
        pending.extend(_converted(items, crs, out))
    _locate_pending(index, pending, out)
    return [r for r in out if r is not None]


def parse_batch_row(raw: Any) -> tuple[str, Any, Any]:
    """('address', id, text) or ('coordinate', id, (lon, lat, crs)); InvalidInput names what is wrong."""
    if not isinstance(raw, dict):
        raise InvalidInput(f"a row must be an object with id and lon/lat/crs or address, not {type(raw).__name__}")
    rid = _row_id(raw)
    if rid is None:
        raise InvalidInput("row has no id")
    address = raw.get("address")
    if isinstance(address, str) and address.strip():
        return "address", rid, address
    lon, lat, crs = raw.get("lon"), raw.get("lat"), raw.get("crs")
    if _blank(lon) and _blank(lat):
        raise InvalidInput("row has neither an address nor lon/lat")
    if _blank(crs):
        raise InvalidInput("row has lon/lat but no crs (wgs84, cgcs2000, gcj02 or bd09)")
    return "coordinate", rid, (_number(lon, "lon"), _number(lat, "lat"), str(crs))


def _row_id(raw: Any) -> Any:
    if not isinstance(raw, dict):
        return None
    rid = raw.get("id")
    return None if _blank(rid) else rid


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or \
        (isinstance(value, float) and math.isnan(value))


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise InvalidInput(f"{name} {value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} {value!r} is not a number") from None
    return number


def _resolved_row(i: int, rid: Any, resolved: Resolved) -> _Pending:
    loc = resolved.location
    return _Pending(i, rid, loc["lon"], loc["lat"], loc["method"], loc["confidence"], loc["address"])


def _converted(items: list[tuple[int, Any, float, float]], crs: str, out: list) -> list[_Pending]:
    """Convert one CRS's rows to CGCS2000 together; rows that fail get their own error."""
    from gridmap.crs import parse_crs, to_cgcs2000

    try:
        name = parse_crs(crs)
    except InvalidInput as exc:
        for i, rid, _, _ in items:
            out[i] = error_row(i, rid, exc)
        return []
    lon = np.array([t[2] for t in items])
    lat = np.array([t[3] for t in items])
    ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    for k in np.flatnonzero(~ok):
        i, rid, x, y = items[k]
        out[i] = error_row(i, rid, OutOfRange(f"coordinate ({x}, {y}) is not a finite lon in -180..180 "
                                              "and lat in -90..90"))
    good = np.flatnonzero(ok)
    try:
        x, y = to_cgcs2000(lon[good], lat[good], name)
    except InvalidInput as exc:
        for k in good:
            out[items[k][0]] = error_row(items[k][0], items[k][1], exc)
        return []
    return [_Pending(items[k][0], items[k][1], float(x[j]), float(y[j])) for j, k in enumerate(good)]


def _locate_pending(index: CoverageIndex, pending: list[_Pending], out: list) -> None:
    if not pending:
        return
    lon = np.array([p.lon for p in pending])
    lat = np.array([p.lat for p in pending])
    batch = index.locate_many(lon, lat)
    x0, y0, x1, y1 = index.service_area
    inside = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
    summaries = index.summaries()
    for k, p in enumerate(pending):
        g = int(batch.grid[k])
        if g >= 0:
            out[p.row] = {"row": p.row + 1, "id": p.id, "method": p.method, "confidence": p.confidence,
                          "lon": round(p.lon, 7), "lat": round(p.lat, 7), "address": p.address,
                          **summaries[g], "edge": bool(batch.edge[k]), "error": None, "detail": None}
            continue
        try:
            if not inside[k]:
                index.check_service_area(p.lon, p.lat)
            index.locate(p.lon, p.lat)
        except (InvalidInput, NotFound) as exc:
            out[p.row] = error_row(p.row, p.id, exc)


def error_row(i: int, rid: Any, exc: GridmapError) -> dict:
    """A batch row that failed: its error code and a detail naming the problem (and the nearest grid,
    or the grids an ambiguous address names)."""
    row = {"row": i + 1, "id": rid, "error": exc.code, "detail": exc.detail}
    nearest = getattr(exc, "nearest", None)
    if nearest:
        row["nearest"] = nearest
    choices = getattr(exc, "choices", None)
    if choices:
        row["grids"] = [{"code": g["code"], "name": g["name"]} for g in choices["grids"]]
    return row


def parse_csv(data: bytes | str) -> list[dict]:
    """Batch rows of a CSV whose header names id and lon, lat, crs and/or address."""
    import csv
    import io

    from gridmap.interchange.text import decode_csv

    content = decode_csv(data)  # UTF-8 (BOM or not) or GBK/GB18030, as Excel saves it
    reader = csv.DictReader(io.StringIO(content))
    try:
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        if "id" not in header or not ({"lon", "lat"} <= set(header) or "address" in header):
            raise InvalidInput(f"CSV header {header} must have id and lon, lat, crs and/or address")
        reader.fieldnames = header
        return [{k: (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k} for row in reader]
    except csv.Error as exc:  # a field over csv.field_size_limit(), a NUL, a broken quote
        raise InvalidInput(f"CSV line {reader.line_num}: {exc}") from None
