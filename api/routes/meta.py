"""Health and plans."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import ConnDep, require
from gridmap.storage import plans
from gridmap.storage.db import ping

router = APIRouter(prefix="/v1", tags=["meta"])


@router.get("/health")
def health(conn: ConnDep) -> dict:
    """Database reachable and the current generation."""
    ping(conn)
    return {"status": "ok", "current_plan": plans.current_plan(conn)}


@router.get("/plans", dependencies=[Depends(require("planner"))])
def list_plans(conn: ConnDep) -> list[dict]:
    """Plans with their status and the period each was current (planner role)."""
    return plans.list_plans(conn)
