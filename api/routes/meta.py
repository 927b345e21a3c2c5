"""Health and plans."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.deps import ConnDep, require
from api.pool import health_check
from gridmap.storage import plans
from gridmap.storage.db import ping

router = APIRouter(prefix="/v1", tags=["meta"])


def _status(conn) -> dict:
    ping(conn)
    return {"status": "ok", "current_plan": plans.current_plan(conn)}


@router.get("/health", responses={503: {"description": "the database is unavailable (lookups may still be "
                                                       "answered from memory)"}})
async def health(request: Request) -> dict:
    """Database reachable and the current plan. Uses its own connection and threads (never the request
    pool), so it answers within ~1.5 s even when the server is saturated or the database is away."""
    try:
        return await health_check(request, _status)
    except Exception as exc:  # noqa: BLE001 — any failure of the check means "not healthy"
        cache = getattr(request.app.state, "coverage", None)
        generation = cache.index.data.generation.get("id") if cache is not None and cache.index else None
        return JSONResponse({"error": "database_unavailable", "status": "degraded",
                             "detail": f"数据库不可用 (the database is unavailable: {type(exc).__name__})",
                             "lookups_from_cache": generation is not None, "generation": generation,
                             "request_id": getattr(request.state, "request_id", None)},
                            status_code=503, headers={"Retry-After": "5"})


@router.get("/plans", dependencies=[Depends(require("planner"))])
def list_plans(conn: ConnDep) -> list[dict]:
    """Plans with their status and the period each was current (planner role)."""
    return plans.list_plans(conn)
