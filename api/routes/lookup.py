"""Coverage lookup: address or coordinate → grid, party branch, grid staff and officers.

The hot path answers from the in-process :class:`CoverageCache` without
touching the database: the public role needs no key check, and a
dispatcher's key is remembered for ``KEY_TTL`` seconds. The database is
visited at most once a second to see whether a new generation was
published, for ``at=`` dates before the current generation, and to build
the gazetteer.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime, time as dtime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.deps import ROLE_RANK, caller_role, coverage_source
from api.models import AmbiguousAnswer, ErrorBody, LookupAnswer
from gridmap.coverage.batch import BATCH_COLUMNS, parse_csv
from gridmap.interchange.text import BOM
from gridmap.errors import Forbidden, InvalidInput
from gridmap.services.coverage import Query as LookupQuery, lookup as coverage_lookup, lookup_rows

router = APIRouter(prefix="/v1", tags=["lookup"])
CHINA_TIME = timezone(timedelta(hours=8))
ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody} for s in (401, 403, 404, 422)
}
AMBIGUOUS: dict[int | str, dict[str, Any]] = {300: {
    "model": AmbiguousAnswer,
    "description": "The address names no single grid: a compound named alone that the plan splits over "
                   "several grids, or candidates lying in different grids. The body lists the grids with "
                   "their codes (and the compound's buildings in each) for the caller to choose; asking "
                   "again with the building (栋) or a coordinate gives one answer."}}


# ---------------------------------------------------------------- wiring


def parse_at(value: str | None) -> datetime | None:
    """A date (the end of that day, China time) or an ISO datetime (naive = China time)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day, dtime.max, tzinfo=CHINA_TIME)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"at={value!r} is not a date (YYYY-MM-DD) or ISO datetime") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=CHINA_TIME)
    if abs(moment.utcoffset()) > timedelta(hours=14):  # real offsets are -12:00 .. +14:00
        raise InvalidInput(f"at={value!r}: time-zone offset {moment.strftime('%z')} is out of range (-12:00..+14:00)")
    return moment


def _json(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status)


# ---------------------------------------------------------------- single lookups


@router.get("/lookup", response_model=LookupAnswer, responses={**ERRORS, **AMBIGUOUS})
async def lookup(
    request: Request,
    lon: Annotated[float | None, Query(description="longitude in `crs`")] = None,
    lat: Annotated[float | None, Query(description="latitude in `crs`")] = None,
    crs: Annotated[str | None, Query(description="CRS of lon/lat, required with them (422 without): wgs84, "
                                                 "cgcs2000, gcj02 (Amap/Tencent) or bd09 (Baidu)")] = None,
    address: Annotated[str | None, Query(description="free-text address (标准地址), Chinese")] = None,
    at: Annotated[str | None, Query(description="date (YYYY-MM-DD): answer from the generation current then")] = None,
) -> JSONResponse:
    """Who covers this point or address: grid, party chain, grid staff (1+5+N), enforcement officers per
    agency, nearest service points, and an edge warning with the neighbouring grids.

    The public sees phone numbers only where staff made them public; dispatchers see all. An address
    that names several grids (a split compound named alone) answers 300 with the grids to choose from.
    """
    role = await caller_role(request)
    query = LookupQuery(lon=lon, lat=lat, crs=crs, address=address, at=parse_at(at))
    source = coverage_source(request)
    if source.ready(query) is not None:  # in memory: answer on the event loop, no thread hop
        answer = coverage_lookup(source, query, role=role)
    else:
        answer = await run_in_threadpool(coverage_lookup, source, query, role=role)
    return _json({**answer, **source.cache.served_from()})  # served_from: cache while the database is away


# ---------------------------------------------------------------- batches


@router.post(
    "/lookup/batch",
    responses={**ERRORS, 200: {"description": "NDJSON (one BatchRow per line) or CSV",
                               "content": {"application/x-ndjson": {}, "text/csv": {}}}},
    openapi_extra={"requestBody": {"content": {
        "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        "text/csv": {"schema": {"type": "string"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary"}}}}}}},
)
async def lookup_batch(
    request: Request,
    format: Annotated[str | None, Query(pattern="^(ndjson|csv)$", description="answer format")] = None,
    at: Annotated[str | None, Query(description="date: answer from the generation current then")] = None,
) -> StreamingResponse:
    """Look up many rows ({id, lon, lat, crs} or {id, address}) as a JSON list or a CSV upload
    (columns id, lon, lat, crs, address); answers stream back in order, one bad row giving one
    error row. Needs the dispatcher role. Up to ``max_batch_rows`` rows.
    """
    role = await caller_role(request)
    if ROLE_RANK[role] < ROLE_RANK["dispatcher"]:
        raise Forbidden(f"batch lookup needs the dispatcher role; you are {role}")
    rows = await _read_rows(request)
    limit = request.app.state.settings.max_batch_rows
    if len(rows) > limit:
        raise InvalidInput(f"batch has {len(rows)} rows; at most {limit} allowed (settings.max_batch_rows)")
    lines = await run_in_threadpool(lookup_rows, coverage_source(request), rows, at=parse_at(at), role=role)
    as_csv = format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))
    offline = coverage_source(request).cache.served_from()
    headers = {"X-Served-From": "cache", "X-Cache-Generation": str(offline["cache_generation"])} if offline else None
    if as_csv:
        return StreamingResponse(_csv_lines(lines), media_type="text/csv; charset=utf-8", headers=headers)
    return StreamingResponse((json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in lines),
                             media_type="application/x-ndjson", headers=headers)


def _csv_lines(rows: Iterator[dict]) -> Iterator[str]:
    yield BOM  # UTF-8 with BOM: Excel shows the Chinese columns correctly
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(BATCH_COLUMNS), extrasaction="ignore")
    writer.writeheader()
    for k, row in enumerate(rows, 1):
        writer.writerow(row)
        if k % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


async def _read_rows(request: Request) -> list:
    """Batch rows from a JSON list, a CSV body or a multipart CSV upload."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("multipart upload needs a CSV file in the field 'file'")
        return parse_csv(await upload.read())
    body = await request.body()
    if kind in ("text/csv", "application/csv", "text/plain"):
        return parse_csv(body)
    try:
        rows = json.loads(body, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"body is not JSON ({exc}); send a JSON list or a CSV (Content-Type: text/csv)") from None
    if isinstance(rows, dict) and isinstance(rows.get("rows"), list):
        rows = rows["rows"]
    if not isinstance(rows, list):
        raise InvalidInput(f"body must be a JSON list of rows, not {type(rows).__name__}")
    return rows


def _not_json(word: str) -> Any:
    raise ValueError(f"{word} is not a JSON number")
